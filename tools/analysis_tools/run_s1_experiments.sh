#!/usr/bin/env bash
# Train the S1 baseline and E1-E6 on the demo data with a short schedule,
# then compare them in one table:
#
#   bash tools/analysis_tools/run_s1_experiments.sh [KEY=VALUE ...]
#
# Every KEY=VALUE is passed to each run as an extra --cfg-options entry
# (e.g. model.encoder.base_channels=8). Settings, as environment variables:
#   ITERS         training iterations per run, evaluated once at the end
#                 (default 200)
#   WORK_ROOT     parent of the work dirs, one per config name
#                 (default work_dirs/s1_short)
#   DATA_ROOT     demo data, written first when missing
#                 (default data/demo_lesions)
#   CONFIGS       the configs to run (default: the baseline and E1-E6)
#   COMPARE_ARGS  extra arguments of compare_experiments.py
#                 (e.g. "--device cuda --shape 256 256")
#   PYTHON        interpreter (default python)
# The table goes to $WORK_ROOT/compare/compare.{md,csv,png}. The warm-up and
# cosine ends of the demo schedule (configs/_base_/schedules) are moved to
# fit ITERS.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python}
ITERS=${ITERS:-200}
WORK_ROOT=${WORK_ROOT:-work_dirs/s1_short}
DATA_ROOT=${DATA_ROOT:-data/demo_lesions}
CONFIGS=${CONFIGS:-"configs/baseline_multitask.py configs/e1_taskdw.py
configs/e2_lre_free.py configs/e3_lre_prior.py configs/e4_hybrid_high.py
configs/e5_hybrid_midhigh.py configs/e6_patchgate.py"}
COMPARE_ARGS=${COMPARE_ARGS:-}

if ! [[ "$ITERS" =~ ^[1-9][0-9]*$ ]]; then
    echo "error: ITERS must be a positive integer, got '$ITERS'" >&2
    exit 2
fi
for config in $CONFIGS; do
    if [ ! -f "$config" ]; then
        echo "error: config file '$config' does not exist" >&2
        exit 2
    fi
done
if [ ! -f "$DATA_ROOT/splits/train.txt" ]; then
    "$PYTHON" tools/misc/make_demo_data.py --out "$DATA_ROOT"
fi

warmup=$(( ITERS / 8 > 0 ? ITERS / 8 : 1 ))
work_dirs=()
for config in $CONFIGS; do
    name=$(basename "$config" .py)
    echo "=== $name: $ITERS iterations -> $WORK_ROOT/$name"
    # shellcheck disable=SC2086
    "$PYTHON" tools/train.py "$config" --work-dir "$WORK_ROOT/$name" \
        --cfg-options \
        train_cfg.max_iters="$ITERS" train_cfg.val_interval="$ITERS" \
        default_hooks.checkpoint.interval="$ITERS" \
        param_scheduler.0.end="$warmup" param_scheduler.1.begin="$warmup" \
        param_scheduler.1.end="$ITERS" \
        train_dataloader.dataset.data_root="$DATA_ROOT" \
        val_dataloader.dataset.data_root="$DATA_ROOT" \
        test_dataloader.dataset.data_root="$DATA_ROOT" \
        "$@"
    work_dirs+=("$WORK_ROOT/$name")
done

# --split val: a test result left in a work dir by an earlier run must not
# stand in for this run's final evaluation
# shellcheck disable=SC2086
"$PYTHON" tools/analysis_tools/compare_experiments.py "${work_dirs[@]}" \
    --split val --out-dir "$WORK_ROOT/compare" $COMPARE_ARGS
