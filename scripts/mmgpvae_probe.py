"""Diagnostics of the MM-GPVAE benchmark fit over training (docs/benchmarks.md, MM-GPVAE section).

Trains ``behavenet.MMGPVAE`` with the benchmark's parameters (``bench_mmgpvae.BEHAVENET_PARAMS``
plus ``--params``) and, every ``--every`` epochs, scores the held-out trials WITHOUT touching the
fit (posterior means only: no random draws, so the training is bit-identical to a plain run):

* the benchmark's affine R² per latent (shared -> angle, image-only -> zoom, spike-only -> g2);
* nonlinear read-outs of the image latents together, ``(shared, image-only)``: a k-nearest-
  neighbour regression (k = 10, fitted on the training trials' latents, scored on the held-out
  ones) of the angle, of (cos, sin) of the angle (what images can show: they repeat every 360
  degrees) and of |zoom|, and the affine R² of the angle from their polar angle
  ``atan2`` (unwrapped per trial) -- high kNN but low affine R² means the image latents code the
  rotation as a loop rather than along the shared axis;
* the share of the affine angle map's squared error on the held-out trials whose angle passes
  +-180 degrees (where the images repeat: a shared latent that follows the images wraps there);
* the affine R² of the angle from the shared latent inferred from the spikes alone and from the
  images alone (which modality's evidence carries it), the latents' learned length scales;
* pooled R² of the predicted rates, image MSE per pixel.

The ground truth is read for these diagnostics only; nothing is selected by it. At the end the
held-out and training latents are saved to ``<out>.npz``.

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/mmgpvae_probe.py --epochs 300 --every 25 \
        --bench-dir /work/main/.bench --out probe.json [--params '{json}']
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_mmgpvae as bm  # noqa: E402
import mmgpvae_bench_data as bd  # noqa: E402


def knn_r2(ztr, ytr, zte, yte, k: int = 10) -> float:
    """R² of a k-nearest-neighbour regression (uniform weights) fitted on ``ztr`` and scored on ``zte``."""
    from sklearn.neighbors import KNeighborsRegressor

    ztr, zte = ztr.reshape(-1, ztr.shape[-1]), zte.reshape(-1, zte.shape[-1])
    ytr, yte = ytr.reshape(-1), yte.reshape(-1)
    scale = ztr.std(0) + 1e-12
    pred = KNeighborsRegressor(k).fit(ztr / scale, ytr).predict(zte / scale)
    return 1.0 - float(((pred - yte) ** 2).sum()) / float(((yte - yte.mean()) ** 2).sum())


def diagnostics(est, data) -> dict:
    tr, te = data["train_idx"], data["test_idx"]
    z_te = est.transform({"spikes": data["spikes"][te], "images": data["images"][te]})
    z_tr = est.transform({"spikes": data["spikes"][tr], "images": data["images"][tr]})
    rec = est.reconstruct({"spikes": data["spikes"][te], "images": data["images"][te]})
    truth = {k: data[k][te] for k in ("angle", "zoom", "g2")}
    m = bm.score(
        {"shared": z_te["shared"], "images": z_te["images"], "spikes": z_te["spikes"]}, truth,
        images_hat=rec["images"], images_true=data["images"][te], rates_hat=rec["spikes"], rates_true=data["rates"][te],
    )  # fmt: skip
    img_tr = np.concatenate([z_tr["shared"], z_tr["images"]], -1)
    img_te = np.concatenate([z_te["shared"], z_te["images"]], -1)
    spk_tr = np.concatenate([z_tr["shared"], z_tr["spikes"]], -1)
    spk_te = np.concatenate([z_te["shared"], z_te["spikes"]], -1)
    c = img_te - img_tr.reshape(-1, 2).mean(0)
    rad_tr, rad_te, trig = np.deg2rad(data["angle"][tr]), np.deg2rad(data["angle"][te]), (np.cos, np.sin)
    polar = np.unwrap(np.arctan2(c[..., 1], c[..., 0]), axis=1)
    out = {
        "angle_r2": m["per_latent"]["shared[0]->angle"]["r2"],
        "zoom_r2": m["per_latent"]["images[0]->zoom"]["r2"],
        "abszoom_r2": m["images->|zoom|_r2"],
        "g2_r2": m["per_latent"]["spikes[0]->g2"]["r2"],
        "all_latents_r2": m["all_latents_r2"],
        "knn_angle_from_shared+image": knn_r2(img_tr, data["angle"][tr], img_te, data["angle"][te]),
        "knn_abszoom_from_shared+image": knn_r2(img_tr, np.abs(data["zoom"][tr]), img_te, np.abs(data["zoom"][te])),
        "knn_cos_sin_angle_from_shared+image": float(
            np.mean([knn_r2(img_tr, f(rad_tr), img_te, f(rad_te)) for f in trig])
        ),
        "knn_angle_from_shared+spikes": knn_r2(spk_tr, data["angle"][tr], spk_te, data["angle"][te]),
        "affine_angle_from_polar(shared,image)": bm._affine_fit(polar, data["angle"][te])["r2"],
        "angle_sse_share_of_trials_beyond_180": bm.wrap_share(z_te["shared"][..., 0], data["angle"][te]),
        "angle_r2_shared_from_spikes_only": bm._affine_fit(
            est.transform({"spikes": data["spikes"][te]})["shared"][..., 0], data["angle"][te]
        )["r2"],
        "angle_r2_shared_from_images_only": bm._affine_fit(
            est.transform({"images": data["images"][te]})["shared"][..., 0], data["angle"][te]
        )["r2"],
        "lengthscales": [round(float(x), 2) for x in est.model_.prior.lengthscales.detach().cpu()],
        "rates_r2_pooled": m["rates_r2_pooled"],
        "image_mse_per_pixel": m["image_mse_per_pixel"],
    }
    return out, z_te, z_tr


def show(d: dict) -> None:
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--every", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--params", default=None)
    p.add_argument("--bench-dir", default=None)
    p.add_argument("--out", default="probe.json")
    args = p.parse_args(argv)
    import torch

    import behavenet

    torch.set_num_threads(args.threads)
    data = bd.load(bd.data_path("mmgpvae", args.bench_dir), variant="mmgpvae")
    params = dict(bm.BEHAVENET_PARAMS, max_epochs=args.epochs, seed=args.seed)
    params.update(json.loads(args.params or "{}"))
    est = behavenet.MMGPVAE(**params)
    steps_per_epoch = int(np.ceil(len(data["train_idx"]) / params["batch_size"]))
    trace, t0 = [], time.perf_counter()
    original_train = est._train

    def train(core, splits, steps, seed, **kw):
        loss, calls = core.loss, [0]

        def hooked(batch, stage="train"):
            # scored before the step after every ``every`` epochs: the weights after exactly
            # that many optimiser steps, as a plain run of that many epochs ends with
            if stage == "train" and core.training:
                if calls[0] and calls[0] % (args.every * steps_per_epoch) == 0:
                    est.model_ = core
                    d = diagnostics(est, data)[0]
                    core.train()
                    d.update(epoch=calls[0] // steps_per_epoch, wall_s=time.perf_counter() - t0)
                    trace.append(d)
                    show(d)
                calls[0] += 1
            return loss(batch, stage)

        core.loss = hooked
        try:
            return original_train(core, splits, steps, seed, **kw)
        finally:
            del core.loss

    est._train = train
    tr = data["train_idx"]
    est.fit({"spikes": data["spikes"][tr], "images": data["images"][tr]})
    final, z_te, z_tr = diagnostics(est, data)
    final.update(epoch=args.epochs, wall_s=time.perf_counter() - t0)
    trace.append(final)
    show(final)
    res = {"params": params, "command": [sys.executable, *sys.argv], "trace": trace, "timing_": est.timing_}
    Path(args.out).write_text(json.dumps(res, indent=1))
    np.savez(
        Path(args.out).with_suffix(".npz"),
        **{f"test_{k}": v for k, v in z_te.items()}, **{f"train_{k}": v for k, v in z_tr.items()},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
