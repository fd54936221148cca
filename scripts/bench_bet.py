"""BeT side by side with miniBET (notmahi/miniBET) on the four-goal reaching task.

    python scripts/bench_bet.py all --minibet /work/bench-ext/minibet --out outputs/bench_bet
    python scripts/bench_bet.py quality --impl ours --seed 0      # one quality run (JSON on stdout)
    python scripts/bench_bet.py speed --impl minibet             # one timing run (JSON on stdout)

Data: ``behavenet.data.four_goal_reach.generate(1000, seed=0)`` (30-step demonstrations reaching
one of four goals that the observation does not show: four action modes at the start state),
windows of 10 (21,000), batches of 256 windows drawn uniformly with replacement.

Models (the reference configuration): GPT 4 layers, 4 heads, width 72, dropout 0.1, window 10,
24 k-means bins, focal gamma 2, offset weight 1e3; AdamW lr 1e-4, betas (0.9, 0.95), weight
decay 0.1 on Linear weights, gradient norm clipped to 1.0.

* ``ours``: :class:`behavenet.BehaviorTransformer` (k-means once on all training actions, then
  1,451 steps: the loss-bearing steps of miniBET's 1,500, whose first 49 are multiplied by 0
  while it collects actions for its k-means).
* ``minibet``: miniBET's ``BehaviorTransformer`` + ``GPT`` (imported from ``--minibet``, a work
  tree outside this repository; never copied), ``kmeans_fit_steps=50``, 1,500 steps in the loop
  below (batch sampling, forward, backward, clip, step).
* ``mse``: the regression baseline, the same estimator with ``n_clusters=1``: one bin, so the
  focal term is 0 and the model regresses the action (mean squared error), averaging the modes.

Metrics (the same code for every implementation; evaluation seed 10000 + seed, ``eval()``,
temperature 1): 2,000 actions sampled at fresh start states (history of one observation,
velocity 0), each assigned to the goal nearest in direction: the share of each mode, the modes
with >= 5 %, the normalised entropy of the shares (1 = uniform); 400 closed-loop rollouts of 30
steps (history of up to 10 observations): success = ending within 0.1 of a goal.

Speed: optimiser steps per second at batch 256 with 1 torch thread, median of per-iteration
rates over 200 timed steps after the k-means fit and 20 warm-up steps; peak RSS (``ru_maxrss``)
of the process; ``other_share`` = share of the machine's CPU time used by other processes during
the timed steps (``/proc/stat`` minus this process). ``all`` alternates the implementations in
fresh processes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WINDOW, BATCH, K = 10, 256, 24
GPT_SIZE = dict(n_layer=4, n_head=4, n_embd=72)
MINIBET_STEPS, KMEANS_STEPS = 1500, 50
OURS_STEPS = MINIBET_STEPS - (KMEANS_STEPS - 1)  # 1,451 loss-bearing steps


# ---------------------------------------------------------------------------------------------
# machine load


class CpuShare:
    """Share of all CPU time used by other processes since ``start()``."""

    @staticmethod
    def _read():
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
        idle = vals[3] + vals[4]
        total = sum(vals[:8])
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        own = int(fields[11]) + int(fields[12])  # utime + stime of this process
        return total, total - idle, own

    def start(self):
        self.t0 = self._read()
        return self

    def other_share(self) -> float:
        t1 = self._read()
        total, busy, own = (b - a for a, b in zip(self.t0, t1))
        return max(0.0, (busy - own) / total) if total > 0 else float("nan")


# ---------------------------------------------------------------------------------------------
# data and metrics


def data():
    from behavenet.data import four_goal_reach as fg

    obs, act, _ = fg.generate(1000, seed=0)
    return obs, act


def entropy(shares: np.ndarray) -> float:
    p = shares[shares > 0]
    return float(-(p * np.log(p)).sum() / np.log(len(shares)))


def evaluate(first_action, next_action, seed: int) -> dict:
    """``first_action(obs (N, 1, 10)) -> (N, 2)``; ``next_action(history (N, L, 10)) -> (N, 2)``."""
    from behavenet.data import four_goal_reach as fg

    cfg = fg.ReachConfig()
    rng = np.random.default_rng(10000 + seed)
    # branch point: 2,000 start states, one sampled action each
    pos = fg.initial_positions(2000, cfg, rng)
    a0 = first_action(fg.make_obs(pos, np.zeros_like(pos), 0, cfg, rng)[:, None])
    modes = fg.direction_mode(a0, cfg)
    shares = np.bincount(modes, minlength=4) / len(modes)
    # closed-loop rollouts
    pos = fg.initial_positions(400, cfg, rng)
    vel = np.zeros_like(pos)
    hist = []
    for t in range(cfg.horizon):
        hist.append(fg.make_obs(pos, vel, t, cfg, rng))
        a = next_action(np.stack(hist[-WINDOW:], 1))
        pos, vel = pos + a, a
    goal, dist = fg.nearest_goal(pos, cfg)
    ok = dist < 0.1
    rshares = np.bincount(goal[ok], minlength=4) / max(1, ok.sum())
    return {
        "branch_shares": shares.round(4).tolist(),
        "branch_modes_covered": int((shares >= 0.05).sum()),
        "branch_entropy": round(entropy(shares), 4),
        "branch_tv": round(float(0.5 * np.abs(shares - 0.25).sum()), 4),
        "rollout_success": round(float(ok.mean()), 4),
        "rollout_shares": rshares.round(4).tolist(),
        "rollout_entropy": round(entropy(rshares), 4),
    }


# ---------------------------------------------------------------------------------------------
# implementations


def ours_estimator(seed: int, steps: int = OURS_STEPS, n_clusters: int = K):
    from behavenet import BehaviorTransformer

    return BehaviorTransformer(
        n_clusters=n_clusters,
        window=WINDOW,
        dropout=0.1,
        focal_gamma=2.0,
        offset_loss_weight=1e3,
        batch_size=BATCH,
        max_iterations=steps,
        seed=seed,
        **GPT_SIZE,
    )


def run_ours_quality(seed: int, n_clusters: int = K) -> dict:
    import torch

    obs, act = data()
    t0 = time.perf_counter()
    bet = ours_estimator(seed, n_clusters=n_clusters).fit(obs, act)
    fit_s = time.perf_counter() - t0
    gen = torch.Generator().manual_seed(10000 + seed)
    res = evaluate(
        lambda o: bet.sample_next(o, generator=gen)[0],
        lambda h: bet.sample_next(h, generator=gen)[0],
        seed,
    )
    return {**res, "steps": bet.n_iterations_, "loss_last100": float(np.mean(bet.history_[-100:])), "fit_s": fit_s}


def _minibet(path: str, seed: int):
    import torch

    sys.path.insert(0, path)
    from behavior_transformer import GPT, BehaviorTransformer, GPTConfig

    torch.manual_seed(seed)
    gpt = GPT(GPTConfig(block_size=WINDOW, input_dim=10, dropout=0.1, **GPT_SIZE))
    bet = BehaviorTransformer(
        10,
        2,
        goal_dim=0,
        gpt_model=gpt,
        n_clusters=K,
        kmeans_fit_steps=KMEANS_STEPS,
        kmeans_iters=50,
        offset_loss_multiplier=1e3,
        gamma=2.0,
    )
    opt = bet.configure_optimizers(weight_decay=0.1, learning_rate=1e-4, betas=(0.9, 0.95))
    return bet, opt


def _minibet_step(bet, opt, ow, aw, rng):
    import torch

    idx = rng.integers(0, len(ow), BATCH)
    o, a = torch.from_numpy(ow[idx]), torch.from_numpy(aw[idx])
    _, loss, _ = bet(o, None, a)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(bet.parameters(), 1.0)
    opt.step()
    return float(loss.detach())


def run_minibet_quality(path: str, seed: int) -> dict:
    import torch

    from behavenet.data import four_goal_reach as fg

    obs, act = data()
    ow, aw = fg.windows(obs, act, WINDOW)
    bet, opt = _minibet(path, seed)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    bet.train()
    losses = [_minibet_step(bet, opt, ow, aw, rng) for _ in range(MINIBET_STEPS)]
    fit_s = time.perf_counter() - t0
    bet.eval()
    torch.manual_seed(10000 + seed)

    def act_fn(h):
        with torch.no_grad():
            return bet(torch.from_numpy(h), None, None)[0][:, -1].numpy()

    res = evaluate(act_fn, act_fn, seed)
    return {**res, "steps": MINIBET_STEPS, "loss_last100": float(np.mean(losses[-100:])), "fit_s": fit_s}


def run_speed(impl: str, path: str, n_timed: int = 200, warmup: int = 20) -> dict:
    import torch

    obs, act = data()
    rates = []
    if impl == "minibet":
        from behavenet.data import four_goal_reach as fg

        ow, aw = fg.windows(obs, act, WINDOW)
        bet, opt = _minibet(path, 0)
        rng = np.random.default_rng(0)
        bet.train()
        t0 = time.perf_counter()
        for _ in range(KMEANS_STEPS):
            _minibet_step(bet, opt, ow, aw, rng)
        kmeans_s = time.perf_counter() - t0
        for _ in range(warmup):
            _minibet_step(bet, opt, ow, aw, rng)
        load = CpuShare().start()
        for _ in range(n_timed):
            t = time.perf_counter()
            _minibet_step(bet, opt, ow, aw, rng)
            rates.append(1.0 / (time.perf_counter() - t))
    else:
        from behavenet.models.estimator import _forever
        from behavenet.models.registry import build_core

        bet = ours_estimator(0)
        seqs = [o for o in obs]
        from behavenet.data.splits import SplitData

        bounds = np.arange(len(seqs) + 1) * obs.shape[1]
        split = SplitData(
            "s0",
            {"obs": obs.reshape(-1, 10), "actions": act.reshape(-1, 2)},
            segments=np.stack([bounds[:-1], bounds[1:]], 1),
        )
        spec = {"inputs": {"obs": {"shapes": [[10]]}, "actions": {"shapes": [[2]]}}}
        config = bet._config(inputs=["obs"], action_input="actions", action_mode="value", goal_input=None)
        torch.manual_seed(0)
        core = build_core("bet", config, spec)
        # the estimator's loop (behavenet.models.estimator.train_core), step by step
        t0 = time.perf_counter()
        core.fit_data([split])
        kmeans_s = time.perf_counter() - t0
        batches = _forever(core.make_dataset([split], "train", 0))
        optimizer, scheduler = core.configure_optimizers(n_timed + warmup)
        core.train()

        def step():
            batch = next(batches)
            loss, _ = core.loss(batch, "train")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:  # the estimator steps its learning-rate schedule every step
                scheduler.step()
            return loss.detach()

        for _ in range(warmup):
            step()
        load = CpuShare().start()
        for _ in range(n_timed):
            t = time.perf_counter()
            step()
            rates.append(1.0 / (time.perf_counter() - t))
    other = load.other_share()
    return {
        "impl": impl,
        "it_per_s_median": round(float(np.median(rates)), 2),
        "it_per_s_overall": round(float(len(rates) / np.sum(1.0 / np.asarray(rates))), 2),
        "timed_iterations": n_timed,
        "kmeans_s": round(kmeans_s, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "other_share": round(other, 3),
        "threads": torch.get_num_threads(),
    }


# ---------------------------------------------------------------------------------------------
# driver


def _child(args: list[str]) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, cwd=str(ROOT), check=False
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["quality", "speed", "all"])
    ap.add_argument("--impl", choices=["ours", "minibet", "mse"], default="ours")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--repeats", type=int, default=3, help="timing runs per implementation (all)")
    ap.add_argument("--minibet", default=os.environ.get("MINIBET_DIR", "/work/bench-ext/minibet"))
    ap.add_argument("--out", default="outputs/bench_bet")
    ap.add_argument("--skip", nargs="*", default=[], help="parts of `all` to skip: speed quality")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.what == "quality":
        if args.impl == "minibet":
            res = run_minibet_quality(args.minibet, args.seed)
        else:
            res = run_ours_quality(args.seed, n_clusters=1 if args.impl == "mse" else K)
        print(json.dumps({"impl": args.impl, "seed": args.seed, **res}))
        return
    if args.what == "speed":
        print(json.dumps(run_speed(args.impl, args.minibet)))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
        },
        "speed": [],
        "quality": [],
    }
    if "speed" not in args.skip:
        for r in range(args.repeats):
            for impl in ("minibet", "ours"):
                res = _child(["speed", "--impl", impl, "--minibet", args.minibet])
                res["repeat"] = r
                results["speed"].append(res)
                print(json.dumps(res), flush=True)
                (out / "results.json").write_text(json.dumps(results, indent=1))
    if "quality" not in args.skip:
        for seed in args.seeds:
            for impl in ("minibet", "ours", "mse"):
                res = _child(["quality", "--impl", impl, "--seed", str(seed), "--minibet", args.minibet])
                results["quality"].append(res)
                print(json.dumps(res), flush=True)
                (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
