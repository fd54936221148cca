#!/usr/bin/env bash
# One prepared GPU check (for a lent accelerator with little time): each model a few hundred steps
# on the GPU in bf16 with throughput printed, then the gpu-marked tests. Prints one RESULT line per
# model. Usage: bash scripts/gpu_check.sh [STEPS]
set -uo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-300}
python - <<PY
import torch; print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
for model in pca contrastive contrastive_time; do
  start=$(date +%s.%N)
  python train.py model=$model trainer=gpu trainer.max_steps=$STEPS trainer.val_check_interval=$STEPS \
      logger=none trainer.enable_progress_bar=false hydra.run.dir=${OUT:-/tmp}/gpu_check/$model > /tmp/gpu_$model.log 2>&1
  rc=$?
  end=$(date +%s.%N)
  r2=$(python -c "import json;print(json.load(open('${OUT:-/tmp}/gpu_check/$model/metrics.json'))['decoding']['position']['knn']['test']['r2'])" 2>/dev/null)
  python -c "print('RESULT model=$model rc=$rc steps=$STEPS wall_s=%.1f steps_per_s=%.1f knn_r2=$r2' % (($end-$start), $STEPS/($end-$start)))"
done
python -m pytest -m gpu -q tests/test_gpu.py
