"""Driver that runs the OFFICIAL single-modality Fourier GP-VAE (RabiaGondur/MM-GPVAE at 9df304e,
``GPVAE.ipynb``) unchanged, on a data file of ``scripts/mmgpvae_bench_data.py build --variant gpvae``.

Runs in the official venv. Nothing of the official code is copied: its modules are imported from
its own tree (``--official``) and its functions are called, in the order of the notebook's cells
for the "Fourier, pruned" model (the one whose held-out angle MSE, 195.8 deg², the notebook
prints): ``hyperparams.py`` at HEAD already holds the GP-VAE block (T = 40, batch 5, 1 latent,
image lr 5e-4, seed 20), then ``GPVAE_dataset``, ``random_split`` (seed 20), ``GPVAE(zimg_Dim=1,
Fourier=True, minlens=10)`` and ``train.train_model_fourier_gpvae``. The held-out posterior means
are computed as the official ``misc.save_model`` does (``encode`` -> ``Fourer_lat_conv`` ->
``Time_lat_conv``) and scored with the notebook's metric: one affine least-squares map from the
latent to the angle, fitted and scored on all held-out frames.

    <official venv>/bin/python scripts/gpvae_official_driver.py --official /work/bench-ext/mmgpvae-official \\
        --data .bench/gpvae_data_seed15.npy --epochs 100 --threads 1 --out official_gpvae.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--official", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, os.path.abspath(args.official))
    import hyperparams as H  # the GP-VAE block is the active one at HEAD
    import misc
    import neural_nets

    import train

    torch.manual_seed(H.my_seed)
    full = misc.GPVAE_dataset(args.data)
    n_train = int(0.8 * len(full))
    train_ds, test_ds = torch.utils.data.random_split(
        full, [n_train, len(full) - n_train], generator=torch.Generator().manual_seed(H.my_seed)
    )
    loader_train = torch.utils.data.DataLoader(train_ds, batch_size=H.BATCH)
    net = neural_nets.GPVAE(zimg_Dim=H.N_lats_img, Fourier=True, minlens=10)
    t0 = time.perf_counter()
    train.train_model_fourier_gpvae(
        net, EPOCH=args.epochs, Fourier=True, visualize_ELBO=False, lr1=H.image_lr, loader_train=loader_train
    )
    train_s = time.perf_counter() - t0

    test = torch.utils.data.DataLoader(test_ds, batch_size=len(test_ds))
    net.eval()
    with torch.no_grad():
        imgs, angle = next(iter(test))
        m, _s = net.encode(imgs.float())
        m = misc.Fourer_lat_conv(m, net.encMeanFour)
        z = misc.Time_lat_conv(m, net.Bf)[:, :, -H.N_lats_img :].numpy()
    y = angle.numpy().reshape(-1).astype(np.float64)
    x = np.c_[z.reshape(-1, z.shape[-1]).astype(np.float64), np.ones(y.size)]
    w = np.linalg.lstsq(x, y, rcond=None)[0]
    mse = float(np.mean((x @ w - y) ** 2))
    result = {
        "impl": "official",
        "variant": "gpvae",
        "epochs": args.epochs,
        "threads": args.threads,
        "train_s": train_s,
        "s_per_epoch": train_s / args.epochs,
        "test_idx_official": [int(i) for i in test_ds.indices],
        "angle_mse_deg2": mse,
        "angle_r2": 1.0 - mse / float(np.var(y)),
        "len_sc": float(net.len_sc.detach()),
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "test_idx_official"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
