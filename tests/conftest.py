"""Shared fixtures: composed Hydra configs, small seeded session files, the bundled demo."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
CONF = ROOT / "conf"
DEMO = DATA / "linear_track.h5"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def demo_path() -> Path:
    assert DEMO.exists(), "data/linear_track.h5 is bundled with the repository"
    return DEMO


def compose_cfg(overrides: list[str] | None = None, output_dir: Path | None = None):
    """Compose conf/train.yaml as Hydra would (with the hydra node, so ${hydra:...} resolves)."""
    from behavenet.train import compose_run_config

    return compose_run_config(overrides, output_dir, CONF)


@pytest.fixture
def make_cfg(tmp_path):
    """``make_cfg(overrides)`` → composed config writing into ``tmp_path/run``."""

    def _make(overrides=None, output_dir=None):
        return compose_cfg(overrides, output_dir or tmp_path / "run")

    return _make


FAST = [
    "trainer.enable_progress_bar=false",
    "logger=none",
    "trainer.max_steps=20",
    "trainer.val_check_interval=10",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
]


@pytest.fixture
def small_session(tmp_path):
    """``small_session(**kw)`` → path of a seeded session with every modality (tiny)."""
    from behavenet.data.format import Behavior, FrameLabel, Pose, SequenceLabel, Session, Spikes, Video, write_session

    def _make(name="s.h5", n_frames=400, n_trials=8, seed=0, n_units=12, video=True, pose=True, session_id=None):
        rng = np.random.default_rng(seed)
        t = np.linspace(0, 8 * np.pi, n_frames)
        latent = np.stack([np.sin(t), np.cos(t)], 1).astype(np.float32)
        rates = np.exp(latent @ rng.normal(size=(2, n_units)) * 0.8)
        bounds = np.linspace(0, n_frames, n_trials + 1).astype(int)
        trials = np.stack([bounds[:-1], bounds[1:]], 1)
        kp = rng.normal(size=(n_frames, 2, 4, 2)).astype(np.float32) + latent[:, None, None, :] * 3
        s = Session(
            session_id=session_id or f"small-{seed}",
            fps=20.0,
            spikes=Spikes(rng.poisson(rates).astype(np.uint16), bin_width=0.05),
            behavior=Behavior(latent, ["latent.0", "latent.1"]),
            pose=Pose(kp, ["nose", "neck", "hip", "tail"], ["a", "b"]) if pose else None,
            video=Video(frames=rng.integers(0, 255, (n_frames, 8, 8, 1), dtype=np.uint8)) if video else None,
            frame_labels={"state": FrameLabel((latent[:, 0] > 0).astype(int), ["low", "high"])},
            sequence_labels={"cond": SequenceLabel(np.arange(n_trials) % 2, "discrete", ["a", "b"])},
            trials=trials,
        )
        return write_session(s, tmp_path / name, overwrite=True)

    return _make
