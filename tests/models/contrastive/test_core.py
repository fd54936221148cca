"""The Lightning-free core: same arithmetic as the LightningModule, light imports for the estimator."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from behavenet.data.views import SplitData
from behavenet.models.contrastive.core import ContrastiveCore, FunctionalAdam, train_core

from .conftest import place_cells

ROOT = Path(__file__).resolve().parents[3]


def _run_python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (one torch thread); it prints one JSON line last."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=str(ROOT), timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_estimator_fit_transform_save_load_import_no_lightning(tmp_path):
    out = _run_python(f"""
        import json, sys
        import numpy as np
        import torch
        torch.set_num_threads(1)
        from behavenet.models.contrastive import ContrastiveEmbedding
        rng = np.random.default_rng(0)
        x = rng.poisson(0.5, size=(300, 12)).astype(np.float32)
        z = rng.normal(size=(300, 2)).astype(np.float32)
        est = ContrastiveEmbedding(model_architecture="offset5", max_iterations=3, batch_size=16,
                                   output_dimension=3, num_hidden_units=8, time_offsets=2).fit(x, z)
        emb = est.transform(x)
        est.goodness_of_fit_score(x, z, num_batches=1)
        est.save({str(tmp_path / "m.pt")!r})
        again = ContrastiveEmbedding.load({str(tmp_path / "m.pt")!r})
        same = bool(np.array_equal(again.transform(x), emb))
        heavy = ["lightning", "pytorch_lightning", "torch._dynamo", "torchmetrics", "matplotlib",
                 "behavenet.models.base", "behavenet.models.contrastive.module"]
        print(json.dumps({{"loaded": [m for m in heavy if m in sys.modules], "same": same,
                          "shape": list(emb.shape)}}))
    """)
    assert out["loaded"] == [], f"the estimator imported {out['loaded']}"
    assert out["same"] and out["shape"] == [300, 3]


def test_registry_imports_the_lazy_family_modules():
    out = _run_python("""
        import json
        from behavenet.models.base import get_model_class, list_models
        print(json.dumps({"models": list_models(), "cebra": get_model_class("cebra").__name__,
                          "pca": get_model_class("pca").__name__}))
    """)
    assert {"contrastive", "pca", "random_projection"} <= set(out["models"])
    assert out["cebra"] == "ContrastiveModel" and out["pca"] == "PCAModel"


def test_functional_adam_matches_torch_adam_bit_for_bit():
    gen = torch.Generator().manual_seed(0)
    a = [torch.nn.Parameter(torch.randn(7, 5, generator=gen)), torch.nn.Parameter(torch.randn(5, generator=gen)),
         torch.nn.Parameter(torch.randn(3, generator=gen))]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    ref = torch.optim.Adam(a, lr=1e-2, weight_decay=1e-3, fused=True)
    ours = FunctionalAdam(b, lr=1e-2, weight_decay=1e-3)
    for step in range(6):
        ref.zero_grad(set_to_none=True)
        ours.zero_grad()
        grads = [torch.randn(p.shape, generator=gen) for p in a]
        for i, (pa, pb, g) in enumerate(zip(a, b, grads)):
            if i == 2 and step < 2:  # a parameter without a gradient in the first steps
                continue
            pa.grad, pb.grad = g.clone(), g.clone()
        ref.step()
        ours.step()
        assert all(torch.equal(pa, pb) for pa, pb in zip(a, b)), step
    assert all(torch.equal(ref.state[pa]["exp_avg_sq"], ours.state[pb]["exp_avg_sq"]) for pa, pb in zip(a, b))


def _spec(shapes=((30,),)):
    return {"input": "spikes", "input_shapes": [list(s) for s in shapes], "session_ids": ["a"],
            "labels": {"pos": {"kind": "continuous", "dim": 2}}, "fps": 20.0}


def test_plain_loop_matches_a_lightning_fit():
    import lightning as L
    from torch.utils.data import DataLoader

    from behavenet.models.contrastive import ContrastiveModel

    x, z = place_cells(T=600)
    split = SplitData("s0", {"spikes": x}, {"pos": z}, {"pos": "continuous"})
    kwargs = dict(batch_size=24, model_architecture="offset5", output_dimension=4, num_hidden_units=8,
                  hybrid=True, temperature_mode="auto", learning_rate=1e-2, weight_decay=1e-4)
    torch.manual_seed(5)
    module = ContrastiveModel(_spec(), **kwargs)
    torch.manual_seed(5)
    core = ContrastiveCore(_spec(), **kwargs)
    assert all(torch.equal(module.state_dict()[k], v) for k, v in core.state_dict().items())
    assert set(module.state_dict()) == set(core.state_dict())  # the same checkpoint keys
    assert len(list(module.parameters())) == len(list(core.parameters()))  # no parameter twice
    trainer = L.Trainer(max_steps=8, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(module, DataLoader(module.make_dataset([split], "train", 3), batch_size=None))
    train_core(core, [split], 8, seed=3)
    assert np.array_equal(module.loss_history(), core.loss_history())
    assert all(torch.equal(module.state_dict()[k], v) for k, v in core.state_dict().items())
    assert torch.equal(module.embed(x), core.embed(x))
    assert not core.training and not core._stage_data  # eval mode, training inputs released


def test_core_loss_parts_and_metrics():
    x, z = place_cells(T=400)
    split = SplitData("s0", {"spikes": x}, {"pos": z}, {"pos": "continuous"})
    core = ContrastiveCore(_spec(), batch_size=16, model_architecture="offset5", hybrid=True, val_batches=2)
    assert core.embedding_dim == 8 and core.receptive_field == (2, 3) and core.n_sessions == 1
    batches = list(core.make_dataset([split], "val", seed=1))
    assert len(batches) == 2
    assert len(list(core.make_dataset([split], "test", seed=1, n_batches=4))) == 4
    out = core.loss(batches[0], "val")
    assert torch.allclose(out.total, out.behavior + out.time)
    metrics = core.metrics(out, batches[0])
    assert {"loss", "align", "uniform", "temperature", "gof_bits", "loss_behavior", "loss_time"} <= set(metrics)
    core.release("val")
    with pytest.raises(RuntimeError, match="make_dataset"):
        core.loss(batches[0], "val")
