#!/usr/bin/env bash
# The MoE-I chain on the demo restoration set (`make moe-i`), after the
# dense-unified model and the three experts of `make demo-restoration`:
#   1. utility labels of the train and val splits (resumable)
#   2. routers: global at beta 20 / 50 / 80, local (ablation A)
#   3. choice of beta by validation, calibration (T, tau) on the val split
#   4. MoE-I evaluation on the test split in every mode, routing overhead
#      at 1K and 4K on the demo's 4K scene
#   5. the report: tables, success bars, pictures
# Everything goes under $WORK_DIR. Settings (environment variables):
#   PYTHON         interpreter (default: python)
#   WORK_DIR       output folder (default: work_dirs/moe_i_demo)
#   S3_DIR         work dir of `make demo-restoration`, holding
#                  dense_unified_demo/ and expert_<task>_demo/ (default:
#                  work_dirs/s3_demo/seed_0)
#   DATA_ROOT      restoration data set (default: the configs')
#   RESTORER_OPTS  --cfg-options of the restorer configs
#   ROUTER_OPTS    --cfg-options of the router configs
#   TILING         extra tilings of the evaluation (ablation G)
#   LATENCY_IMAGE  the large image of the routing-overhead timing ("" skips)
#   EVAL_OPTS      more options of tools/moe_i_eval.py (default: one timed
#                  call of each kind per latency shape, after the test
#                  split has warmed the process up)
#   OMP_NUM_THREADS  CPU threads (default 2)
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

PYTHON=${PYTHON:-python}
WORK_DIR=${WORK_DIR:-work_dirs/moe_i_demo}
S3_DIR=${S3_DIR:-work_dirs/s3_demo/seed_0}
DATA_ROOT=${DATA_ROOT:-}
RESTORER_OPTS=${RESTORER_OPTS:-}
ROUTER_OPTS=${ROUTER_OPTS:-}
TILING=${TILING:---tiling 64 32 hann --tiling 96 64 hann --tiling 96 64 uniform}
LATENCY_IMAGE=${LATENCY_IMAGE-data/demo_restoration/large/haze.jpg}
EVAL_OPTS=${EVAL_OPTS:---latency-warmup 0 --latency-repeats 1}
TASKS="dehaze derain desnow"

# the newest checkpoint of a work dir (its last_checkpoint, found inside the
# dir when the dir was moved)
checkpoint() {
    local pointer="$1/last_checkpoint"
    if [ ! -f "$pointer" ]; then
        echo "error: no checkpoint in $1: run \`make demo-restoration\`" \
             "first" >&2
        exit 1
    fi
    local recorded
    recorded=$(cat "$pointer")
    if [ -f "$1/$(basename "$recorded")" ]; then
        echo "$1/$(basename "$recorded")"
    else
        echo "$recorded"
    fi
}

MODELS=(--dense configs/restoration/dense_unified_demo.py
        "$(checkpoint "$S3_DIR/dense_unified_demo")")
for task in $TASKS; do
    MODELS+=(--expert "$task" "configs/restoration/expert_${task}_demo.py"
             "$(checkpoint "$S3_DIR/expert_${task}_demo")")
done
[ -n "$DATA_ROOT" ] && MODELS+=(--data-root "$DATA_ROOT")
[ -n "$RESTORER_OPTS" ] && MODELS+=(--cfg-options $RESTORER_OPTS)

echo "== 1/5 utility labels"
"$PYTHON" tools/analysis_tools/utility_labels.py "${MODELS[@]}" \
    --splits train val --out-dir "$WORK_DIR/labels"

echo "== 2/5 routers"
LABELS=()
for split in train val test; do
    LABELS+=("${split}_dataloader.dataset.data_root=$WORK_DIR/labels/")
done
ROUTERS=()
for name in router_global_b20 router_global_b50 router_global_b80 \
            router_local; do
    "$PYTHON" tools/train.py "configs/restoration/${name}_demo.py" \
        --work-dir "$WORK_DIR/$name" --cfg-options "${LABELS[@]}" \
        $ROUTER_OPTS
    ROUTERS+=("$WORK_DIR/$name/${name}_demo.py"
              "$(checkpoint "$WORK_DIR/$name")")
done

echo "== 3/5 choice of beta and calibration"
"$PYTHON" tools/analysis_tools/calibrate_router.py \
    --router "${ROUTERS[0]}" "${ROUTERS[1]}" \
    --router "${ROUTERS[2]}" "${ROUTERS[3]}" \
    --router "${ROUTERS[4]}" "${ROUTERS[5]}" --out-dir "$WORK_DIR/router"
"$PYTHON" tools/analysis_tools/calibrate_router.py \
    --router "${ROUTERS[6]}" "${ROUTERS[7]}" \
    --out-dir "$WORK_DIR/router_local"

echo "== 4/5 MoE-I evaluation"
LATENCY=()
[ -n "$LATENCY_IMAGE" ] && LATENCY=(--latency-image "$LATENCY_IMAGE")
"$PYTHON" tools/moe_i_eval.py "${MODELS[@]}" \
    --router-dir "$WORK_DIR/router" \
    --local-router-dir "$WORK_DIR/router_local" \
    --out-dir "$WORK_DIR/eval" $TILING "${LATENCY[@]}" $EVAL_OPTS

echo "== 5/5 report"
"$PYTHON" tools/analysis_tools/moe_i_report.py "$WORK_DIR/eval" \
    --out-dir "$WORK_DIR/report"
echo "report: $WORK_DIR/report/moe_i_report.md"
