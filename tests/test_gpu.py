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
    metrics = run(
        make_cfg(
            [
                f"model={model}",
                "trainer=gpu",
                "logger=none",
                "trainer.max_steps=200",
                "trainer.enable_progress_bar=false",
            ],
            out,
        )
    )
    assert metrics["decoding"]["position"]["knn"]["test"]["r2"] > 0.3
    assert json.loads((out / "status.json").read_text())["status"] == "completed"


@needs_cuda
def test_gpu_checkpoint_loads_on_cpu(make_cfg, tmp_path, demo_path):
    out = tmp_path / "run"
    run(
        make_cfg(
            [
                "model=contrastive",
                "trainer=gpu",
                "logger=none",
                "trainer.max_steps=20",
                "trainer.enable_progress_bar=false",
                "eval=none",
            ],
            out,
        )
    )
    from behavenet.api import load_run

    trained = load_run(out, map_location="cpu")
    assert next(trained.model.parameters()).device.type == "cpu"
    (sess,) = trained.embed_files([demo_path])
    assert sess.embedding.shape[1] == trained.model.embedding_dim


@needs_cuda
def test_estimator_fit_on_gpu_loads_and_refits_on_cpu(tmp_path):
    """CEBRA issue 295: a model saved on a GPU must load (and be usable) on a CPU-only machine."""
    import numpy as np
    from sklearn.base import clone

    from behavenet.models.contrastive import ContrastiveEmbedding

    rng = np.random.default_rng(0)
    t = np.linspace(0, 20 * np.pi, 3000)
    z = np.stack([np.sin(t), np.cos(t)], 1).astype(np.float32)
    x = rng.poisson(np.exp(z @ rng.normal(size=(2, 40)))).astype(np.float32)
    est = ContrastiveEmbedding(device="cuda", max_iterations=300, batch_size=256, output_dimension=4, seed=0).fit(x, z)
    assert next(est.model_.parameters()).device.type == "cuda"
    on_gpu = est.transform(x)
    est.save(tmp_path / "m.pt")
    raw = torch.load(tmp_path / "m.pt", map_location="cpu", weights_only=True)
    assert all(v.device.type == "cpu" for v in raw["state_dict"].values())
    again = ContrastiveEmbedding.load(tmp_path / "m.pt")
    assert again.device == "cpu" and next(again.model_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(again.transform(x), on_gpu, atol=1e-4)
    clone(again).set_params(max_iterations=5).fit(x, z)  # refits on the CPU
