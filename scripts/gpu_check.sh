#!/usr/bin/env bash
# One prepared GPU check (for a lent accelerator with little time): each model family a few hundred
# steps on the GPU in bf16 with throughput printed, the contrastive estimator on the GPU, then the
# gpu-marked tests. Prints one RESULT line per model. Usage: bash scripts/gpu_check.sh [STEPS]
# On a machine without behavenet's pure-Python dependencies installed, put copies of hydra,
# omegaconf and antlr4 in .gpu_site/ (git-ignored); the script puts it and the checkout on PYTHONPATH.
set -uo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-300}
PY=${PYTHON:-$(command -v python3 || command -v python)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
[ -d .gpu_site ] && export PYTHONPATH="$PWD/.gpu_site:$PYTHONPATH"
export PYTHONUNBUFFERED=1
OUTDIR=${OUT:-/tmp}/gpu_check
mkdir -p "$OUTDIR"
$PY - <<PY
import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
for model in pca contrastive contrastive_time autoencoder mmgpvae; do
  extra=""
  [ "$model" = autoencoder ] && extra="data.inputs=[spikes,behavior]"
  [ "$model" = mmgpvae ] && extra="data.inputs=[spikes,behavior] data.normalize={spikes:false} model.embed_inputs=[spikes]"
  start=$(date +%s.%N)
  $PY train.py model=$model $extra trainer=gpu trainer.max_steps=$STEPS trainer.val_check_interval=$STEPS \
      logger=none trainer.enable_progress_bar=false hydra.run.dir=$OUTDIR/$model > "$OUTDIR/$model.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  [ $rc -ne 0 ] && tail -5 "$OUTDIR/$model.log"
  r2=$($PY -c "import json;print(json.load(open('$OUTDIR/$model/metrics.json'))['decoding']['position']['knn']['test']['r2'])" 2>/dev/null)
  $PY -c "print('RESULT model=$model rc=$rc steps=$STEPS wall_s=%.1f (incl. start-up, export, eval) knn_r2=$r2' % ($end-$start))"
done
# the contrastive estimator's training loop alone: iterations/s on the GPU (cebra_bench-like data)
$PY - <<'PY'
import time, numpy as np, torch
from behavenet.models.contrastive import ContrastiveEmbedding
rng = np.random.default_rng(0)
t = np.cumsum(rng.normal(size=(10000, 2)) * 0.05, 0)
x = rng.poisson(np.exp(np.sin(t @ rng.normal(size=(2, 100))))).astype(np.float32)
for cond, y in (("time_delta", (t.astype(np.float32),)), ("time", ())):
    for it in (50, 1000):
        est = ContrastiveEmbedding(model_architecture="offset10", batch_size=512, output_dimension=8,
                                   max_iterations=it, conditional=cond, device="cuda", seed=0)
        torch.cuda.synchronize(); s = time.perf_counter(); est.fit(x, *y); torch.cuda.synchronize()
        dt = time.perf_counter() - s
    print(f"RESULT estimator conditional={cond} iters=1000 fit_s={dt:.2f} it_per_s={1000 / dt:.1f}")
PY
# the MM-GPVAE estimator on the official experiment's shapes (300 trials x 60 bins, 100 neurons, 36x36 images)
$PY - <<'PY'
import time, numpy as np, torch
import behavenet
rng = np.random.default_rng(0)
spikes = rng.poisson(1.0, size=(240, 60, 100)).astype(np.float32)
images = rng.uniform(0, 255, size=(240, 60, 36, 36)).astype(np.float32)
for net in ("mlp", "conv"):
    est = behavenet.MMGPVAE(likelihoods={"spikes": "poisson", "images": "gaussian"}, image_network=net,
                            max_epochs=20, batch_size=20, device="cuda", seed=0)
    torch.cuda.synchronize(); s = time.perf_counter(); est.fit({"spikes": spikes, "images": images}); torch.cuda.synchronize()
    print(f"RESULT mmgpvae estimator image_network={net} epochs=20 s_per_epoch={(time.perf_counter() - s) / 20:.3f}")
PY
$PY -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py tests/models/test_family_contract.py tests/models/mmgpvae 2>&1 | tail -15
