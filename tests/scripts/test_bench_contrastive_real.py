"""scripts/bench_contrastive_real.py: the real-data comparison runs end to end on a tiny budget.

Only our worker is required; the cebra part runs when a cebra venv is found (``CEBRA_PYTHON`` or
``.bench/cebra-venv``) and is skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_contrastive_real.py"
CEBRA_PYTHON = Path(os.environ.get("CEBRA_PYTHON", ROOT / ".bench" / "cebra-venv" / "bin" / "python"))


def _load():
    spec = importlib.util.spec_from_file_location("bench_contrastive_real", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def _run(tmp_path, *extra):
    out = tmp_path / "real.json"
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--fits",
        "1",
        "--iters",
        "20",
        "--threads",
        "1",
        "--no-seed-check",
        "--out",
        str(out),
        *extra,
    ]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=_env(), cwd=str(ROOT), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def _check_run(r, impl):
    assert r["impl"] == impl and r["iters"] == 20 and r["threads"] == 1 and r["output_dimension"] == 8
    for key in (
        "fit_s",
        "it_per_s",
        "cpu_ms_per_it",
        "final_infonce",
        "gof_bits",
        "pos_r2",
        "pos_median_abs_err_px",
        "dir_accuracy",
        "dir_balanced_accuracy",
    ):
        assert isinstance(r[key], float) and math.isfinite(r[key]), key
    assert r["pos_r2"] <= 1.0 and 0.0 <= r["dir_balanced_accuracy"] <= 1.0
    assert r["embedding_finite"] is True and r["loss_curve"]


def test_labels_raw_units_and_splits(tmp_path):
    mod = _load()
    info = mod.export_session(mod.DEFAULT_DATA, tmp_path / "d.npz", "blocks")
    assert info["units"] == 31
    assert info["train_frames"] + info["heldout_frames"] + info["unused_frames"] == info["frames"]
    # every 5th 30 s pseudo-trial held out, 10-frame buffers on each side left unused
    assert info["heldout_segments"][:2] == [(1200, 1500), (2700, 3000)]
    assert info["train_segments"][:2] == [(0, 1190), (1510, 2690)]
    d = mod.load_arrays(tmp_path / "d.npz")
    assert d["X_tr"].dtype == np.uint16  # raw counts, passed on unchanged
    assert len(d["X_te"]) == info["heldout_frames"] == 1800
    y = np.concatenate([d["y_tr"], d["y_te"]])
    assert y.dtype == np.float32 and y.shape[1] == 3
    assert y[:, 0].max() > 400  # position in px, not normalised
    assert set(np.unique(y[:, 1:])) <= {0.0, 1.0} and (y[:, 1:].sum(1) <= 1).all()

    last = mod.export_session(mod.DEFAULT_DATA, tmp_path / "l.npz", "last")
    assert last["train_segments"] == [(0, round(0.8 * last["frames"]))] and last["unused_frames"] == 0
    # windowed counts: frame t sums frames [t - 5, t + 5)
    X = np.arange(20, dtype=np.float32)[:, None]
    assert mod.window_counts(X)[10, 0] == X[5:15].sum()


def test_ours_only_json_structure(tmp_path):
    doc, stdout = _run(tmp_path, "--impls", "ours")
    assert {"machine", "args", "data", "baseline_no_model", "results", "summary", "seed_check"} <= set(doc)
    assert len(doc["results"]) == 1
    _check_run(doc["results"][0], "ours")
    s = doc["summary"]["ours"]["pos_r2"]
    assert s["n"] == 1 and math.isfinite(s["mean"]) and s["sd"] == 0.0
    assert "Mean ± sd over the fits" in stdout and "| position R² (held-out) |" in stdout
    assert math.isfinite(doc["baseline_no_model"]["pos_r2"])


def test_cebra_worker(tmp_path):
    """cebra's worker alone (our side is covered above), when a cebra venv exists."""
    ok = (
        CEBRA_PYTHON.exists()
        and subprocess.run(
            [str(CEBRA_PYTHON), "-c", "import cebra, sklearn"], check=False, capture_output=True
        ).returncode
        == 0
    )
    if not ok:
        pytest.skip(f"no cebra venv at {CEBRA_PYTHON} (set CEBRA_PYTHON)")
    doc, stdout = _run(tmp_path, "--impls", "cebra", "--cebra-python", str(CEBRA_PYTHON))
    assert [r["impl"] for r in doc["results"]] == ["cebra"]
    _check_run(doc["results"][0], "cebra")
    assert "cebra (n=1)" in stdout
