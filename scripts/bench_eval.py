#!/usr/bin/env python
"""Benchmark the MABe22 round-1 evaluation at real mouse scale.

Synthetic embeddings (3,736 clips x 1,800 frames x 128 float32 dims) are laid out by the REAL
official frame map and split lists (read from ``../shared/data/mabe22-metadata``), with synthetic
labels for all 13 mouse tasks (sequence-level tasks constant per clip, sparse frame-level
behaviours in bouts, some NaN). Each measurement runs in its own process under ``/usr/bin/time -v``.

Sub-commands::

    # write a fixture (scale 8 = the first 1/8 of the official map's clips, like the notes)
    python scripts/bench_eval.py make --out /tmp/mabe_bench/full --scale 1
    # one measurement (prints a JSON line with wall time and peak RSS)
    python scripts/bench_eval.py run --dir /tmp/mabe_bench/full --method fast --out r.json
    # the official evaluator's float32 numerics (fast), and the literal float32 sklearn path
    python scripts/bench_eval.py run --dir /tmp/mabe_bench/scale8 --official-compat --out c.json
    python scripts/bench_eval.py run --dir /tmp/mabe_bench/scale8 --method reference \
        --precision float32 --official-compat --out r32.json
    # compare two score files at rtol 1e-6 (max / median relative difference, worst cell)
    python scripts/bench_eval.py compare a.json b.json
    # a poorly conditioned fixture: 128 dims mixing 16 latent ones, noise 100x smaller, offset 5
    python scripts/bench_eval.py make --out /tmp/mabe_bench/ill8 --scale 8 --collinear 16 \
        --noise 0.01 --offset 5
    # everything: fixtures, repeated runs in fresh processes, comparison, a markdown table
    python scripts/bench_eval.py all --work /tmp/mabe_bench --repeats 3 --threads 1

Benchmarks may read ``../shared``; tests may not (they never import this script).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

DEFAULT_META = Path(__file__).resolve().parents[2] / "shared" / "data" / "mabe22-metadata" / "round1" / "metadata"
CLIP_LEN = 1800
POOLED = ("Pooled Score",)  # the only column --official-compat changes besides the numerics

# (task, kind, positive rate) for the 9 frame-level behaviours
BEHAVIOURS = [
    ("approaches", 0.010),
    ("chases", 0.005),
    ("close", 0.30),
    ("contact", 0.20),
    ("huddles", 0.10),
    ("oral_ear_contact", 0.010),
    ("oral_genital_contact", 0.015),
    ("oral_oral_contact", 0.010),
    ("watching", 0.05),
]


# ----------------------------------------------------------------------------------------------
# Fixture
# ----------------------------------------------------------------------------------------------


def _bouts(rng: np.random.Generator, n: int, rate: float, mean_len: int) -> np.ndarray:
    y = np.zeros(n, dtype=np.float32)
    n_bouts = rng.poisson(rate * n / mean_len)
    for s in rng.integers(0, n, n_bouts):
        y[s : s + max(1, int(rng.exponential(mean_len)))] = 1.0
    return y


def make(
    out: Path,
    scale: int,
    meta: Path,
    dim: int,
    seed: int,
    collinear: int = 0,
    offset: float = 0.0,
    noise: float = 1e-3,
) -> dict:
    """Write submission.npy, labels.npy, split.json and tasks.json under ``out``.

    ``collinear > 0`` makes the embedding poorly conditioned: its ``dim`` columns are mixtures of
    ``collinear`` latent columns plus independent noise ``noise`` times smaller, shifted by
    ``offset`` (the float32 fits of the official evaluator move most on such embeddings).
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from behavenet.eval.submission import write_submission
    from behavenet.utils.safe_pickle import load_npy_dict

    t0 = time.perf_counter()
    full_map = load_npy_dict(meta / "mouse_frame_number_map.npy")
    split = json.loads((meta / "jax_split.json").read_text())
    tasks = json.loads((meta / "jax_tasks.json").read_text())
    clips = list(full_map)[: math.ceil(len(full_map) / scale)]
    fmap = {c: full_map[c] for c in clips}  # contiguous from 0 (the official map is)
    keep = set(clips)
    split = {k: [c for c in v if c in keep] for k, v in split.items() if k != "UserTrain"}
    split["UserTrain"] = []
    n = max(e for _, e in fmap.values())
    vocab = list(tasks["task_id_list"])
    ttype = ["Continious" if t in ("experiment_day", "time_of_day") else "Discrete" for t in vocab]
    row = {t: i for i, t in enumerate(vocab)}

    rng = np.random.default_rng(seed)
    k = len(clips)
    day = rng.integers(0, 5, k) / 4.0
    tod = rng.random(k)
    strain = (rng.random(k) < 0.5).astype(np.float32)
    lights = (rng.random(k) < 0.4).astype(np.float32)
    bad_clip = rng.random(k) < 0.03  # behaviour labels missing for the whole clip
    labels = np.full((len(vocab), n), np.nan, dtype=np.float32)
    # mixing matrices shared by all clips: clip factors and behaviours -> 128 dims
    w_clip = rng.normal(size=(4, dim)) * 0.02
    w_beh = rng.normal(size=(len(BEHAVIOURS), dim)) * 0.035
    w_noise = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    w_mix = (rng.normal(size=(max(collinear, 1), dim)) / np.sqrt(max(collinear, 1))).astype(np.float32)

    for ci, c in enumerate(clips):
        s, e = fmap[c]
        labels[row["experiment_day"], s:e] = day[ci] + np.float32(rng.normal(0, 0.01))
        labels[row["time_of_day"], s:e] = tod[ci]
        labels[row["strain"], s:e] = strain[ci]
        labels[row["lights"], s:e] = lights[ci]
        nan_frames = rng.random(e - s) < 0.005  # tracking dropouts, shared by the behaviours
        for name, rate in BEHAVIOURS:
            y = _bouts(rng, e - s, rate, mean_len=30)
            y[nan_frames] = np.nan
            if bad_clip[ci]:
                y[:] = np.nan
            labels[row[name], s:e] = y

    factors = np.stack([day, tod, strain, lights], axis=1) - 0.5

    def get(clip: str) -> np.ndarray:
        ci = index[clip]
        s, e = fmap[clip]
        r = np.random.default_rng([seed, ci])
        beh = np.nan_to_num(labels[[row[b] for b, _ in BEHAVIOURS], s:e].T)
        x = r.standard_normal((e - s, dim), dtype=np.float32) @ w_noise.astype(np.float32)
        x += (factors[ci] @ w_clip).astype(np.float32)
        x += (beh @ w_beh).astype(np.float32)
        if collinear:
            x = x[:, :collinear] @ w_mix + np.float32(noise) * r.standard_normal((e - s, dim), dtype=np.float32)
        return x + np.float32(offset)

    index = {c: i for i, c in enumerate(clips)}
    out.mkdir(parents=True, exist_ok=True)
    write_submission(out / "submission.npy", fmap, get, species="mouse")
    np.save(
        out / "labels.npy",
        {"label_array": labels, "vocabulary": vocab, "task_type": ttype, "frame_number_map": fmap},
        allow_pickle=True,
    )
    (out / "split.json").write_text(json.dumps(split))
    (out / "tasks.json").write_text(json.dumps(tasks))
    info = {
        "scale": scale,
        "clips": k,
        "frames": n,
        "dim": dim,
        "submission_train": len(split["SubmissionTrain"]),
        "public": len(split["publicTest"]),
        "private": len(split["privateTest"]),
        "collinear": collinear,
        "offset": offset,
        "noise": noise if collinear else None,
        "submission_bytes": (out / "submission.npy").stat().st_size,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / "fixture.json").write_text(json.dumps(info, indent=2))
    return info


# ----------------------------------------------------------------------------------------------
# One measurement
# ----------------------------------------------------------------------------------------------


def run(directory: Path, method: str, precision: str | None, out: Path | None, compat: bool) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from behavenet.eval.mabe import evaluate_files

    peaks = {"RssAnon": 0, "RssFile": 0}
    stop = threading.Event()

    def sample() -> None:  # peak anonymous vs file-backed (memory-mapped) resident memory
        while not stop.is_set():
            try:
                for line in open("/proc/self/status"):
                    key = line.split(":")[0]
                    if key in peaks:
                        peaks[key] = max(peaks[key], int(line.split()[1]) * 1024)
            except OSError:
                return
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    result = evaluate_files(
        directory / "submission.npy",
        directory / "labels.npy",
        directory / "split.json",
        directory / "tasks.json",
        method=method,
        precision=precision,
        official_compat=compat,
        log=lambda m: print(m, file=sys.stderr),
    )
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if out is not None:
        result.write_json(out)
    rec = {
        "method": method,
        "precision": result.meta["precision"],
        "official_compat": compat,
        "numerics": result.meta["numerics"],
        "wall_s": round(wall, 2),
        "peak_rss_bytes": peak,
        "peak_rss_anon_bytes": peaks["RssAnon"],  # sampled every 50 ms
        "peak_rss_file_bytes": peaks["RssFile"],
    }
    print(json.dumps(rec))
    return rec


def compare(a: Path, b: Path, rtol: float, skip: tuple[str, ...] = ()) -> tuple[bool, float]:
    """Are two score files equal at ``rtol`` (columns in ``skip`` ignored)? And the largest
    relative difference."""
    d = differences(a, b, skip)
    return d["equal_at"](rtol), d["max_rel"]


def differences(a: Path, b: Path, skip: tuple[str, ...] = ()) -> dict:
    """Relative differences of every numeric score of ``a`` from ``b`` (the reference)."""
    sa = json.loads(a.read_text())["scores"]
    sb = json.loads(b.read_text())["scores"]
    same = set(sa) == set(sb)
    rels, worst, cells = [], (0.0, None), []
    for task in sa:
        for col, va in sa[task].items():
            if col in skip:
                continue
            vb = sb[task][col]
            if isinstance(va, (int, float)) and not isinstance(va, bool):
                rel = abs(va - vb) / max(abs(vb), 1e-300) if va != vb else 0.0
                rels.append(rel)
                cells.append((va, vb))
                if rel > worst[0]:
                    worst = (rel, f"{task} / {col}: {va:.6g} vs {vb:.6g}")
            else:
                same &= va == vb

    def equal_at(rtol: float) -> bool:
        return same and all(bool(np.isclose(va, vb, rtol=rtol, atol=0)) for va, vb in cells)

    return {
        "max_rel": worst[0],
        "median_rel": float(np.median(rels)) if rels else 0.0,
        "worst": worst[1],
        "n": len(rels),
        "equal_at": equal_at,
    }


# ----------------------------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------------------------


def _timed(cmd: list[str], env: dict) -> dict:
    """Run ``cmd`` under /usr/bin/time -v (if present); return wall and peak RSS."""
    time_bin = shutil.which("time") or "/usr/bin/time"
    use_time = os.path.exists(time_bin)
    full = ([time_bin, "-v"] if use_time else []) + cmd
    t0 = time.perf_counter()
    proc = subprocess.run(full, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    rec: dict = {"outer_wall_s": round(wall, 2)}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            rec.update(json.loads(line))
    if use_time:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        if m:
            rec["time_v_peak_rss_bytes"] = int(m.group(1)) * 1024
        m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", proc.stderr)
        if m:
            parts = [float(p) for p in m.group(1).split(":")]
            rec["time_v_wall_s"] = sum(p * 60**i for i, p in enumerate(reversed(parts)))
    rec["log"] = [l for l in proc.stderr.splitlines() if not l.startswith("\t")][:20]
    return rec


def _warm_page_cache(d: Path) -> None:
    for name in ("submission.npy", "labels.npy"):
        with open(d / name, "rb") as fh:
            while fh.read(1 << 26):
                pass


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB"


def all_(
    work: Path,
    repeats: int,
    ref_scale: int,
    threads: int,
    meta: Path,
    ref_repeats: int,
    skip_make: bool,
    only: list[str] | None = None,
    full_compat: bool = False,
) -> None:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    me = [sys.executable, str(Path(__file__).resolve())]
    fixtures = {}
    for scale in sorted({1, ref_scale}):
        d = work / ("full" if scale == 1 else f"scale{scale}")
        if not (skip_make and (d / "fixture.json").exists()):
            print(f"making fixture 1/{scale} ...", file=sys.stderr)
            _timed(me + ["make", "--out", str(d), "--scale", str(scale), "--meta", str(meta)], env)
        fixtures[scale] = json.loads((d / "fixture.json").read_text())
        fixtures[scale]["dir"] = str(d)
    res_path = work / "bench_results.json"
    results: dict = {"runs": {}}
    if only and res_path.exists():  # re-measure some runs, keep the others
        results = json.loads(res_path.read_text())
    results.update(machine=_machine(), threads=threads, fixtures=fixtures)
    # (method, precision, official_compat, scale, repeats); "compat" = --official-compat
    plan = [
        ("fast", "float64", False, 1, repeats),
        ("fast", "float32", True, 1, 1 if full_compat else 0),
        ("fast", "float64", False, ref_scale, repeats),
        ("fast", "float32", True, ref_scale, repeats),
        ("reference", "float64", False, ref_scale, ref_repeats),
        ("reference", "float32", True, ref_scale, 1),
    ]
    for method, prec, compat, scale, n_rep in plan:
        d = Path(fixtures[scale]["dir"])
        key = f"{method}-{prec}{'-compat' if compat else ''}-1/{scale}"
        if (only and key not in only) or n_rep == 0:
            continue
        _warm_page_cache(d)  # like the official measurement: input files in the page cache
        recs = []
        for i in range(n_rep):
            out = d / f"scores-{method}-{prec}{'-compat' if compat else ''}.json"
            print(f"{key} run {i + 1}/{n_rep} ...", file=sys.stderr)
            cmd = me + ["run", "--dir", str(d), "--method", method, "--precision", prec, "--out", str(out)]
            recs.append(_timed(cmd + (["--official-compat"] if compat else []), env))
        results["runs"][key] = recs
    comps = {}
    d = Path(fixtures[ref_scale]["dir"])
    ref32 = d / "scores-reference-float32-compat.json"
    for name, a, b, rtol, skip in (
        ("fast vs reference-float64", "scores-fast-float64.json", "scores-reference-float64.json", 1e-6, ()),
        ("fast (float64) vs reference-float32, Pooled Score excluded", "scores-fast-float64.json", ref32, 1e-4, POOLED),
        ("official-compat vs reference-float32", "scores-fast-float32-compat.json", ref32, 1e-4, ()),
    ):
        if not ((d / a).exists() and (d / b).exists()):
            continue
        diff = differences(d / a, d / b, skip)
        comps[name] = {f"ok_rtol_{rtol:g}": diff["equal_at"](rtol), "max_rel_diff": diff["max_rel"]}
        comps[name].update(median_rel_diff=diff["median_rel"], worst=diff["worst"])
    results["comparisons"] = comps
    res_path.write_text(json.dumps(results, indent=2))
    print(_markdown(results, ref_scale))


def _machine() -> str:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {_gib(mem)} RAM, Python {platform.python_version()}"


def _markdown(res: dict, ref_scale: int) -> str:
    lines = [
        f"machine: {res['machine']}; BLAS/OpenMP threads: {res['threads']}",
        "",
        "| run | n | wall s (median; all) | peak RSS (median, /usr/bin/time -v) | of which anon / file-backed (sampled) |",
        "|---|---|---|---|---|",
    ]
    for key, recs in res["runs"].items():
        walls = [r.get("time_v_wall_s", r["outer_wall_s"]) for r in recs]
        rss = [r.get("time_v_peak_rss_bytes", r["peak_rss_bytes"]) for r in recs]
        anon = [r.get("peak_rss_anon_bytes", 0) for r in recs]
        filed = [r.get("peak_rss_file_bytes", 0) for r in recs]
        lines.append(
            f"| {key} | {len(recs)} | {statistics.median(walls):.1f} ({', '.join(f'{w:.1f}' for w in walls)}) "
            f"| {_gib(statistics.median(rss))} | {_gib(statistics.median(anon))} / {_gib(statistics.median(filed))} |"
        )
    lines.append("")
    for k, v in res["comparisons"].items():
        ok = ", ".join(f"equal at rtol {key[8:]}: {val}" for key, val in v.items() if key.startswith("ok_rtol_"))
        lines.append(
            f"- {k} (1/{ref_scale} scale): {ok}, max relative difference {v['max_rel_diff']:.2e} "
            f"({v.get('worst')}), median {v.get('median_rel_diff', 0):.1e}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--scale", type=int, default=1)
    m.add_argument("--meta", type=Path, default=DEFAULT_META)
    m.add_argument("--dim", type=int, default=128)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--collinear", type=int, default=0, help="latent rank of an ill-conditioned embedding (0: off)")
    m.add_argument("--offset", type=float, default=0.0, help="added to every embedding value")
    m.add_argument("--noise", type=float, default=1e-3, help="with --collinear: scale of the independent noise")
    r = sub.add_parser("run")
    r.add_argument("--dir", type=Path, required=True)
    r.add_argument("--method", choices=["fast", "reference"], default="fast")
    r.add_argument(
        "--precision", choices=["float64", "float32"], default=None, help="default: float32 with --official-compat"
    )
    r.add_argument("--official-compat", action="store_true")
    r.add_argument("--out", type=Path, default=None)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    c.add_argument("--rtol", type=float, default=1e-6)
    c.add_argument("--skip-pooled", action="store_true", help="ignore the Pooled Score column")
    a = sub.add_parser("all")
    a.add_argument("--work", type=Path, required=True)
    a.add_argument("--repeats", type=int, default=3)
    a.add_argument("--ref-repeats", type=int, default=3)
    a.add_argument("--ref-scale", type=int, default=8)
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--meta", type=Path, default=DEFAULT_META)
    a.add_argument("--skip-make", action="store_true", help="reuse fixtures already in --work")
    a.add_argument(
        "--only", nargs="*", default=None, help="re-measure only these runs (e.g. fast-float64-1/1), keeping the others"
    )
    a.add_argument("--full-compat", action="store_true", help="also run --official-compat at full scale")
    args = ap.parse_args()
    if args.cmd == "make":
        print(
            json.dumps(
                make(args.out, args.scale, args.meta, args.dim, args.seed, args.collinear, args.offset, args.noise)
            )
        )
    elif args.cmd == "run":
        run(args.dir, args.method, args.precision, args.out, args.official_compat)
    elif args.cmd == "compare":
        diff = differences(args.a, args.b, POOLED if args.skip_pooled else ())
        ok = diff.pop("equal_at")(args.rtol)
        print(json.dumps({"equal": ok, **diff}))
        raise SystemExit(0 if ok else 1)
    else:
        all_(
            args.work,
            args.repeats,
            args.ref_scale,
            args.threads,
            args.meta,
            args.ref_repeats,
            args.skip_make,
            args.only,
            args.full_compat,
        )


if __name__ == "__main__":
    main()
