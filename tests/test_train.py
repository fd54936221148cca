"""End-to-end training through behavenet.train.run and through `python train.py`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from behavenet.embeddings import load_embeddings
from behavenet.train import run

ROOT = Path(__file__).resolve().parents[1]
FAST = [
    "trainer.enable_progress_bar=false",
    "logger=none",
    "trainer.val_check_interval=20",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
]


def test_demo_end_to_end_pca(make_cfg, tmp_path):
    out = tmp_path / "run"
    cfg = make_cfg(FAST + ["model=pca", "trainer.max_steps=40"], out)
    metrics = run(cfg)
    for name in ("config.yaml", "checkpoints/last.ckpt", "embeddings.h5", "metrics.json", "status.json"):
        assert (out / name).exists(), name
    saved = json.loads((out / "metrics.json").read_text())
    r2 = saved["decoding"]["position"]["knn"]["test"]["r2"]
    assert r2 > 0.3, r2
    assert saved["decoding"]["position"]["knn"]["test"]["median_abs_error"] > 0
    assert saved["decoding"]["direction"]["kind"] == "discrete"
    assert saved["steps"] == 0 and metrics["flat"]["decoding/position/knn/test/r2"] == r2  # closed form
    assert "val/loss" in saved["flat"]  # scored on the validation trials
    assert not any(k.startswith(("train/train/", "train/val/", "test/test/")) for k in saved["flat"])
    assert json.loads((out / "status.json").read_text())["status"] == "completed"
    (sess,) = load_embeddings(out / "embeddings.h5")
    with h5py.File(ROOT / "data/linear_track.h5", "r") as f:
        n_frames = int(f.attrs["n_frames"])
    assert sess.embedding.shape == (n_frames, 8)
    assert set(np.unique(sess.split)) == {0, 1, 2, 3}
    # the run directory is self-contained: config.yaml + last.ckpt reproduce embeddings.h5
    import hydra
    from omegaconf import OmegaConf

    from behavenet.models.lightning import FamilyModule

    model = FamilyModule.load_from_checkpoint(out / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert model.family == "pca" and model.hparams.config == {"output_dimension": 8, "window": 5, "whiten": False}
    saved_cfg = OmegaConf.load(out / "config.yaml")
    assert "_behavenet_version" in saved_cfg and saved_cfg.data.files.endswith("linear_track.h5")
    dm = hydra.utils.instantiate(saved_cfg.data, _convert_="all")
    dm.setup()
    np.testing.assert_allclose(model.embed_split(dm.full_data[0]), sess.embedding, atol=1e-5)


def test_same_seed_identical_embeddings(make_cfg, tmp_path):
    embs = []
    for i, seed in enumerate([3, 3, 4]):
        out = tmp_path / f"run{i}"
        run(
            make_cfg(
                FAST + ["model=random_projection", "trainer.max_steps=10", f"seed={seed}", "eval=none", "test=false"],
                out,
            )
        )
        embs.append(load_embeddings(out / "embeddings.h5")[0].embedding)
    assert np.array_equal(embs[0], embs[1])
    assert not np.array_equal(embs[0], embs[2])


def test_failed_run_marks_status(make_cfg, tmp_path):
    out = tmp_path / "run"
    cfg = make_cfg(FAST + ["data.labels=[nonexistent]"], out)
    from behavenet.errors import FormatError

    with pytest.raises(FormatError, match="label 'nonexistent'"):
        run(cfg)
    assert json.loads((out / "status.json").read_text())["status"] == "failed"
    assert not (out / "metrics.json").exists()


def _train_py(args, tmp_path, timeout=300):
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), f"hydra.run.dir={tmp_path / 'hrun'}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
    )


def test_train_py_command_line(tmp_path):
    res = _train_py(FAST + ["model=pca", "trainer.max_steps=10"], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    run_dir = tmp_path / "hrun"
    assert (run_dir / "metrics.json").exists() and (run_dir / "checkpoints/last.ckpt").exists()
    assert "litlogger" not in res.stdout + res.stderr  # Lightning's advertising line is filtered


def test_train_py_user_error_is_one_line(tmp_path):
    res = _train_py(FAST + ["data.files=/nonexistent/session.h5"], tmp_path)
    assert res.returncode == 2
    err_lines = [ln for ln in res.stderr.strip().splitlines() if "error" in ln.lower()]
    assert err_lines[-1] == "behavenet train: error: /nonexistent/session.h5: session file not found (data.files)"
    assert "Traceback" not in res.stderr


def test_train_py_missing_data_files_is_one_line(tmp_path):
    res = _train_py(["data=pose"], tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        "behavenet train: error: data.files: required but not set; "
        "give it on the command line, e.g. data.files=[path/to/session.h5]"
    )
    assert "Traceback" not in res.stderr


def test_default_model_is_contrastive_and_decodes_position(make_cfg, tmp_path):
    """`python train.py` with no overrides, on a smaller budget."""
    out = tmp_path / "run"
    metrics = run(make_cfg(FAST + ["trainer.max_steps=300"], out))
    assert metrics["model"] == "contrastive"
    assert metrics["decoding"]["position"]["knn"]["test"]["r2"] > 0.3


def test_contrastive_same_seed_bit_identical(make_cfg, tmp_path):
    embs = []
    for i, seed in enumerate([0, 0, 1]):
        out = tmp_path / f"run{i}"
        run(make_cfg(FAST + ["trainer.max_steps=15", f"seed={seed}", "eval=none", "test=false"], out))
        embs.append(load_embeddings(out / "embeddings.h5")[0].embedding)
    assert np.array_equal(embs[0], embs[1])
    assert not np.array_equal(embs[0], embs[2])
