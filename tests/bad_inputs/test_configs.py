"""Bad configurations of ``python train.py`` / ``behavenet train``: one line, exit 2, and no
checkpoint, embeddings or metrics written (the run directory keeps only config.yaml and a
status.json saying "failed")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import open_dict

from .conftest import error_line

ROOT = Path(__file__).resolve().parents[2]
FAST = ["trainer.enable_progress_bar=false", "logger=none", "trainer.max_steps=5", "eval=none", "figures=false"]
PRODUCTS = ("checkpoints/last.ckpt", "embeddings.h5", "metrics.json", "normalization.json")


def train_rejected(make_cfg, tmp_path, capsys, overrides, parts, existing=()):
    from behavenet.train import main

    out = tmp_path / "run"
    cfg = make_cfg(FAST + overrides, output_dir=out)
    with open_dict(cfg):
        del cfg["hydra"]  # as @hydra.main passes it
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(cfg)
    line = error_line(capsys.readouterr().err, "train", *parts)
    assert exc.value.code == 2, line
    for name in PRODUCTS:
        assert name in existing or not (out / name).exists(), f"{name} written"
    assert not [p for p in out.rglob(".tmp-*")]
    if (out / "status.json").exists():
        assert json.loads((out / "status.json").read_text())["status"] == "failed"
    return line


def test_missing_data_file(make_cfg, tmp_path, capsys):
    missing = tmp_path / "nope.h5"
    train_rejected(make_cfg, tmp_path, capsys, ["data=pose", f"data.files=[{missing}]"], [str(missing), "not found"])


def test_data_file_not_a_session(make_cfg, tmp_path, capsys):
    bad = tmp_path / "notes.h5"
    bad.write_text("hello")
    train_rejected(make_cfg, tmp_path, capsys, ["data=pose", f"data.files=[{bad}]"], [str(bad)])


def test_negative_window(make_cfg, tmp_path, capsys):
    train_rejected(
        make_cfg, tmp_path, capsys, ["model=pca", "model.window=-3"], ["model.window", "expected an integer >= 1"]
    )


def test_contrastive_batch_below_two(make_cfg, tmp_path, capsys):
    # (a batch larger than the data is not an error: it is cut to the training frames, with a warning)
    train_rejected(make_cfg, tmp_path, capsys, ["model.batch_size=1"], ["model.batch_size", "expected an integer >= 2"])


@pytest.mark.parametrize("value", ["0", "-1"])
def test_data_batch_size_not_positive(make_cfg, tmp_path, capsys, value):
    train_rejected(
        make_cfg, tmp_path, capsys, ["model=pca", f"data.batch_size={value}"], ["data.batch_size", ">= 1", value]
    )


def test_unknown_input(make_cfg, tmp_path, capsys):
    train_rejected(make_cfg, tmp_path, capsys, ["data.input=eeg"], ["data.input", "eeg", "expected one of"])


def test_unknown_label(make_cfg, tmp_path, capsys):
    train_rejected(make_cfg, tmp_path, capsys, ["data.labels=[speed_of_light]"], ["speed_of_light"])


def test_zero_output_dimension(make_cfg, tmp_path, capsys):
    train_rejected(make_cfg, tmp_path, capsys, ["model.output_dimension=0"], ["model", "out_dim", ">= 1"])


def test_resume_from_missing_checkpoint(make_cfg, tmp_path, capsys):
    ckpt = tmp_path / "gone.ckpt"
    train_rejected(make_cfg, tmp_path, capsys, [f"ckpt_path={ckpt}"], ["ckpt_path", "not found", str(ckpt)])


def test_resume_from_truncated_checkpoint(make_cfg, tmp_path, capsys):
    ckpt = tmp_path / "cut.ckpt"
    ckpt.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    train_rejected(make_cfg, tmp_path, capsys, [f"ckpt_path={ckpt}"], [str(ckpt), "ckpt_path", "truncated or corrupt"])


def test_resume_from_garbage_last_checkpoint(make_cfg, tmp_path, capsys):
    """``ckpt_path=last`` reads ``checkpoints/last.ckpt`` of the run directory: a corrupt one is
    named in one line (not Lightning's traceback), and it is left for the user to inspect."""
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"not a checkpoint at all")
    train_rejected(
        make_cfg,
        tmp_path,
        capsys,
        ["ckpt_path=last"],
        [str(last), "ckpt_path", "truncated or corrupt"],
        existing=("checkpoints/last.ckpt",),
    )
    assert last.read_bytes() == b"not a checkpoint at all"


def test_resume_refuses_a_checkpoint_that_would_run_code(make_cfg, tmp_path, capsys):
    import torch

    ckpt = tmp_path / "evil.ckpt"
    marker = tmp_path / "ran"
    torch.save({"state_dict": {}, "global_step": 0, "payload": _RunsCode(str(marker))}, ckpt)
    train_rejected(make_cfg, tmp_path, capsys, [f"ckpt_path={ckpt}"], [str(ckpt), "ckpt_path", "refused"])
    assert not marker.exists()


def test_resume_refuses_a_weights_only_export(make_cfg, tmp_path, capsys):
    import torch

    ckpt = tmp_path / "weights.ckpt"
    torch.save({"weights": torch.zeros(3)}, ckpt)
    train_rejected(make_cfg, tmp_path, capsys, [f"ckpt_path={ckpt}"], [str(ckpt), "ckpt_path", "not a resumable"])


class _RunsCode:
    """Unpickling this creates a file (stands in for arbitrary code in a malicious checkpoint)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_unknown_model(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "disabled"}
    res = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "model=nonexistent", f"hydra.run.dir={tmp_path / 'run'}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    error_line(res.stderr, "train", "model", "nonexistent", "contrastive")
    assert res.returncode == 2
    assert not (tmp_path / "run" / "metrics.json").exists()
