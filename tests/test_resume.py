"""Kill and resume: last.ckpt is kept fresh (atomically) during training, and a run killed with
SIGKILL resumes with ``ckpt_path=last`` in the same run directory to the same step count and
metrics within noise of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

from behavenet.train import run

ROOT = Path(__file__).resolve().parents[1]
FAST = [
    "trainer.enable_progress_bar=false",
    "logger=none",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "figures=false",
]


def _ckpt_step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=False)["global_step"])


def test_last_ckpt_is_written_during_training_every_n_steps(make_cfg, tmp_path):
    out = tmp_path / "run"
    cfg = make_cfg(
        FAST
        + [
            "trainer.max_steps=30",
            "trainer.val_check_interval=1000",
            "callbacks.model_checkpoint.every_n_train_steps=10",
            "callbacks.model_checkpoint.every_seconds=null",
            "model.batch_size=32",
            "eval=none",
            "test=false",
        ],
        output_dir=out,
    )
    seen = []
    from behavenet.utils import callbacks as cb

    real = cb.save_checkpoint_atomic

    def spy(trainer, path, *args, **kwargs):
        real(trainer, path, *args, **kwargs)
        seen.append((Path(path).name, _ckpt_step(Path(path))))

    cb.save_checkpoint_atomic = spy
    try:
        run(cfg)
    finally:
        cb.save_checkpoint_atomic = real
    # during training at steps 10, 20, 30 (Lightning's trigger), then the final save
    assert [s for name, s in seen if name == "last.ckpt"][:3] == [10, 20, 30]
    files = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert files == ["last.ckpt"], files  # no temporary file left, no last-v1.ckpt
    assert _ckpt_step(out / "checkpoints/last.ckpt") == 30


def test_last_ckpt_is_written_by_time(make_cfg, tmp_path):
    out = tmp_path / "run"
    cfg = make_cfg(
        FAST
        + [
            "trainer.max_steps=40",
            "trainer.val_check_interval=1000",
            "callbacks.model_checkpoint.every_n_train_steps=0",
            "callbacks.model_checkpoint.every_seconds=0",  # every step
            "model.batch_size=32",
            "eval=none",
            "test=false",
        ],
        output_dir=out,
    )
    from behavenet.utils import callbacks as cb

    steps = []
    real = cb.save_checkpoint_atomic

    def spy(trainer, path, *args, **kwargs):
        real(trainer, path, *args, **kwargs)
        steps.append(trainer.global_step)

    cb.save_checkpoint_atomic = spy
    try:
        run(cfg)
    finally:
        cb.save_checkpoint_atomic = real
    assert steps[:40] == list(range(1, 41))


def test_interrupted_save_leaves_the_previous_checkpoint(tmp_path):
    """A save that fails (or is killed) half-way never replaces last.ckpt."""
    from behavenet.utils.callbacks import save_checkpoint_atomic

    target = tmp_path / "last.ckpt"
    target.write_bytes(b"previous")

    class Trainer:
        is_global_zero = True

        def save_checkpoint(self, path, weights_only=False):
            Path(path).write_bytes(b"half")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_checkpoint_atomic(Trainer(), target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def _train_cmd(run_dir: Path, extra: list[str]) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "train.py"),
        *FAST,
        "trainer.max_steps=600",
        "trainer.val_check_interval=200",
        "callbacks.model_checkpoint.every_n_train_steps=50",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["WANDB_MODE"] = "disabled"
    return env


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    # uninterrupted reference
    ref = tmp_path / "ref"
    subprocess.run(_train_cmd(ref, []), env=_env(), check=True, capture_output=True, timeout=600)
    ref_metrics = json.loads((ref / "metrics.json").read_text())

    # the same run, SIGKILLed once last.ckpt has been written during training
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(run_dir, []), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    try:
        while not last.exists():
            assert proc.poll() is None, "training finished before it could be killed"
            assert time.monotonic() < deadline, "no last.ckpt written during training"
            time.sleep(0.05)
        time.sleep(0.5)  # kill between saves, or during one
        assert proc.poll() is None, "training finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists()
    assert json.loads((run_dir / "status.json").read_text())["status"] == "running"
    # whatever moment the kill hit, last.ckpt is a complete checkpoint from mid-training
    assert zipfile.is_zipfile(last)
    killed_at = _ckpt_step(last)
    assert 50 <= killed_at < 600

    # resume in the same run directory
    res = subprocess.run(
        _train_cmd(run_dir, ["ckpt_path=last"]), env=_env(), capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Restoring states from the checkpoint" in res.stderr + res.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps"] == ref_metrics["steps"] == 600
    assert _ckpt_step(last) == 600
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").iterdir() if not p.name.startswith(".tmp-"))
    assert ckpts == ["last.ckpt"]
    # metrics within noise of the uninterrupted run (the resumed sampler redraws its batches)
    for key in ("decoding/position/knn/test/r2", "decoding/position/knn/val/r2"):
        assert abs(metrics["flat"][key] - ref_metrics["flat"][key]) < 0.1, (key, metrics["flat"], ref_metrics["flat"])
    assert abs(metrics["test"]["test/loss"] - ref_metrics["test"]["test/loss"]) < 0.1
