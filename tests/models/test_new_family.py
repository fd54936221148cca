"""A family is added by one folder and one config: a toy linear autoencoder written into a
temporary folder (not into behavenet) and one ``conf/model/toy.yaml`` is found by the registry,
trains through ``train.py``'s ``run`` on the demo's two inputs ``[spikes, behavior]``, reloads
from its checkpoint, and fits as an estimator. Nothing in behavenet is edited."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import behavenet.models as models_pkg
import behavenet.models.registry as registry

TOY = {
    "__init__.py": """
        from behavenet.models.registry import Family

        FAMILY = Family(name="toy", config="behavenet.models.toy.config:ToyConfig",
                        core="behavenet.models.toy.core:ToyCore",
                        estimator="behavenet.models.toy.core:Toy", description="a toy linear autoencoder")
    """,
    "config.py": """
        from dataclasses import dataclass

        from behavenet.models.config import TrainingConfig


        @dataclass
        class ToyConfig(TrainingConfig):
            latent: int = 2
            "Latent size."
    """,
    "core.py": """
        import torch
        from sklearn.base import TransformerMixin
        from torch import nn

        from behavenet.models.base import Core, input_specs
        from behavenet.models.estimator import ArrayEstimator


        class ToyCore(Core):
            def __init__(self, config, data_spec=None):
                super().__init__(config, data_spec)
                sizes = {n: s["shapes"][0][0] for n, s in input_specs(self.data_spec).items()}
                self.enc = nn.ModuleDict({n: nn.Linear(k, config.latent) for n, k in sizes.items()})
                self.dec = nn.ModuleDict({n: nn.Linear(config.latent, k) for n, k in sizes.items()})

            @property
            def embedding_dim(self):
                return self.config.latent

            def encode(self, windows, session_index=0):
                return sum(self.enc[n](windows[n][:, 0]) for n in self.enc)

            def loss(self, batch, stage="train"):
                x = batch["inputs"]
                z = self.encode(x)
                loss = sum(((self.dec[n](z) - x[n][:, 0]) ** 2).mean() for n in self.dec)
                return loss, {"loss": loss.detach()}


        class Toy(TransformerMixin, ArrayEstimator):
            family = "toy"
    """,
}


@pytest.fixture
def toy_family(tmp_path, monkeypatch):
    folder = tmp_path / "families" / "toy"
    folder.mkdir(parents=True)
    for name, text in TOY.items():
        (folder / name).write_text(textwrap.dedent(text))
    conf = tmp_path / "conf" / "model"
    conf.mkdir(parents=True)
    (conf / "toy.yaml").write_text(
        "family: toy\nlatent: 2\noptimizer: adam\nlearning_rate: 0.01\n"
        "weight_decay: 0.0\nlr_schedule: constant\nwarmup_steps: 0\n"
        "min_learning_rate: 0.0\noptimizer_options: {}\n"
    )
    monkeypatch.setattr(models_pkg, "__path__", [*models_pkg.__path__, str(tmp_path / "families")])
    monkeypatch.setattr(registry, "_FAMILIES", None)
    yield tmp_path / "conf"
    registry._FAMILIES = None
    import sys

    for mod in [m for m in sys.modules if m.startswith("behavenet.models.toy")]:
        del sys.modules[mod]


def test_a_family_in_one_folder_and_one_config_trains_through_train_py(toy_family, make_cfg, tmp_path):
    from behavenet.embeddings import load_embeddings
    from behavenet.models.lightning import FamilyModule
    from behavenet.train import run

    assert "toy" in registry.list_families()
    out = tmp_path / "run"
    overrides = [
        f"hydra.searchpath=[file://{toy_family}]",
        "model=toy",
        "data.inputs=[spikes,behavior]",
        "trainer.max_steps=30",
        "trainer.val_check_interval=10",
        "trainer.limit_val_batches=2",
        "trainer.enable_progress_bar=false",
        "logger=none",
        "callbacks=none",
    ]
    metrics = run(make_cfg(overrides, out))
    assert metrics["model"] == "toy" and metrics["steps"] == 30
    assert metrics["decoding"]["position"]["knn"]["test"]["r2"] > 0.5  # position is one of the inputs
    emb = load_embeddings(out / "embeddings.h5")[0].embedding
    module = FamilyModule.load_from_checkpoint(out / "checkpoints/last.ckpt", weights_only=True)
    assert module.family == "toy" and module.hparams.config["latent"] == 2 and emb.shape[1] == 2
    from behavenet.models.toy.core import Toy

    x = {
        "spikes": np.random.default_rng(0).normal(size=(100, 5)).astype(np.float32),
        "behavior": np.random.default_rng(1).normal(size=(100, 2)).astype(np.float32),
    }
    est = Toy(max_iterations=5, seed=0)
    assert set(est.get_params()) == {
        "latent",
        "optimizer",
        "learning_rate",
        "weight_decay",
        "lr_schedule",
        "warmup_steps",
        "min_learning_rate",
        "optimizer_options",
        "device",
        "seed",
        "verbose",
        "max_iterations",
        "batch_size",
    }
    assert est.fit_transform(x).shape == (100, 2)
