"""Driver that runs the OFFICIAL MM-GPVAE training (RabiaGondur/MM-GPVAE at 9df304e) unchanged.

Runs in the official venv (numpy 2.3.x; numpy >= 2.4 breaks its Fourier basis), spawned by
``scripts/bench_mmgpvae.py --impl official``. Nothing of the official code is copied: its modules
are imported from its own tree (``--official``) and its functions are called. What this driver
does around them, and why:

* ``hyperparams.py`` at HEAD has the GP-VAE block active and the MM block commented out. The
  driver imports ``hyperparams`` first and sets the MM values on it (batch 20, T=60, seed 77,
  split seed 10, image lr 1.6e-4, N_lats_img=2, N_lats_spikes=2, N_shared=1, ...) before the
  other modules star-import it -- the same as un-commenting that block.
* It then repeats ``mmgpvae_main.py`` statement by statement (seeds, dataset, ``random_split``,
  loaders, the unbatched pass for ``meanrates``, the three networks) and calls
  ``train.train_mmgpvae_main`` with ``EPOCH=--epochs`` and ``visualize_ELBO=False``.
* Per-epoch timing without touching the training loop: the training loader is wrapped in an
  object whose ``__iter__`` delegates to the real loader (same batches, same RNG use) and records
  wall/CPU time and other processes' CPU share from the first batch request to the loader's end,
  i.e. one full pass over the 12 training batches incl. the optimiser steps, no validation.
* The official final step (``misc.regressions``) only plots one batch of 20. Instead the driver
  computes the held-out posterior means of all 60 test trials with the official functions
  (``encode``, ``Fourer_lat_conv``, ``return_partitioned_latents``, ``Time_lat_conv``,
  ``decoder``, ``decoder_lambda``) and saves them to an ``.npz``; the metric is computed by the
  shared function in ``bench_mmgpvae.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


def cpu_jiffies():
    """(busy, total) jiffies of the whole machine and this process's own (user+system) jiffies."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:9]]
    total = sum(vals)
    busy = total - vals[3] - vals[4]  # minus idle and iowait
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    own = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of proc(5))
    return busy, total, own


def other_share(a, b):
    """Share of the machine's CPU capacity used by other processes between two cpu_jiffies()."""
    d_busy, d_total, d_own = b[0] - a[0], b[1] - a[1], b[2] - a[2]
    return max(0.0, (d_busy - d_own) / d_total) if d_total > 0 else float("nan")


class TimedLoader:
    """Transparent wrapper: iterating it iterates the wrapped loader and records one epoch."""

    def __init__(self, loader):
        self.loader = loader
        self.epochs = []

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        t0, c0, j0 = time.perf_counter(), time.process_time(), cpu_jiffies()
        n = 0
        for batch in self.loader:
            n += 1
            yield batch
        t1, c1, j1 = time.perf_counter(), time.process_time(), cpu_jiffies()
        self.epochs.append({"wall_s": t1 - t0, "cpu_s": c1 - c0, "other_share": other_share(j0, j1), "batches": n})


MM_HYPERPARAMS = dict(  # the commented-out "mmgpvae" block of hyperparams.py
    BATCH=20,
    TIME_POINTS=60,
    N_NEURONS=100,
    PIXEL=36 * 36,
    TOTAL_EPOCH=700,
    trial_number=1,
    my_seed=77,
    DATA_SPLIT_SEED=10,
    image_lr=0.00016,
    N_lats_img=2,
    N_lats_spikes=2,
    N_shared=1,
    latent_dim=1,
)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--official", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="JSON with timings; latents go to <out>.npz")
    p.add_argument("--no-eval", action="store_true")
    args = p.parse_args(argv)

    t_start = time.perf_counter()
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, os.path.abspath(args.official))

    import hyperparams

    for k, v in MM_HYPERPARAMS.items():
        setattr(hyperparams, k, v)
    hyperparams.y = np.ones([1, hyperparams.N_NEURONS, hyperparams.TIME_POINTS])

    # ---- mmgpvae_main.py, in order ----------------------------------------------------------
    import GP_fourier as gpf  # noqa: F401
    import misc
    import neural_nets

    import train

    H = hyperparams
    torch.manual_seed(H.my_seed)
    np.random.seed(H.my_seed)
    FOURIER = True
    full_dataset = misc.TimePointCustomDataset(args.data)
    train_size = int(0.8 * len(full_dataset))
    test_size = len(full_dataset) - train_size
    train_dataset, test_dataset = torch.utils.data.random_split(
        full_dataset, [train_size, test_size], generator=torch.Generator().manual_seed(H.DATA_SPLIT_SEED)
    )
    loader_train = torch.utils.data.DataLoader(train_dataset, batch_size=H.BATCH)
    loader_test = torch.utils.data.DataLoader(test_dataset, batch_size=H.BATCH)  # noqa: F841
    torch.manual_seed(H.my_seed)
    full_data = torch.utils.data.DataLoader(full_dataset, batch_size=H.BATCH)  # noqa: F841
    train_data_unbatched = torch.utils.data.DataLoader(train_dataset, batch_size=train_dataset.__len__())
    test_data_unbatched = torch.utils.data.DataLoader(test_dataset, batch_size=test_dataset.__len__())
    for _data, _labels, _spikes, neural_rates, _gp1, _gp2, _zoom in train_data_unbatched:
        meanrates = np.mean(neural_rates.detach().numpy(), axis=(0, 1))
        break
    net = neural_nets.Behavior_Encoder_Decoder(zimg_Dim=H.N_lats_img, Fourier=FOURIER, minlens=10)
    n_encode = neural_nets.Spike_Encode(zDim=H.N_lats_spikes, Fourier=FOURIER, minlens=10)
    n_decode = neural_nets.Spike_Decode(meanrates=meanrates, zDim=H.N_lats_spikes, Fourier=FOURIER, minlens=10)
    setup_s = time.perf_counter() - t_start

    timed = TimedLoader(loader_train)
    t0 = time.perf_counter()
    losses = train.train_mmgpvae_main(
        net,
        n_encode,
        n_decode,
        timed,
        EPOCH=args.epochs,
        lr1=H.image_lr,
        lr2=0.000772,
        lr3=0.0088,
        Fourier=FOURIER,
        visualize_ELBO=False,
    )
    train_s = time.perf_counter() - t0
    rss_train_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    walls = [e["wall_s"] for e in timed.epochs]
    after = walls[1:] if len(walls) > 1 else walls
    result = {
        "impl": "official",
        "official_tree": os.path.abspath(args.official),
        "data": os.path.abspath(args.data),
        "epochs": args.epochs,
        "threads": args.threads,
        "torch_num_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "setup_s": setup_s,
        "train_s": train_s,
        "epoch_seconds": walls,
        "epoch_cpu_seconds": [e["cpu_s"] for e in timed.epochs],
        "epoch_other_share": [e["other_share"] for e in timed.epochs],
        "epoch_batches": [e["batches"] for e in timed.epochs],
        "s_per_epoch_median_after_first": float(np.median(after)),
        "cpu_s_per_epoch_median_after_first": float(np.median([e["cpu_s"] for e in timed.epochs][1:] or [0])),
        "first_epoch_s": walls[0] if walls else None,
        "other_share_mean": float(np.mean([e["other_share"] for e in timed.epochs])),
        "other_share_max": float(np.max([e["other_share"] for e in timed.epochs])),
        "peak_rss_mib_after_training": rss_train_mib,
        "train_losses": [float(x) for x in losses],
        "len_sc": float(net.len_sc.detach()),
        "test_idx_official": [int(i) for i in test_dataset.indices],
        "train_idx_official": [int(i) for i in train_dataset.indices],
    }

    if not args.no_eval:
        from torch import no_grad

        net.eval()
        n_encode.eval()
        n_decode.eval()
        with no_grad():
            for imgs, _angle, spikes_n, _neural, _gp1, _gp2, _zoom in test_data_unbatched:
                m_n, s_n = n_encode.encode(spikes_n.float())
                m_i, s_i = net.encode(imgs.float())
                m_n = misc.Fourer_lat_conv(m_n, n_encode.spikeMeanFour)
                s_n = misc.Fourer_lat_conv(s_n, n_encode.spikeVarFour)
                m_i = misc.Fourer_lat_conv(m_i, net.encMeanFour)
                s_i = misc.Fourer_lat_conv(s_i, net.encVarFour)
                z_m, z_s = misc.return_partitioned_latents(
                    neural_embeds_m=m_n,
                    image_embeds_m=m_i,
                    neural_embeds_s=s_n,
                    image_embeds_s=s_i,
                    N_lats_spikes=H.N_lats_spikes,
                    N_lats_img=H.N_lats_img,
                    N_shared=H.N_shared,
                )
                z_time = misc.Time_lat_conv(z_m, net.Bf)  # (60, T, 3): [neural-only | shared | image-only]
                x_hat = net.decoder(z_time[:, :, -H.N_lats_img :])
                log_rate = n_decode.decoder_lambda(z_time[:, :, : H.N_lats_spikes])
                np.savez(
                    args.out + ".npz",
                    neural_only=z_time[:, :, 0:1].numpy(),
                    shared=z_time[:, :, 1:2].numpy(),
                    image_only=z_time[:, :, 2:3].numpy(),
                    images_hat=x_hat.reshape(x_hat.shape[0], x_hat.shape[1], 36, 36).numpy(),
                    rates_hat=torch.exp(log_rate).numpy(),
                    test_idx=np.asarray(test_dataset.indices),
                )
                break
        result["latents_npz"] = os.path.abspath(args.out + ".npz")
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
