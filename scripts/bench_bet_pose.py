"""BeT on real pose: next-step negative log-likelihood of held-out frames vs constant velocity.

    python scripts/bench_bet_pose.py --data sleap --iterations 400 --seeds 0

Data: ``data/sleap-flies-clip/clip.slp`` (2 flies x 13 keypoints, 1,500 frames; heading
thorax -> head) or ``data/dlc-openfield`` (DeepLabCut predictions, one mouse). The first 80 % of
the frames train, the last 20 % are held out.

Both models predict the egocentric next-frame keypoint displacement of each animal
(:func:`behavenet.models.bet.pose.pose_actions`, in body-scale units, ``D = 2K`` values):

* **BeT**: the mixture ``sum_k p_k N(a; c_k + o_k, diag s_k^2)`` of its bins, with ``s_k^2`` the
  per-dimension variance of the training residuals ``a - c_k - o_k`` of the actions in bin ``k``;
* **constant velocity**: ``N(a_t; a_{t-1}, diag s^2)``, ``s^2`` the variance of ``a_t - a_{t-1}``
  on the training frames;
* (for scale) one Gaussian ``N(a_t; mean, diag var)`` of the training actions.

Reported: mean NLL per action (nats, summed over the ``D`` dimensions) over held-out frames
where both actions are complete (no NaN); lower is better.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def load(which: str) -> tuple[np.ndarray, list[int]]:
    if which == "sleap":
        from behavenet.io.sleap import load_slp

        sess = load_slp(ROOT / "data/sleap-flies-clip/clip.slp")
        kp = np.asarray(sess.pose.keypoints, dtype=np.float32)[..., :2]
        return kp, [1, 0]  # thorax -> head
    from behavenet.io import load as load_any  # noqa: PLC0415

    sess = load_any(ROOT / "data/dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.csv")
    kp = np.asarray(sess.pose.keypoints, dtype=np.float32)[..., :2]
    return kp, [kp.shape[2] - 1, 0]


def diag_gauss_nll(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    return 0.5 * (((x - mean) ** 2) / var + np.log(2 * np.pi * var)).sum(-1)


def bet_nll(bet, pose_train, pose_test) -> np.ndarray:
    from behavenet.models.bet import pose as P

    core = bet.model_
    heading, scale = tuple(bet.heading_), float(bet.pose_scale_)

    def outputs(pose):
        obs = P.pose_observations(pose, heading, scale)
        acts = P.pose_actions(pose, heading, scale)
        logp, offs = [], []
        with torch.no_grad():
            for i in range(pose.shape[1]):
                h = core.hidden_per_frame(torch.from_numpy(obs[:, i]))
                logits, off = core.heads(h)
                logp.append(torch.log_softmax(logits.double(), -1).numpy())
                offs.append(off.double().numpy())
        return np.stack(logp, 1), np.stack(offs, 1), acts.astype(np.float64)  # (T, A, K), (T, A, K, D), (T, A, D)

    centers = core.tokenizer.centers.double().numpy()
    lp, off, a = outputs(pose_train)
    ok = np.isfinite(a).all(-1)
    bins = ((a[ok][:, None] - centers[None]) ** 2).sum(-1).argmin(1)
    resid = a[ok] - centers[bins] - off[ok][np.arange(len(bins)), bins]
    var = np.stack([resid[bins == k].var(0) if (bins == k).sum() > 1 else resid.var(0) for k in range(len(centers))])
    var = np.maximum(var, 1e-6)
    lp, off, a = outputs(pose_test)
    ok = np.isfinite(a).all(-1)
    ok[0] = False  # the constant-velocity baseline needs the previous action
    ok[1:] &= np.isfinite(a[:-1]).all(-1)
    x = a[ok]  # (N, D)
    comp = lp[ok] - 0.5 * (
        ((x[:, None] - centers[None] - off[ok]) ** 2) / var[None] + np.log(2 * np.pi * var[None])
    ).sum(-1)
    return -np.logaddexp.reduce(comp, axis=-1), ok


def cv_nll(heading, scale, pose_train, pose_test, ok_test) -> np.ndarray:
    from behavenet.models.bet import pose as P

    a = P.pose_actions(pose_train, heading, scale).astype(np.float64)
    d = a[1:] - a[:-1]
    var = np.maximum(np.nanvar(d.reshape(-1, d.shape[-1]), 0), 1e-6)
    b = P.pose_actions(pose_test, heading, scale).astype(np.float64)
    prev = np.concatenate([np.full_like(b[:1], np.nan), b[:-1]])
    zero_var = np.maximum(np.nanvar(a.reshape(-1, a.shape[-1]), 0), 1e-6)
    zero_mean = np.nanmean(a.reshape(-1, a.shape[-1]), 0)
    return diag_gauss_nll(b[ok_test], prev[ok_test], var), diag_gauss_nll(b[ok_test], zero_mean, zero_var)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=["sleap", "dlc"], default="sleap")
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument(
        "--calibrate",
        action="store_true",
        help="fit BeT on the first 90%% of the training frames and estimate its per-bin residual variances on the "
        "last 10%% (not on the frames its offsets were fitted to)",
    )
    ap.add_argument(
        "--minibet-schedule", action="store_true", help="miniBET's optimiser schedule (lr 1e-4, constant), not ours"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    from behavenet import BehaviorTransformer

    kp, heading = load(args.data)
    cut = int(0.8 * len(kp))
    train, test = kp[:cut], kp[cut:]
    for seed in args.seeds:
        t0 = time.perf_counter()
        sched = dict(learning_rate=1e-4, lr_schedule="constant", warmup_steps=0) if args.minibet_schedule else {}
        fit_part, var_part = (train[: int(0.9 * cut)], train[int(0.9 * cut) :]) if args.calibrate else (train, train)
        bet = BehaviorTransformer(max_iterations=args.iterations, heading=heading, seed=seed, **sched)
        bet.fit_pose(fit_part)
        fit_s = time.perf_counter() - t0
        nll, ok = bet_nll(bet, var_part, test)
        base, still = cv_nll(tuple(bet.heading_), float(bet.pose_scale_), train, test, ok)
        print(
            json.dumps(
                {
                    "data": args.data,
                    "seed": seed,
                    "frames": list(kp.shape),
                    "held_out_actions": int(ok.sum()),
                    "bet_nll": round(float(nll.mean()), 3),
                    "constant_velocity_nll": round(float(base.mean()), 3),
                    "mean_action_gaussian_nll": round(float(still.mean()), 3),
                    "iterations": bet.n_iterations_,
                    "calibrated": bool(args.calibrate),
                    "fit_s": round(fit_s, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
