"""GPU tests (deselected by default; run with `python -m pytest -m gpu` on a CUDA machine)."""

from __future__ import annotations

import json

import pytest
import torch

from behavenet.train import run

pytestmark = pytest.mark.gpu

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
@pytest.mark.parametrize("model", ["pca", "contrastive"])
def test_train_on_gpu_bf16(make_cfg, tmp_path, model):
    out = tmp_path / "run"
    metrics = run(make_cfg([f"model={model}", "trainer=gpu", "logger=none", "trainer.max_steps=200",
                            "trainer.enable_progress_bar=false"], out))
    assert metrics["decoding"]["position"]["knn"]["test"]["r2"] > 0.3
    assert json.loads((out / "status.json").read_text())["status"] == "completed"


@needs_cuda
def test_gpu_checkpoint_loads_on_cpu(make_cfg, tmp_path, demo_path):
    out = tmp_path / "run"
    run(make_cfg(["model=contrastive", "trainer=gpu", "logger=none", "trainer.max_steps=20",
                  "trainer.enable_progress_bar=false", "eval=none"], out))
    from behavenet.api import load_run

    trained = load_run(out, map_location="cpu")
    assert next(trained.model.parameters()).device.type == "cpu"
    (sess,) = trained.embed_files([demo_path])
    assert sess.embedding.shape[1] == trained.model.embedding_dim
