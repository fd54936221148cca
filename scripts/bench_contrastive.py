#!/usr/bin/env python
"""Side-by-side CPU benchmark: behavenet's contrastive model against the ``cebra`` package.

Both sides get the same synthetic data (the generator of ``cebra_bench.py`` in the shared
reference: 10,000 x 100 Poisson spike counts from a smooth 2-D latent with Gaussian tuning
curves; the first 8,000 frames train, the last 2,000 are held out) and the same settings:
offset10 encoder, batch 512, output dimension 8, 1000 iterations, learning rate 3e-4,
temperature 1, time offset 10, cosine similarity; ``time_delta`` with the latent as a continuous
label, and ``time`` without labels.

Every measurement runs in its own subprocess (so peak RSS is per run), ours and cebra's
alternating. Reported per run: fit seconds, iterations per second (fit only), CPU seconds of the
fit (``time.process_time``, less sensitive to busy neighbours on shared machines), peak RSS
(``ru_maxrss``), held-out R2 of a LinearRegression and of a cosine kNN (k=25) from embedding to
latent (fitted on the training embedding), final InfoNCE and goodness of fit.

cebra is installed in its own virtual environment so it cannot disturb behavenet's::

    python3 -m venv .bench/cebra-venv
    .bench/cebra-venv/bin/pip install torch==2.13.0
    echo torch==2.13.0 > /tmp/pin.txt
    .bench/cebra-venv/bin/pip install cebra==0.6.1 -c /tmp/pin.txt

Usage::

    python scripts/bench_contrastive.py --reps 3 --threads 1 2 --out .bench/contrastive.json
    python scripts/bench_contrastive.py --worker ours --conditional time_delta --threads 1

This file must stay importable without behavenet (the cebra worker runs in cebra's venv).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CEBRA_PYTHON = ROOT / ".bench" / "cebra-venv" / "bin" / "python"


def make_data(seed: int, T: int = 10_000, N: int = 100, dt: float = 0.02):
    """Poisson spike counts driven by a smooth 2-D latent (the reference benchmark's data).

    The latent is Gaussian-smoothed white noise (sd 50 bins) rescaled to [-1, 1] per dimension;
    neuron i fires at ``0.5 + 20 exp(-|z - c_i|^2 / (2 * 0.3^2))`` Hz around a centre drawn
    uniformly in [-1, 1]^2, and counts are Poisson with 20 ms bins. Same seed, same arrays as
    the reference script (same generator calls in the same order).
    """
    import numpy as np
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    latent = gaussian_filter1d(rng.standard_normal((T, 2)), sigma=50, axis=0)
    latent -= latent.min(0)
    latent = 2 * latent / latent.max(0) - 1
    centres = rng.uniform(-1, 1, size=(N, 2))
    sq_dist = ((latent[:, None, :] - centres[None]) ** 2).sum(-1)
    rate_hz = 0.5 + 20.0 * np.exp(-sq_dist / (2 * 0.3**2))
    counts = rng.poisson(rate_hz * dt).astype(np.float32)
    return counts, latent.astype(np.float32)


def _scores(emb_tr, emb_te, z_tr, z_te) -> dict:
    import numpy as np
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.neighbors import KNeighborsRegressor

    lin = LinearRegression().fit(emb_tr, z_tr)
    knn = KNeighborsRegressor(n_neighbors=25, metric="cosine").fit(emb_tr, z_tr)
    return {
        "r2_linear_heldout": round(float(r2_score(z_te, lin.predict(emb_te))), 4),
        "r2_linear_train": round(float(r2_score(z_tr, lin.predict(emb_tr))), 4),
        "r2_knn_heldout": round(float(r2_score(z_te, knn.predict(emb_te))), 4),
        "embedding_finite": bool(np.isfinite(emb_tr).all() and np.isfinite(emb_te).all()),
    }


def import_impl(which: str) -> str:
    """Import one side (``ours``: behavenet's estimator; ``cebra``) and return its version; the
    caller times it."""
    if which == "ours":
        import behavenet
        import behavenet.models.contrastive.estimator  # noqa: F401

        return behavenet.__version__
    import cebra

    return cebra.__version__


def settings(args, conditional: str, output_dimension: int = 8) -> dict:
    """The estimator arguments both sides share (CEBRA's names)."""
    return dict(
        model_architecture="offset10-model",
        batch_size=args.batch_size,
        learning_rate=3e-4,
        temperature=1.0,
        output_dimension=output_dimension,
        max_iterations=args.iters,
        distance="cosine",
        conditional=conditional,
        time_offsets=10,
        device="cpu",
        verbose=False,
    )


def make_model(which: str, seed: int, **common):
    """An unfitted estimator of one side. cebra 0.6.1 has no seed argument: every global
    generator it could draw from is seeded instead (its samplers still draw their own seeds)."""
    if which == "ours":
        from behavenet.models.contrastive import ContrastiveEmbedding

        return ContrastiveEmbedding(seed=seed, **common)
    import random

    import cebra
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return cebra.CEBRA(**common)


def training_losses(which: str, model, batch_size: int):
    """``(losses per step, final = mean of the last 50, goodness of fit in bits)`` of a fit."""
    import numpy as np

    if which == "ours":
        from behavenet.models.contrastive.losses import goodness_of_fit_bits

        losses = np.asarray(model.history_, dtype=np.float64)
        final = float(np.mean(losses[-50:]))
        return losses, final, float(goodness_of_fit_bits(final, batch_size))
    import cebra

    losses = np.asarray(model.state_dict_["log"]["total"], dtype=np.float64)
    final = float(np.mean(losses[-50:]))
    return losses, final, float(cebra.sklearn.metrics.infonce_to_goodness_of_fit(final, model))


def worker(args) -> dict:
    t_import = time.perf_counter()
    import numpy as np
    import torch

    version = import_impl(args.worker)
    t_import = time.perf_counter() - t_import
    torch.set_num_threads(args.threads)
    rss_import = _maxrss_mb()

    X, z = make_data(args.seed)
    split = int(0.8 * len(X))
    X_tr, X_te, z_tr, z_te = X[:split], X[split:], z[:split], z[split:]
    model = make_model(args.worker, args.seed, **settings(args, args.conditional))

    t0, c0 = time.perf_counter(), time.process_time()
    if args.conditional == "time":
        model.fit(X_tr)
    else:
        model.fit(X_tr, z_tr)
    fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    rss_fit = _maxrss_mb()

    t0 = time.perf_counter()
    emb_tr, emb_te = model.transform(X_tr), model.transform(X_te)
    transform_s = time.perf_counter() - t0
    rss_transform = _maxrss_mb()

    _, final, gof = training_losses(args.worker, model, args.batch_size)

    out = dict(
        impl=args.worker,
        version=version,
        conditional=args.conditional,
        seed=args.seed,
        iters=args.iters,
        batch_size=args.batch_size,
        threads=torch.get_num_threads(),
        fit_s=round(fit_s, 3),
        it_per_s=round(args.iters / fit_s, 2),
        fit_cpu_s=round(fit_cpu_s, 3),
        cpu_ms_per_it=round(1000 * fit_cpu_s / args.iters, 2),
        transform_s=round(transform_s, 3),
        import_s=round(t_import, 2),
        rss_import_mb=rss_import,
        rss_fit_mb=rss_fit,
        peak_rss_mb=rss_transform,
        final_infonce=round(final, 4),
        gof_bits=round(gof, 3),
        torch=torch.__version__,
        numpy=np.__version__,
        python=platform.python_version(),
        loadavg_end=round(os.getloadavg()[0], 2),
    )
    out.update(_scores(emb_tr, emb_te, z_tr, z_te))
    out["peak_rss_with_scoring_mb"] = _maxrss_mb()
    return out


def _maxrss_mb() -> float:
    """Peak resident set size of this process so far (``ru_maxrss``), in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ---------------------------------------------------------------------- orchestration
def run_worker(cmd: list[str], threads: int, what: str) -> dict:
    """Run one worker subprocess with ``threads`` OpenMP/MKL threads and return its ``RESULT`` JSON
    line as a dict, with the 1-minute load average at the start added as ``loadavg_start``."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    load_before = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{what} failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads(lines[-1][len("RESULT ") :])
    res["loadavg_start"] = round(load_before, 2)
    return res


def _run(python: str, impl: str, conditional: str, threads: int, seed: int, iters: int, batch: int) -> dict:
    cmd = [
        python,
        str(Path(__file__).resolve()),
        "--worker",
        impl,
        "--conditional",
        conditional,
        "--threads",
        str(threads),
        "--seed",
        str(seed),
        "--iters",
        str(iters),
        "--batch-size",
        str(batch),
    ]
    return run_worker(cmd, threads, f"{impl} {conditional}")


def _median(rows: list[dict], key: str):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.median(vals), 4) if vals else None


def summarise(results: list[dict]) -> dict:
    keys = ["it_per_s", "cpu_ms_per_it", "peak_rss_mb", "r2_linear_heldout", "r2_knn_heldout", "gof_bits"]
    table = {}
    for r in results:
        table.setdefault((r["conditional"], r["threads"], r["impl"]), []).append(r)
    summary = {}
    for (cond, threads, impl), rows in sorted(table.items()):
        summary[f"{cond}|{threads}|{impl}"] = {k: _median(rows, k) for k in keys} | {"n": len(rows)}
    return summary


def markdown(results: list[dict], summary: dict) -> str:
    lines = [
        "| conditional | threads | impl | rep | fit s | it/s | CPU ms/it | peak RSS MB | R² lin held-out "
        "| R² kNN held-out | GoF bits | load start→end |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    reps: dict = {}
    for r in results:
        key = (r["conditional"], r["threads"], r["impl"])
        reps[key] = reps.get(key, 0) + 1
        lines.append(
            f"| {r['conditional']} | {r['threads']} | {r['impl']} | {reps[key]} | {r['fit_s']} | "
            f"{r['it_per_s']} | {r['cpu_ms_per_it']} | {r['peak_rss_mb']} | {r['r2_linear_heldout']} | "
            f"{r['r2_knn_heldout']} | {r['gof_bits']} | {r['loadavg_start']}→{r['loadavg_end']} |"
        )
    lines += [
        "",
        "Medians:",
        "",
        "| conditional | threads | impl | it/s | CPU ms/it | peak RSS MB | R² lin held-out | R² kNN held-out "
        "| GoF bits |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, m in summary.items():
        cond, threads, impl = key.split("|")
        lines.append(
            f"| {cond} | {threads} | {impl} | {m['it_per_s']} | {m['cpu_ms_per_it']} | {m['peak_rss_mb']} | "
            f"{m['r2_linear_heldout']} | {m['r2_knn_heldout']} | {m['gof_bits']} |"
        )
    lines += [
        "",
        "Ratios (ours / cebra, medians):",
        "",
        "| conditional | threads | it/s ratio | CPU-time ratio (cebra/ours) | RSS ours/cebra | ΔkNN R² |",
        "|---|---|---|---|---|---|",
    ]
    pairs = sorted({tuple(k.split("|")[:2]) for k in summary})
    for cond, threads in pairs:
        o, c = summary.get(f"{cond}|{threads}|ours"), summary.get(f"{cond}|{threads}|cebra")
        if not o or not c:
            continue
        lines.append(
            f"| {cond} | {threads} | {o['it_per_s'] / c['it_per_s']:.2f}x | "
            f"{c['cpu_ms_per_it'] / o['cpu_ms_per_it']:.2f}x | {o['peak_rss_mb'] / c['peak_rss_mb']:.2f} | "
            f"{o['r2_knn_heldout'] - c['r2_knn_heldout']:+.4f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", choices=["ours", "cebra"], help="run one measurement in this process")
    p.add_argument("--conditional", choices=["time_delta", "time"], default="time_delta")
    p.add_argument("--conditionals", nargs="+", default=["time_delta", "time"])
    p.add_argument("--threads", type=int, nargs="+", default=[1])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iters", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--impls", nargs="+", default=["ours", "cebra"])
    p.add_argument("--ours-python", default=sys.executable)
    p.add_argument("--cebra-python", default=str(DEFAULT_CEBRA_PYTHON))
    p.add_argument("--out", default=str(ROOT / ".bench" / "contrastive.json"))
    args = p.parse_args(argv)

    if args.worker:
        args.threads = args.threads[0]
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return

    pythons = {"ours": args.ours_python, "cebra": args.cebra_python}
    if "cebra" in args.impls and not Path(args.cebra_python).exists():
        sys.exit(f"cebra venv not found at {args.cebra_python}; see the module docstring to create it")
    results = []
    for rep in range(args.reps):
        for threads in args.threads:
            for cond in args.conditionals:
                order = args.impls if rep % 2 == 0 else list(reversed(args.impls))
                for impl in order:
                    res = _run(pythons[impl], impl, cond, threads, args.seed, args.iters, args.batch_size)
                    results.append(res)
                    print(json.dumps(res), flush=True)
    summary = summarise(results)
    machine = machine_info()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"machine": machine, "args": vars(args), "results": results, "summary": summary}, indent=1)
    )
    print(markdown(results, summary))


def machine_info() -> dict:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
