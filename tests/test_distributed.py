"""The distributed (DDP) path on CPU: `trainer=ddp_sim` runs two gloo processes through the same
code as `trainer=ddp` on GPUs. Each rank must draw its own batches, only rank 0 writes the run
directory, and gradient-free models fall back to one device."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from behavenet.data.datasets import SessionBatchSampler
from behavenet.models.contrastive.core import ContrastiveStream
from behavenet.train import run

ROOT = Path(__file__).resolve().parents[1]
FAST = [
    "trainer.enable_progress_bar=false",
    "logger=none",
    "trainer.val_check_interval=10",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
]


class _Counter:
    """A stand-in sampler whose batch records the seed stream it was drawn from."""

    def sample(self, batch_size, rng):
        return {"ref": [rng.integers(0, 1 << 30, size=batch_size)]}


def _ids(stream, n):
    it = iter(stream)
    return [int(next(it)["ref"][0][0]) for _ in range(n)]


def test_contrastive_stream_ranks_draw_disjoint_batches():
    single = _ids(ContrastiveStream(_Counter(), 4, seed=7), 6)
    r0 = _ids(ContrastiveStream(_Counter(), 4, seed=7, rank=0, world_size=2), 3)
    r1 = _ids(ContrastiveStream(_Counter(), 4, seed=7, rank=1, world_size=2), 3)
    assert r0 == single[0::2] and r1 == single[1::2]  # rank r takes batches r, r + 2, ...
    # finite (validation) streams are split between the ranks, together the single-process set
    v = [list(ContrastiveStream(_Counter(), 4, seed=1, n_batches=5, rank=r, world_size=2)) for r in (0, 1)]
    full = list(ContrastiveStream(_Counter(), 4, seed=1, n_batches=5))
    assert len(v[0]) == 3 and len(v[1]) == 2
    assert len(ContrastiveStream(_Counter(), 4, n_batches=5, rank=1, world_size=2)) == 2
    merged = [v[i % 2][i // 2] for i in range(5)]
    assert all(torch.equal(a["ref"][0], b["ref"][0]) for a, b in zip(merged, full))


def test_session_batch_sampler_shards_the_same_shuffle():
    session_of = np.repeat([0, 1], [23, 18])
    full = list(SessionBatchSampler(session_of, 4, seed=3))
    parts = [list(SessionBatchSampler(session_of, 4, seed=3, rank=r, world_size=2, even=True)) for r in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == len(full) // 2  # equal steps per rank
    assert parts[0] == full[0 : 2 * len(parts[0]) : 2] and parts[1] == full[1 : 2 * len(parts[1]) : 2]
    assert not set(map(tuple, parts[0])) & set(map(tuple, parts[1]))
    s = SessionBatchSampler(session_of, 4, seed=3)
    s.set_epoch(1)
    assert list(s) != full  # Lightning's set_epoch reshuffles


def test_gradient_free_model_falls_back_to_one_device(make_cfg, tmp_path, caplog):
    out = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="behavenet.train"):
        metrics = run(make_cfg(FAST + ["model=pca", "trainer=ddp_sim", "trainer.max_steps=10", "eval=none"], out))
    assert metrics["steps"] == 0  # fitted in closed form
    assert "no trainable parameters: fitting on one device" in caplog.text


def test_ddp_sim_two_processes_end_to_end(tmp_path):
    run_dir = tmp_path / "hrun"
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            f"hydra.run.dir={run_dir}",
            *FAST,
            "trainer=ddp_sim",
            "trainer.max_steps=20",
            "model.batch_size=128",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-3000:]
    assert "MEMBER: 2/2" in log  # a second rank really ran
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps"] == 20 and "test/loss" in metrics["test"]
    assert metrics["decoding"]["position"]["knn"]["test"]["r2"] > 0.0
    assert json.loads((run_dir / "status.json").read_text())["status"] == "completed"
    assert (run_dir / "checkpoints/last.ckpt").exists()
    assert sorted(p.name for p in run_dir.glob("*.json")) == ["metrics.json", "normalization.json", "status.json"]
