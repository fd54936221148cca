#!/usr/bin/env python
"""Run the organisers' MABe22 round-1 evaluator, unmodified, on a ``bench_eval.py`` fixture.

The official code (GitHub ``damaggu/MABe2022``, no licence: it is never part of behavenet) is run
as a subprocess in its own virtual environment; this script only lays out the files it reads
and converts its results table into behavenet's score JSON, so that
``scripts/bench_eval.py compare`` can put the two side by side::

    # the reference venv (the evaluator README's pins) and the evaluator's tree
    ~/.pyenv/versions/3.8.18/bin/python -m venv /work/bench-ext/mabe-venv
    /work/bench-ext/mabe-venv/bin/pip install numpy==1.21.0 scikit-learn==1.0.2 pandas==1.3.5 tqdm==4.60.0
    # a fixture, then the official scores and behavenet's
    python scripts/bench_eval.py make --out /tmp/mabe_bench/scale8 --scale 8
    python scripts/mabe_official_driver.py --fixture /tmp/mabe_bench/scale8 \\
        --official /work/bench-ext/mabe-official --python /work/bench-ext/mabe-venv/bin/python \\
        --out /tmp/mabe_bench/scale8/scores-official.json
    python scripts/bench_eval.py run --dir /tmp/mabe_bench/scale8 --official-compat --out compat.json
    python scripts/bench_eval.py compare compat.json /tmp/mabe_bench/scale8/scores-official.json

What it does: a work folder with ``round1/metadata/jax_tasks.json`` and ``jax_split.json`` (the
evaluator reads these two relative to its working directory, with no override), the fixture's
clip lengths and frame map (passed through ``CLIP_LENGTHS_FILE`` / ``FRAME_MAP_FILE``), the log
folder through ``TRAINING_LOG_PATH``; then ``round1_evaluator.py --task mouse`` under
``/usr/bin/time -v`` with BLAS threads set by ``--threads``. Its per-task CSV is read back with
the CSV module (floats as written by pandas, 16-17 significant digits).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_REWRITE = """
import json, sys
import numpy as np
w = sys.argv[1]
m = json.load(open(w + "/label_meta.json"))
fmap = {c: (s, e) for c, (s, e) in m["frame_number_map"].items()}
labels = {"label_array": np.load(w + "/label_array.npy"), "vocabulary": m["vocabulary"],
          "task_type": m["task_type"], "frame_number_map": fmap}
np.save(w + "/labels.npy", labels, allow_pickle=True)
np.save(w + "/frame_map.npy", fmap, allow_pickle=True)
"""


def _value(text: str):
    if text in ("True", "False"):
        return text == "True"
    try:
        return float(text)
    except ValueError:
        return text


def read_official_csv(path: Path) -> dict:
    """``{task: {column: value}}`` from the evaluator's results CSV (repeated ids get ``#2``...)."""
    out: dict = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            tid = row.pop("Task ID")
            key, k = tid, 1
            while key in out:
                k += 1
                key = f"{tid}#{k}"
            out[key] = {c: _value(v) for c, v in row.items()}
    return out


def run(fixture: Path, official: Path, python: str, out: Path, threads: int, keep: bool) -> dict:
    # the evaluator runs in a temporary folder: every path it is given must be absolute
    fixture, official, out = fixture.resolve(), official.resolve(), out.resolve()
    python = str(Path(python).absolute()) if os.sep in python else python
    labels = np.load(fixture / "labels.npy", allow_pickle=True).item()
    fmap = labels["frame_number_map"]
    work = Path(tempfile.mkdtemp(prefix="mabe_official_"))
    try:
        meta = work / "round1" / "metadata"
        meta.mkdir(parents=True)
        shutil.copy(fixture / "tasks.json", meta / "jax_tasks.json")
        shutil.copy(fixture / "split.json", meta / "jax_split.json")
        (work / "clip_lengths.json").write_text(json.dumps({c: int(e - s) for c, (s, e) in fmap.items()}))
        # the fixture's pickles come from numpy 2 (module ``numpy._core``), which the evaluator's
        # numpy 1.x cannot unpickle: rewrite labels and frame map with the venv's own numpy
        np.save(work / "label_array.npy", np.asarray(labels["label_array"], dtype=np.float32))
        (work / "label_meta.json").write_text(
            json.dumps(
                {
                    "vocabulary": list(labels["vocabulary"]),
                    "task_type": list(labels["task_type"]),
                    "frame_number_map": {c: [int(s), int(e)] for c, (s, e) in fmap.items()},
                }
            )
        )
        subprocess.run([python, "-c", _REWRITE, str(work)], check=True)
        env = dict(os.environ)
        env.update(
            CLIP_LENGTHS_FILE=str(work / "clip_lengths.json"),
            FRAME_MAP_FILE=str(work / "frame_map.npy"),
            TRAINING_LOG_PATH=str(work / "temp"),
            OMP_NUM_THREADS=str(threads),
            OPENBLAS_NUM_THREADS=str(threads),
            MKL_NUM_THREADS=str(threads),
        )
        env.pop("PYTHONPATH", None)
        time_bin = "/usr/bin/time"
        cmd = [python, str(official / "round1_evaluator.py"), "--task", "mouse"]
        cmd += ["--submission", str((fixture / "submission.npy").resolve())]
        cmd += ["--labels", str(work / "labels.npy"), "--output-dir", str(work / "results")]
        full = ([time_bin, "-v"] if os.path.exists(time_bin) else []) + cmd
        t0 = time.perf_counter()
        proc = subprocess.run(full, cwd=work, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            hint = f"its files are in {work}" if keep else "rerun with --keep to inspect its files"
            raise SystemExit(f"official evaluator failed (exit {proc.returncode}); {hint}")
        found = sorted((work / "results").glob("*.csv"))
        if len(found) != 1:
            raise SystemExit(f"official evaluator: expected one results CSV in {work / 'results'}, found {len(found)}")
        csv_path = found[0]
        rec = {"wall_s": round(wall, 2), "threads": threads}
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        if m:
            rec["peak_rss_bytes"] = int(m.group(1)) * 1024
        result = {
            "scores": read_official_csv(csv_path),
            "meta": {"source": "official evaluator (damaggu/MABe2022, unmodified)", **rec},
        }
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(out)
        print(json.dumps(rec))
        return result
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fixture", type=Path, required=True, help="a bench_eval.py make folder")
    p.add_argument("--official", type=Path, required=True, help="the evaluator's tree (round1_evaluator.py)")
    p.add_argument("--python", required=True, help="the venv's python (scikit-learn < 1.6, pandas < 2)")
    p.add_argument("--out", type=Path, required=True, help="score JSON to write")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the work folder (models, logs)")
    a = p.parse_args()
    run(a.fixture, a.official, a.python, a.out, a.threads, a.keep)


if __name__ == "__main__":
    main()
