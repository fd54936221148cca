#!/usr/bin/env python
"""Reproduce CEBRA's synthetic latent-recovery experiment (Schneider et al. 2023, Fig. 1b).

Generative process (the pi-VAE synthetic set, as described in the CEBRA paper and pi-VAE):

* label ``u ~ U[0, 2 pi]`` (15,000 i.i.d. samples);
* latent ``z ~ N((u, 2 sin u), diag(0.6 - 0.3 |sin u|, 0.3 |sin u|))``;
* ``z`` is zero-padded to 100 dimensions and pushed through a random RealNVP flow: 4 blocks of
  2 affine coupling layers (the first half of the features feeds an MLP with two ReLU layers of
  ``D/4`` units and a linear layer of ``D`` units giving a scale ``s = 0.1 tanh(.)`` and shift
  ``t`` for the second half: ``x2 * exp(s) + t``; the halves are then swapped), with a fixed
  random permutation of the features between blocks; weights Glorot-uniform, biases zero;
* rates ``exp(2.2 tanh(mean))`` and Poisson counts for 100 neurons.

The flow's weights here are drawn by this script (numpy, seeded by ``--data-seed``); they are not
the weights of the original (Keras) generator, so the data set is the same process, not the
same numbers.

Evaluation as in the paper: train on the first 12,000 samples with the label ``u``, embed all
15,000 samples, and report the in-sample R² of a linear regression from the embedding to the 2-D
latent ``z`` (mean over the two latent dimensions). The held-out R² (fit on the first 12,000,
score on the last 3,000) is reported too. The CEBRA paper reports a median of 0.921 over 100
seeds for CEBRA-Behavior (settings: offset1-model-mse, euclidean, conditional delta, delta 0.1,
output dimension 2, batch 512, learning rate 1e-4, 1,000 iterations).

Two bounds worth knowing. Any embedding that is a function of the label ``u`` alone reaches at
most the R² of ``E[z | u] = (u, 2 sin u)``, about 0.90 on this process (reported per seed as
``r2_label_only_bound``). No embedding of ``x`` at all, read out linearly, beats the R² of the
Bayes posterior mean ``E[z | x]`` under the true generator (``--bayes-bound``, reported as
``r2_bayes_bound``; 0.89-0.93 on data seeds 0-9, so a target of 0.95 is out of reach on this
generator; see docs/contrastive.md).

Usage::

    python scripts/reproduce_cebra_synthetic.py --seeds 0 1 2 3 4               # paper settings
    python scripts/reproduce_cebra_synthetic.py --seeds 0 1 2 3 4 --bayes-bound # + E[z | x] bound
    python scripts/reproduce_cebra_synthetic.py --preset tuned --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

PRESETS = {
    # the settings of the paper's CEBRA-Behavior runs
    "paper": dict(
        model_architecture="offset1-mse",
        distance="euclidean",
        conditional="delta",
        delta=0.1,
        output_dimension=2,
        batch_size=512,
        learning_rate=1e-4,
        max_iterations=1000,
        temperature=1.0,
    ),
    # the best of a small search on seed 0 (docs/contrastive.md): a wider embedding
    "tuned": dict(
        model_architecture="offset1-mse",
        distance="euclidean",
        conditional="delta",
        delta=0.1,
        output_dimension=8,
        batch_size=512,
        learning_rate=1e-4,
        max_iterations=1000,
        temperature=1.0,
    ),
}


def _glorot(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


class RandomRealNVP:
    """A random (untrained) RealNVP flow on ``dim`` features (see the module docstring)."""

    def __init__(self, dim: int, rng: np.random.Generator, n_blocks: int = 4, layers_per_block: int = 2):
        if dim % 2:
            raise ValueError("dim must be even")
        self.dim = dim
        half = dim // 2
        hidden = max(1, half // 2)
        self.blocks = []
        for _ in range(n_blocks):
            layers = []
            for _ in range(layers_per_block):
                layers.append(
                    [
                        (_glorot(rng, half, hidden), np.zeros(hidden)),
                        (_glorot(rng, hidden, hidden), np.zeros(hidden)),
                        (_glorot(rng, hidden, dim), np.zeros(dim)),
                    ]
                )
            self.blocks.append(layers)
        self.perms = [rng.permutation(dim) for _ in range(n_blocks - 1)]

    @staticmethod
    def _coupling(x: np.ndarray, mlp) -> np.ndarray:
        half = x.shape[1] // 2
        keep, change = x[:, :half], x[:, half:]
        h = keep
        for i, (w, b) in enumerate(mlp):
            h = h @ w + b
            if i < len(mlp) - 1:
                h = np.maximum(h, 0.0)
        scale = 0.1 * np.tanh(h[:, :half])
        shift = h[:, half:]
        return np.concatenate([change * np.exp(scale) + shift, keep], axis=1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for bi, layers in enumerate(self.blocks):
            if bi > 0:
                x = x[:, self.perms[bi - 1]]
            for mlp in layers:
                x = self._coupling(x, mlp)
        return x


def make_data(seed: int, n: int = 15_000, n_neurons: int = 100, return_flow: bool = False):
    """``(x, u, z)``: Poisson counts ``(n, 100)``, label ``(n, 1)``, latent ``(n, 2)`` (and the
    flow, for :func:`bayes_r2`, with ``return_flow=True``)."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.0, 2 * np.pi, size=(n, 1))
    mean = np.hstack([u, 2 * np.sin(u)])
    var = np.hstack([0.6 - 0.3 * np.abs(np.sin(u)), 0.3 * np.abs(np.sin(u))])
    z = mean + rng.standard_normal((n, 2)) * np.sqrt(var)
    padded = np.hstack([z, np.zeros((n, n_neurons - 2))])
    flow = RandomRealNVP(n_neurons, rng)
    rates = np.exp(2.2 * np.tanh(flow(padded)))
    x = rng.poisson(rates).astype(np.float32)
    if return_flow:
        return x, u.astype(np.float32), z.astype(np.float32), flow
    return x, u.astype(np.float32), z.astype(np.float32)


def bayes_r2(x: np.ndarray, z: np.ndarray, flow: RandomRealNVP, step: float = 0.04, n_u: int = 400) -> float:
    """R² of the Bayes-optimal estimate ``E[z | x]`` (the posterior mean under the true generator).

    No function of ``x`` predicts ``z`` with a lower mean squared error, so no embedding of ``x``
    followed by a linear read-out exceeds this R² (up to the in-sample fit of a few coefficients
    on 15,000 samples). The posterior is computed on a grid over ``z`` (spacing ``step``) with the
    prior ``p(z) = mean_u N(z; (u, 2 sin u), diag(0.6 - 0.3 |sin u|, 0.3 |sin u|))`` over ``n_u``
    values of ``u`` and the Poisson likelihood of the counts; halving the spacing and a 10x finer
    ``u`` grid change the result by less than 0.001.
    """
    from sklearn.metrics import r2_score

    g1 = np.arange(-3.0, 9.3, step)
    g2 = np.arange(-4.2, 4.2, step)
    grid = np.stack(np.meshgrid(g1, g2, indexing="ij"), -1).reshape(-1, 2)
    pre = flow(np.hstack([grid, np.zeros((len(grid), flow.dim - 2))]))
    log_rates = 2.2 * np.tanh(pre)  # (G, N)
    rate_sum = np.exp(log_rates).sum(1)
    us = np.linspace(0.0, 2 * np.pi, n_u)[:, None]
    prior = np.zeros(len(grid))
    for a in range(0, n_u, 50):
        ub = us[a : a + 50]
        v1 = 0.6 - 0.3 * np.abs(np.sin(ub))
        v2 = 0.3 * np.abs(np.sin(ub)) + 1e-6
        log_n = -0.5 * ((grid[None, :, 0] - ub) ** 2 / v1 + (grid[None, :, 1] - 2 * np.sin(ub)) ** 2 / v2)
        prior += np.exp(log_n - 0.5 * np.log(v1 * v2)).sum(0)
    log_prior = np.log(prior + 1e-300) - rate_sum
    post = np.empty((len(x), 2))
    for a in range(0, len(x), 500):
        ll = x[a : a + 500].astype(np.float64) @ log_rates.T + log_prior[None]
        ll -= ll.max(1, keepdims=True)
        w = np.exp(ll)
        post[a : a + 500] = (w @ grid) / w.sum(1, keepdims=True)
    return float(np.mean(r2_score(z, post, multioutput="raw_values")))


def run_one(
    seed: int, settings: dict, n_train: int = 12_000, data_seed: int | None = None, with_bayes: bool = False
) -> dict:
    from behavenet.eval.metrics import latent_r2
    from behavenet.models.contrastive import ContrastiveEmbedding

    x, u, z, flow = make_data(seed if data_seed is None else data_seed, return_flow=True)
    est = ContrastiveEmbedding(seed=seed, time_offsets=1, **settings)
    t0 = time.perf_counter()
    est.fit(x[:n_train], u[:n_train])
    fit_s = time.perf_counter() - t0
    emb = est.transform(x)
    in_sample = latent_r2(emb, z)["r2"]
    reg_tr = latent_r2(
        np.concatenate([emb[:n_train], emb[n_train:]]),
        z,
        held_out=True,
        test_fraction=(len(x) - n_train) / len(x),
        split="contiguous",
    )["r2"]
    # what any embedding that is a function of the label alone can reach: E[z | u] = (u, 2 sin u)
    bound = latent_r2(np.hstack([u, np.sin(u), np.cos(u)]), z)["r2"]
    row = {
        "seed": seed,
        "r2_in_sample": round(in_sample, 4),
        "r2_held_out": round(reg_tr, 4),
        "r2_label_only_bound": round(bound, 4),
    }
    if with_bayes:
        row["r2_bayes_bound"] = round(bayes_r2(x, z, flow), 4)
    row.update({"fit_s": round(fit_s, 1), "final_loss": round(float(np.mean(est.history_[-50:])), 4)})
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    p.add_argument("--iters", type=int, default=None, help="override max_iterations")
    p.add_argument("--output-dimension", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument(
        "--data-seed",
        type=int,
        default=None,
        help="one data set for every seed (default: each seed draws its own data set)",
    )
    p.add_argument(
        "--bayes-bound",
        action="store_true",
        help="also report r2_bayes_bound, the R² of E[z | x] under the true generator (~25 s a seed)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    settings = dict(PRESETS[args.preset])
    if args.iters:
        settings["max_iterations"] = args.iters
    if args.output_dimension:
        settings["output_dimension"] = args.output_dimension
    if args.learning_rate:
        settings["learning_rate"] = args.learning_rate
    rows = []
    for seed in args.seeds:
        row = run_one(seed, settings, data_seed=args.data_seed, with_bayes=args.bayes_bound)
        rows.append(row)
        print(json.dumps(row), flush=True)
    med = statistics.median(r["r2_in_sample"] for r in rows)
    med_ho = statistics.median(r["r2_held_out"] for r in rows)
    summary = {
        "preset": args.preset,
        "settings": settings,
        "seeds": args.seeds,
        "median_r2_in_sample": med,
        "median_r2_held_out": med_ho,
        "min_r2_in_sample": min(r["r2_in_sample"] for r in rows),
        "max_r2_in_sample": max(r["r2_in_sample"] for r in rows),
        "runs": rows,
    }
    if args.bayes_bound:
        summary["median_r2_bayes_bound"] = statistics.median(r["r2_bayes_bound"] for r in rows)
    print(
        f"median in-sample R2 over {len(rows)} seeds: {med:.4f} (held-out {med_ho:.4f}); "
        "CEBRA-Behavior (paper, 100 seeds): 0.921"
    )
    if args.bayes_bound:
        print(f"median R2 of E[z | x] (no embedding of x can exceed it): {summary['median_r2_bayes_bound']:.4f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
