#!/usr/bin/env python
"""Side-by-side CPU benchmark on REAL data: behavenet's contrastive model against ``cebra``.

The companion of ``scripts/bench_contrastive.py`` (synthetic data); it reuses that script's worker
plumbing. Both sides are fitted on the bundled recording ``data/linear_track.h5`` (31 tetrode
units of a rat on a linear track, 100 ms bins, 9,852 frames, one continuous run epoch), with the
data given **as a user gives it**:

* input: the raw spike counts, ``(T, 31)``, exactly as stored (uint16, no scaling);
* labels: ONE continuous array in raw units, ``[position_px, right, left]``, the layout of CEBRA's
  rat-hippocampus demo (``continuous_index``: position plus two 0/1 running-direction columns).
  Position is the linearised track position in camera pixels (about 0..476 px), not normalised;
  ``right``/``left`` come from the session's ``direction`` frame label (rest frames are 0, 0).

Split (``--split``), frames held out of ``fit`` and embedded by separate ``transform`` calls:

* ``blocks`` (default): the recording (one trial) is cut into 30 s pseudo-trials, as behavenet's
  ``linear_track`` data config does, and every 5th pseudo-trial is held out (behavenet's
  ``assign_splits`` with ``"4;0;1;0"``, 6 of 32 pseudo-trials, 18 % of the frames); 10 frames on
  each side of a held-out pseudo-trial are used by neither side. ``fit`` gets the training frames
  concatenated into one array (what a user without trial structure passes).
* ``last``: the first 80 % of the frames train, the last 20 % are held out (CEBRA's decoding demo).

Both sides: ``offset10-model``, ``conditional="time_delta"``, ``time_offsets=10``, batch 512,
learning rate 3e-4, temperature 1, cosine similarity, output dimension 8 and the same number of
iterations. Every fit runs in its own subprocess, ours and cebra's alternating, with a fresh seed
(ours: ``seed=``; cebra 0.6.1 has no seed argument, so its worker seeds ``random``, numpy and torch
globally; its distributions still draw their own generator seeds, so its fits are not repeatable).

Reported per fit: fit seconds, iterations/s and CPU ms/iteration of the fit, the final InfoNCE
(mean of the last 50 training steps) and goodness of fit in bits, and on the held-out frames:
position decoded by a cosine kNN regressor (k = 25) fitted on the training embedding (R² and
median absolute error in px) and the 3-class direction label (rest/leftward/rightward) decoded
by a cosine kNN classifier (k = 25): accuracy and balanced accuracy. A reference line decodes the
same targets from the raw spike counts summed over the encoder's 10-frame window.

The summary gives mean ± sd over the fits per tool and metric, and the speed ratio. cebra runs
in its own venv (see ``bench_contrastive.py``); that venv has no h5py, so the orchestrator reads
the session with behavenet's reader once and hands both workers the same ``.npz``.

Usage::

    python scripts/bench_contrastive_real.py --fits 8 --iters 2000 --threads 1 \\
        --cebra-python .bench/cebra-venv/bin/python --out .bench/contrastive_real.json
    python scripts/bench_contrastive_real.py --quick          # 2 fits x 50 iterations, smoke test

This file must stay importable without behavenet (the cebra worker runs in cebra's venv).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_contrastive import (
    DEFAULT_CEBRA_PYTHON,
    ROOT,
    _maxrss_mb,
    import_impl,
    machine_info,
    make_model,
    run_worker,
    settings,
    training_losses,
)

DEFAULT_DATA = ROOT / "data" / "linear_track.h5"
TRAIN_FRACTION = 0.8  # split "last"
BLOCK_FRAMES = 300  # split "blocks": 30 s pseudo-trials at 10 fps
BUFFER = 10  # frames left out of training on each side of a held-out pseudo-trial
WINDOW = (5, 5)  # receptive field of offset10: frames [t - 5, t + 5)
K = 25
#: per-fit metrics summarised as mean ± sd (key, label in the markdown table)
METRICS = [
    ("fit_s", "fit s"),
    ("it_per_s", "it/s"),
    ("cpu_ms_per_it", "CPU ms/it"),
    ("final_infonce", "final InfoNCE"),
    ("gof_bits", "GoF bits"),
    ("pos_r2", "position R² (held-out)"),
    ("pos_median_abs_err_px", "position median abs err (px)"),
    ("dir_accuracy", "direction accuracy"),
    ("dir_balanced_accuracy", "direction balanced acc."),
]


# ---------------------------------------------------------------------- data (orchestrator)
def split_roles(n: int, trials, split: str):
    """Per-frame role: 1 = train, 2 = held out, 0 = unused (buffer).

    ``"blocks"``: the trials are cut into 30 s pseudo-trials as ``conf/data/linear_track.yaml`` does
    (``trial_seconds: 30``, :func:`behavenet.data.splits.chunk_trials`), and dealt out with
    :func:`behavenet.data.splits.assign_splits` in blocks of 4 train + 1 held-out (``"4;0;1;0"``),
    so every 5th pseudo-trial is held out (about 20 %). The ``BUFFER`` frames on each side of a
    held-out pseudo-trial are used by neither side, so no training window (receptive field 10) and
    no time-offset positive (10 frames) reaches a held-out frame.
    ``"last"``: the first ``TRAIN_FRACTION`` of the frames train and the rest is held out (the split
    of CEBRA's decoding demo).
    """
    import numpy as np

    from behavenet.data.splits import assign_splits, chunk_trials

    role = np.zeros(n, dtype=np.int8)
    if split == "last":
        cut = round(TRAIN_FRACTION * n)
        role[:cut], role[cut:] = 1, 2
        return role
    chunks = chunk_trials(trials, BLOCK_FRAMES)
    roles = assign_splits(len(chunks), "4;0;1;0")
    for (a, b), r in zip(chunks, roles):
        role[a:b] = 1 if r == "train" else 2 if r == "test" else 0
    held = role == 2
    near = np.convolve(held.astype(float), np.ones(2 * BUFFER + 1), mode="same") > 0
    role[near & ~held] = 0
    return role


def segments(role, value: int) -> list[tuple[int, int]]:
    """The ``[start, stop)`` runs of consecutive frames whose role is ``value``."""
    import numpy as np

    m = np.concatenate([[False], np.asarray(role) == value, [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def export_session(h5: Path, out: Path, split: str = "blocks") -> dict:
    """Read the recording with behavenet's reader and save the arrays both workers use.

    Runs in behavenet's environment (needs h5py); the workers only need numpy.
    """
    import numpy as np

    from behavenet.data.reader import open_session

    with open_session(h5) as s:
        spikes = s.read("spikes")
        behavior = s.read("behavior")
        names = list(s.behavior_names)
        direction, vocab = s.frame_label("direction")
        trials = np.asarray(s.trials)
        fps = float(s.fps)
    position = behavior[:, names.index("position")].astype(np.float32)
    n = len(spikes)
    role = split_roles(n, trials, split)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        spikes=spikes,
        position=position,
        direction=direction.astype(np.int64),
        vocab=np.array(vocab),
        trials=trials,
        fps=fps,
        role=role,
    )
    return {
        "file": str(h5),
        "frames": n,
        "units": int(spikes.shape[1]),
        "fps": fps,
        "spikes_dtype": str(spikes.dtype),
        "trials": trials.tolist(),
        "direction_vocab": list(vocab),
        "split": split,
        "train_frames": int((role == 1).sum()),
        "heldout_frames": int((role == 2).sum()),
        "unused_frames": int((role == 0).sum()),
        "train_segments": segments(role, 1),
        "heldout_segments": segments(role, 2),
        "position_range_px": [round(float(position.min()), 1), round(float(position.max()), 1)],
        "direction_counts": np.bincount(direction, minlength=len(vocab)).tolist(),
    }


def user_labels(position, direction, vocab):
    """The label array a CEBRA user passes: ``[position_px, right, left]``, float32, raw units."""
    import numpy as np

    vocab = [str(v) for v in vocab]
    right = (direction == vocab.index("rightward")).astype(np.float32)
    left = (direction == vocab.index("leftward")).astype(np.float32)
    return np.c_[position, right, left].astype(np.float32)


def load_arrays(path) -> dict:
    """Train and held-out arrays. ``fit`` gets the training segments concatenated (one array, as a
    user without trial structure passes it); ``seg_tr``/``seg_te`` are the segments, each of which
    is embedded separately (so no window spans two segments)."""
    import numpy as np

    d = np.load(path)
    role = d["role"]
    X, pos, direc = d["spikes"], d["position"], d["direction"]
    y = user_labels(pos, direc, d["vocab"])
    out = {"X": X, "seg_tr": segments(role, 1), "seg_te": segments(role, 2)}
    for tag, value in (("tr", 1), ("te", 2)):
        m = role == value
        out.update({f"X_{tag}": X[m], f"y_{tag}": y[m], f"pos_{tag}": pos[m], f"dir_{tag}": direc[m]})
    return out


def embed(fn, X, segs):
    """``fn`` applied to each segment of ``X`` separately, concatenated."""
    import numpy as np

    return np.concatenate([np.asarray(fn(X[a:b]), dtype=np.float32) for a, b in segs])


def window_counts(X, left: int = WINDOW[0], right: int = WINDOW[1]):
    """Spike counts summed over each frame's encoder window ``[t - left, t + right)``, edges clamped."""
    import numpy as np

    X = np.asarray(X, dtype=np.float64)
    c = np.concatenate([np.zeros((1, X.shape[1])), np.cumsum(X, axis=0)])
    t = np.arange(len(X))
    lo, hi = np.clip(t - left, 0, len(X)), np.clip(t + right, 0, len(X))
    return (c[hi] - c[lo]).astype(np.float32)


def decode_scores(emb_tr, emb_te, pos_tr, pos_te, dir_tr, dir_te, k: int = K) -> dict:
    """Held-out decoding with cosine kNN models fitted on the training frames."""
    import numpy as np
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, r2_score
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    reg = KNeighborsRegressor(n_neighbors=k, metric="cosine").fit(emb_tr, pos_tr)
    pred = reg.predict(emb_te)
    clf = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(emb_tr, dir_tr)
    dpred = clf.predict(emb_te)
    return {
        "pos_r2": round(float(r2_score(pos_te, pred)), 4),
        "pos_median_abs_err_px": round(float(np.median(np.abs(pred - pos_te))), 2),
        "dir_accuracy": round(float(accuracy_score(dir_te, dpred)), 4),
        "dir_balanced_accuracy": round(float(balanced_accuracy_score(dir_te, dpred)), 4),
        "embedding_finite": bool(np.isfinite(emb_tr).all() and np.isfinite(emb_te).all()),
    }


# ---------------------------------------------------------------------- one fit (worker)
def worker(args) -> dict:
    t_import = time.perf_counter()
    import numpy as np
    import torch

    version = import_impl(args.worker)
    t_import = time.perf_counter() - t_import
    torch.set_num_threads(args.threads)

    d = load_arrays(args.data)
    model = make_model(args.worker, args.seed, **settings(args, "time_delta", args.output_dimension))

    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(d["X_tr"], d["y_tr"])
    fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - c0

    emb_tr, emb_te = embed(model.transform, d["X"], d["seg_tr"]), embed(model.transform, d["X"], d["seg_te"])
    losses, final, gof = training_losses(args.worker, model, args.batch_size)
    block = max(1, len(losses) // 20)
    curve = [round(float(losses[i : i + block].mean()), 4) for i in range(0, len(losses), block)]

    out = dict(
        impl=args.worker,
        version=version,
        seed=args.seed,
        iters=args.iters,
        batch_size=args.batch_size,
        output_dimension=args.output_dimension,
        threads=torch.get_num_threads(),
        fit_s=round(fit_s, 3),
        it_per_s=round(args.iters / fit_s, 2),
        fit_cpu_s=round(fit_cpu_s, 3),
        cpu_ms_per_it=round(1000 * fit_cpu_s / args.iters, 2),
        import_s=round(t_import, 2),
        peak_rss_mb=_maxrss_mb(),
        final_infonce=round(final, 4),
        gof_bits=round(gof, 3),
        loss_curve_block=block,
        loss_curve=curve,
        embedding_sha=hashlib.sha256(emb_te.tobytes()).hexdigest()[:16],
        torch=torch.__version__,
        numpy=np.__version__,
        python=platform.python_version(),
        loadavg_end=round(os.getloadavg()[0], 2),
    )
    out.update(decode_scores(emb_tr, emb_te, d["pos_tr"], d["pos_te"], d["dir_tr"], d["dir_te"]))
    return out


# ---------------------------------------------------------------------- orchestration
def baseline(data_npz) -> dict:
    """The same decoders on the raw counts summed over the encoder's 10-frame window (no model)."""
    d = load_arrays(data_npz)
    return decode_scores(
        embed(window_counts, d["X"], d["seg_tr"]),
        embed(window_counts, d["X"], d["seg_te"]),
        d["pos_tr"],
        d["pos_te"],
        d["dir_tr"],
        d["dir_te"],
    )


def _mean_sd(vals: list[float]) -> dict:
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    if not vals:
        return {"mean": None, "sd": None, "n": 0}
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return {"mean": statistics.fmean(vals), "sd": sd, "min": min(vals), "max": max(vals), "n": len(vals)}


def summarise(results: list[dict]) -> dict:
    summary: dict = {}
    for impl in sorted({r["impl"] for r in results}, key=lambda s: s != "ours"):
        rows = [r for r in results if r["impl"] == impl and not r.get("repeat")]
        summary[impl] = {key: _mean_sd([r[key] for r in rows]) for key, _ in METRICS}
    if "ours" in summary and "cebra" in summary:
        o, c = summary["ours"], summary["cebra"]
        cmp = {
            "it_per_s_ratio": o["it_per_s"]["mean"] / c["it_per_s"]["mean"],
            "cpu_time_ratio_cebra_over_ours": c["cpu_ms_per_it"]["mean"] / o["cpu_ms_per_it"]["mean"],
        }
        for key in ("pos_r2", "pos_median_abs_err_px", "dir_balanced_accuracy"):
            cmp[f"delta_{key}"] = o[key]["mean"] - c[key]["mean"]
            cmp[f"delta_{key}_within_sd"] = abs(cmp[f"delta_{key}"]) <= max(o[key]["sd"], c[key]["sd"])
        try:
            from scipy.stats import ttest_ind

            for key in ("pos_r2", "dir_balanced_accuracy"):
                a = [r[key] for r in results if r["impl"] == "ours" and not r.get("repeat")]
                b = [r[key] for r in results if r["impl"] == "cebra" and not r.get("repeat")]
                if len(a) > 1 and len(b) > 1:
                    cmp[f"welch_p_{key}"] = float(ttest_ind(a, b, equal_var=False).pvalue)
        except ImportError:  # pragma: no cover - scipy is a behavenet dependency
            pass
        summary["comparison"] = cmp
    return summary


def _fmt(m: dict, key: str) -> str:
    if m.get("mean") is None:
        return "–"
    digits = 4 if key in ("pos_r2", "dir_accuracy", "dir_balanced_accuracy", "final_infonce") else 2
    if key == "gof_bits":
        digits = 3
    return f"{m['mean']:.{digits}f} ± {m['sd']:.{digits}f}"


def markdown(results: list[dict], summary: dict, base: dict | None = None) -> str:
    header = (
        "| impl | seed | fit s | it/s | CPU ms/it | final InfoNCE | GoF bits | pos R² | pos med. abs err px "
        "| dir acc | dir bal. acc | load start→end |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        tag = " (repeat)" if r.get("repeat") else ""
        lines.append(
            f"| {r['impl']}{tag} | {r['seed']} | {r['fit_s']:.1f} | {r['it_per_s']} | {r['cpu_ms_per_it']} | "
            f"{r['final_infonce']} | {r['gof_bits']} | {r['pos_r2']} | {r['pos_median_abs_err_px']} | "
            f"{r['dir_accuracy']} | {r['dir_balanced_accuracy']} | "
            f"{r.get('loadavg_start', '?')}→{r['loadavg_end']} |"
        )
    impls = [k for k in summary if k != "comparison"]
    n = {k: summary[k]["pos_r2"]["n"] for k in impls}
    lines += [
        "",
        "Mean ± sd over the fits:",
        "",
        "| metric | " + " | ".join(f"{k} (n={n[k]})" for k in impls) + " |",
        "|---|" + "---|" * len(impls),
    ]
    for key, label in METRICS:
        lines.append(f"| {label} | " + " | ".join(_fmt(summary[k][key], key) for k in impls) + " |")
    if base:
        lines.append(
            f"\nReference without a model (kNN on the raw counts summed over the 10-frame window): "
            f"position R² {base['pos_r2']}, median abs err {base['pos_median_abs_err_px']} px, "
            f"direction accuracy {base['dir_accuracy']}, balanced accuracy {base['dir_balanced_accuracy']}."
        )
    cmp = summary.get("comparison")
    if cmp:
        speed = (
            f"Speed: ours / cebra it/s = **{cmp['it_per_s_ratio']:.2f}x** (CPU time per iteration "
            f"cebra / ours = {cmp['cpu_time_ratio_cebra_over_ours']:.2f}x)."
        )
        within = "within" if cmp["delta_pos_r2_within_sd"] else "outside"
        p_r2 = f"; Welch p = {cmp['welch_p_pos_r2']:.3g}" if "welch_p_pos_r2" in cmp else ""
        p_dir = (
            f" (Welch p = {cmp['welch_p_dir_balanced_accuracy']:.3g})" if "welch_p_dir_balanced_accuracy" in cmp else ""
        )
        delta = (
            f"ΔR² (ours − cebra) = {cmp['delta_pos_r2']:+.4f} ({within} one sd of the fits{p_r2}); "
            f"Δ balanced direction accuracy = {cmp['delta_dir_balanced_accuracy']:+.4f}{p_dir}."
        )
        lines += ["", speed, delta]
    return "\n".join(lines)


def _run_fit(python: str, impl: str, args, seed: int, data_npz: Path) -> dict:
    cmd = [
        python,
        str(Path(__file__).resolve()),
        "--worker",
        impl,
        "--data",
        str(data_npz),
        "--threads",
        str(args.threads),
        "--seed",
        str(seed),
        "--iters",
        str(args.iters),
        "--batch-size",
        str(args.batch_size),
        "--output-dimension",
        str(args.output_dimension),
    ]
    return run_worker(cmd, args.threads, f"{impl} seed {seed}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", choices=["ours", "cebra"], help="run one fit in this process (internal)")
    p.add_argument(
        "--data", default=str(DEFAULT_DATA), help="the session file (orchestrator) or the exported .npz (worker)"
    )
    p.add_argument(
        "--split",
        choices=["blocks", "last"],
        default="blocks",
        help="held-out frames: every 5th 30 s pseudo-trial (blocks) or the last 20 %% (last)",
    )
    p.add_argument("--fits", type=int, default=8, help="fits per tool, seeds --seed, --seed+1, ...")
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--output-dimension", type=int, default=8)
    p.add_argument("--impls", nargs="+", choices=["ours", "cebra"], default=["ours", "cebra"])
    p.add_argument(
        "--no-seed-check",
        action="store_true",
        help="skip the extra fit per tool that repeats the first seed (reproducibility check)",
    )
    p.add_argument("--quick", action="store_true", help="smoke test: 2 fits x 50 iterations, no seed check")
    p.add_argument("--ours-python", default=sys.executable)
    p.add_argument("--cebra-python", default=os.environ.get("CEBRA_PYTHON", str(DEFAULT_CEBRA_PYTHON)))
    p.add_argument("--out", default=str(ROOT / ".bench" / "contrastive_real.json"))
    args = p.parse_args(argv)

    if args.worker:
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return None
    if args.quick:
        args.fits, args.iters, args.no_seed_check = 2, 50, True
    if "cebra" in args.impls and not Path(args.cebra_python).exists():
        sys.exit(
            f"cebra venv not found at {args.cebra_python}; see scripts/bench_contrastive.py to create it "
            f"or pass --cebra-python / --impls ours"
        )

    out = Path(args.out)
    data_npz = out.with_suffix(".data.npz")
    data_info = export_session(Path(args.data), data_npz, args.split)
    base = baseline(data_npz)
    pythons = {"ours": args.ours_python, "cebra": args.cebra_python}
    results: list[dict] = []
    t_start = time.perf_counter()

    def record(res: dict) -> None:
        res["split"] = args.split
        results.append(res)
        print(json.dumps({k: v for k, v in res.items() if k != "loss_curve"}), flush=True)

    for i in range(args.fits):
        order = args.impls if i % 2 == 0 else list(reversed(args.impls))
        for impl in order:
            record(_run_fit(pythons[impl], impl, args, args.seed + i, data_npz))
    seed_check = {}
    if not args.no_seed_check:
        for impl in args.impls:
            res = _run_fit(pythons[impl], impl, args, args.seed, data_npz)
            res["repeat"] = True
            record(res)
            first = next(r for r in results if r["impl"] == impl and r["seed"] == args.seed and not r.get("repeat"))
            seed_check[impl] = {
                "same_embedding": res["embedding_sha"] == first["embedding_sha"],
                "pos_r2": [first["pos_r2"], res["pos_r2"]],
                "final_infonce": [first["final_infonce"], res["final_infonce"]],
            }
    summary = summarise(results)
    doc = {
        "machine": machine_info(),
        "args": vars(args),
        "data": data_info,
        "baseline_no_model": base,
        "total_wall_s": round(time.perf_counter() - t_start, 1),
        "results": results,
        "summary": summary,
        "seed_check": seed_check,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    print(markdown(results, summary, base))
    if seed_check:
        print("\nSeed check (first seed fitted twice): " + json.dumps(seed_check))
    return doc


if __name__ == "__main__":
    main()
