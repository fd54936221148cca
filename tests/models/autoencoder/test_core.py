"""The multi-input autoencoder: a shared latent from several inputs, learning on known structure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from behavenet.errors import ConfigError
from behavenet.models.autoencoder import Autoencoder
from behavenet.models.registry import build_core

SPEC = {"inputs": {"spikes": {"shapes": [[10]]}, "behavior": {"shapes": [[3]]}}, "labels": {}}


def test_shared_latent_is_the_mean_of_the_inputs_encodings():
    core = build_core("autoencoder", {"output_dimension": 2}, SPEC)
    assert core.input_names == ["spikes", "behavior"] and core.trainable
    w = {"spikes": torch.randn(5, 1, 10), "behavior": torch.randn(5, 1, 3)}
    z = core.encode(w)
    expected = (core.encoders["spikes"](w["spikes"][:, 0]) + core.encoders["behavior"](w["behavior"][:, 0])) / 2
    torch.testing.assert_close(z, expected)
    loss, metrics = core.loss({"inputs": w})
    assert set(metrics) == {"loss", "mse_spikes", "mse_behavior"}
    torch.testing.assert_close(loss, (metrics["mse_spikes"] + metrics["mse_behavior"]) / 2)
    only = build_core("autoencoder", {"inputs": ["behavior"]}, SPEC)
    assert only.input_names == ["behavior"]
    with pytest.raises(ConfigError, match="model.inputs: the data offer no input 'pose'"):
        build_core("autoencoder", {"inputs": ["pose"]}, SPEC)


def test_recovers_a_shared_low_dimensional_latent():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1000, 2)).astype(np.float32)
    data = {
        "spikes": z @ rng.normal(size=(2, 10)).astype(np.float32),
        "behavior": z @ rng.normal(size=(2, 3)).astype(np.float32),
    }
    est = Autoencoder(output_dimension=2, max_iterations=600, batch_size=128, learning_rate=1e-2, seed=0)
    emb = est.fit_transform(data)
    assert est.history_[-20:].mean() < 0.05 * est.history_[:5].mean()
    # the latent is a linear map of the true one (R^2 of z from emb near 1)
    beta, *_ = np.linalg.lstsq(np.c_[emb, np.ones(len(emb))], z, rcond=None)
    resid = z - np.c_[emb, np.ones(len(emb))] @ beta
    assert 1 - resid.var() / z.var() > 0.99
