"""FamilyEstimator: parameters derived from the config, errors, cloning, the plain loop."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from sklearn.base import clone

from behavenet.models.autoencoder import Autoencoder
from behavenet.models.contrastive import ContrastiveConfig, ContrastiveEmbedding
from behavenet.models.estimator import EstimatorInputError


def test_signature_and_docstring_come_from_the_config():
    sig = inspect.signature(ContrastiveEmbedding)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in sig.parameters.values())
    assert sig.parameters["learning_rate"].default == ContrastiveConfig.learning_rate == 3e-4
    assert sig.parameters["max_iterations"].default == 10000
    assert "labels" not in sig.parameters and "val_batches" not in sig.parameters
    assert "warmup_steps (default 0)" in ContrastiveEmbedding.__doc__
    assert "Embedding size (8..32 typical; 3 to plot)." in ContrastiveEmbedding.__doc__
    with pytest.raises(TypeError, match="unexpected keyword argument 'output_dim'; did you mean 'output_dimension'"):
        ContrastiveEmbedding(output_dim=3)
    est = ContrastiveEmbedding(output_dimension=3, lr_schedule="cosine")
    assert clone(est).get_params() == est.get_params()
    est.set_params(output_dimension=5)
    assert est.output_dimension == 5


def test_bad_config_values_are_argument_errors():
    x = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    with pytest.raises(EstimatorInputError, match=r"^output_dimension: expected an integer, got 'x'"):
        Autoencoder(output_dimension="x", max_iterations=1).fit(x)
    with pytest.raises(EstimatorInputError, match=r"^optimizer: unknown torch optimiser 'adamm'"):
        Autoencoder(optimizer="adamm", max_iterations=1).fit(x)
    with pytest.raises(EstimatorInputError, match=r"^X: contains NaN or infinite values"):
        Autoencoder(max_iterations=1).fit(np.full((10, 2), np.nan))
    with pytest.raises(EstimatorInputError, match=r"^X\[0\]\['b'\]: expected \(time, features\)"):
        Autoencoder(max_iterations=1).fit([{"a": x, "b": x[:, 0]}])


def test_schedule_and_optimizer_reach_the_plain_loop():
    x = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    a = Autoencoder(max_iterations=20, learning_rate=0.05, seed=1).fit(x)
    b = Autoencoder(max_iterations=20, learning_rate=0.05, lr_schedule="cosine", warmup_steps=5, seed=1).fit(x)
    c = Autoencoder(max_iterations=20, learning_rate=0.05, optimizer="sgd", seed=1).fit(x)
    assert a.history_[0] == b.history_[0] == c.history_[0]  # same weights, same first batch
    assert a.history_[1] != b.history_[1] and a.history_[1] != c.history_[1]


class _ScriptedCore(torch.nn.Module):
    """A one-parameter core whose validation losses follow a script: to test train_core's
    early stopping and best-weights restore without a real model."""

    trainable = True

    def __init__(self, val_losses):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.val_losses = list(val_losses)
        self.n_val_batches = 0

    @property
    def device(self):
        return self.w.device

    def fit_data(self, splits):
        pass

    def make_dataset(self, splits, stage, seed=0):
        return [torch.ones(1)] * 4

    def configure_optimizers(self, steps):
        return torch.optim.SGD(self.parameters(), lr=1.0), None

    def loss(self, batch, stage="train"):
        if stage == "val":  # one batch per evaluation: the scripted value
            self.n_val_batches += 1
            return torch.tensor(self.val_losses[self.n_val_batches - 1]), {}
        return -self.w * batch.sum() / len(batch), {}  # w grows by 1 per step

    def release(self, stage):
        pass


def test_train_core_early_stopping_keeps_the_best_weights():
    from behavenet.models.estimator import train_core

    core = _ScriptedCore([5.0, 3.0, 4.0, 2.0, 2.5, 2.6, 2.7, 1.0])
    history = train_core(core, ["train"], steps=40, batch_size=4, val_splits=["val"], eval_every=2, patience=3)
    assert [s for s, _ in history.validation] == [2, 4, 6, 8, 10, 12, 14]  # stopped 3 evaluations after step 8
    assert history.best_step == 8 and len(history) == 14
    assert float(core.w.detach()) == 8.0  # the weights of step 8, not of step 14
    # without patience it runs to the end and keeps the last best
    core = _ScriptedCore([5.0, 3.0, 4.0, 2.0, 2.5, 2.6, 2.7, 1.0])
    history = train_core(core, ["train"], steps=16, batch_size=4, val_splits=["val"], eval_every=2)
    assert history.best_step == 16 and float(core.w.detach()) == 16.0
