#!/usr/bin/env bash
# The S3 restoration demo chain (`make demo-restoration`), about 5 minutes
# on an idle two-core CPU (one thread; more when other jobs share it):
#   1. write the demo set (data/demo_restoration, if missing);
#   2. train the dense-unified model on haze, rain and snow mixed, test it;
#   3. train the dehaze, derain and desnow experts from its checkpoint,
#      test each on its own task;
#   4. write the comparison table (input / dense-unified / expert per task
#      and macro, bootstrap CIs, paired t-tests; adapter parameters);
#   5. restore the demo's 3840 x 2160 hazy image with the dehaze expert,
#      "global, then tile" (tile 512, overlap 64, Hann blending).
# Everything goes to $WORK_DIR (default work_dirs/s3_demo/seed_<SEED>); the
# table is $WORK_DIR/restoration_experts.md.
#
# Environment: PYTHON (default python), SEED (default 0), WORK_DIR,
# DATA_ROOT (default data/demo_restoration/), OMP_NUM_THREADS (default 1:
# the demo's small convolutions gain little from a second thread).
set -euo pipefail

PYTHON=${PYTHON:-python}
SEED=${SEED:-0}
WORK_DIR=${WORK_DIR:-work_dirs/s3_demo/seed_${SEED}}
DATA_ROOT=${DATA_ROOT:-data/demo_restoration/}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
TASKS=(dehaze derain desnow)
DATA_OPTIONS=()
for split in train val test; do
    DATA_OPTIONS+=("${split}_dataloader.dataset.data_root=${DATA_ROOT}")
done

start=$(date +%s)
stamp() { echo "[s3 demo, $(( $(date +%s) - start )) s] $*"; }

# the newest checkpoint of a work dir (CheckpointHook's last_checkpoint)
last_checkpoint() { cat "$1/last_checkpoint"; }

if [ ! -f "${DATA_ROOT}/meta.jsonl" ]; then
    stamp "writing the demo set to ${DATA_ROOT}"
    "$PYTHON" tools/misc/make_demo_data.py --set restoration --out "$DATA_ROOT"
fi

# train_and_test NAME [--cfg-options ...]: train configs/restoration/NAME.py,
# then test its last checkpoint with the per-image records in WORK/NAME/test
train_and_test() {
    local name=$1; shift
    local config="configs/restoration/${name}.py"
    local work="${WORK_DIR}/${name}"
    stamp "training ${name}"
    "$PYTHON" tools/train.py "$config" --work-dir "$work" --cfg-options \
        randomness.seed="$SEED" "${DATA_OPTIONS[@]}" "$@" > /dev/null
    stamp "testing ${name}"
    "$PYTHON" tools/test.py "$config" "$(last_checkpoint "$work")" \
        --work-dir "$work" --cfg-options "${DATA_OPTIONS[@]}" \
        test_evaluator.out_dir="${work}/test" > /dev/null
}

train_and_test dense_unified_demo
DENSE_CKPT=$(last_checkpoint "${WORK_DIR}/dense_unified_demo")
TABLE_ARGS=(--dense "${WORK_DIR}/dense_unified_demo/test")
for task in "${TASKS[@]}"; do
    train_and_test "expert_${task}_demo" load_from="$DENSE_CKPT"
    TABLE_ARGS+=(--expert "${task}=${WORK_DIR}/expert_${task}_demo/test"
                 --config "${task}=configs/restoration/expert_${task}_demo.py")
done

stamp "comparison table"
"$PYTHON" tools/analysis_tools/restoration_experts_table.py \
    "${TABLE_ARGS[@]}" --out-dir "$WORK_DIR" 2> /dev/null

stamp "restoring the 3840 x 2160 hazy image, tiled"
RESTORED="${WORK_DIR}/restored_4k/haze_dehaze.png"
"$PYTHON" tools/restore.py "${DATA_ROOT}/large/haze.jpg" \
    --config configs/restoration/expert_dehaze_demo.py \
    --checkpoint "$(last_checkpoint "${WORK_DIR}/expert_dehaze_demo")" \
    --task dehaze --tile 512 --overlap 64 --blend hann --out "$RESTORED" \
    2> /dev/null | grep -v ' - mmengine - '
"$PYTHON" - "${DATA_ROOT}/large" "$RESTORED" <<'EOF'
import sys

import cv2
import numpy as np

folder, restored = sys.argv[1:]
gt = cv2.imread(f'{folder}/gt.jpg').astype(np.float64) / 255
for name, path in (('hazy input', f'{folder}/haze.jpg'),
                   ('dehaze expert, tiled', restored)):
    image = cv2.imread(path).astype(np.float64) / 255
    psnr = 10 * np.log10(1 / np.mean((image - gt) ** 2))
    print(f'4K {name}: PSNR {psnr:.2f} dB')
EOF
stamp "done; table: ${WORK_DIR}/restoration_experts.md"
