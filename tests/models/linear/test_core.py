"""PCA and random projection in closed form: known answers, several inputs, their estimators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from behavenet.data.splits import SplitData
from behavenet.errors import ConfigError
from behavenet.models.linear import WindowPCA, WindowRandomProjection
from behavenet.models.registry import build_core

SPEC = {"input": "spikes", "input_shapes": [[4]], "labels": {}}


def _windows(x, segments, w):
    left, right = w // 2, w - w // 2
    rows = []
    for a, b in segments:
        for t in range(a + left, b - right + 1):
            rows.append(x[t - left : t + right].reshape(-1))
    return np.array(rows, dtype=np.float64)


def test_pca_equals_batch_pca_of_every_training_window():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(300, 4)) @ rng.normal(size=(4, 4))).astype(np.float32)
    segments = [[0, 120], [120, 300]]
    core = build_core("pca", {"output_dimension": 3, "window": 3}, SPEC)
    core.fit_data([SplitData("s", {"spikes": x}, segments=segments)])
    w = _windows(x, segments, 3)
    assert int(core.n_windows) == len(w) == 296
    np.testing.assert_allclose(core.mean.numpy(), w.mean(0), rtol=1e-10, atol=1e-12)
    evals, evecs = np.linalg.eigh(np.cov(w.T))
    np.testing.assert_allclose(core.explained_variance.numpy(), evals[::-1][:3], rtol=1e-8)
    dots = np.abs(np.sum(core.components.numpy() * evecs[:, ::-1][:, :3], 0))
    np.testing.assert_allclose(dots, 1.0, atol=1e-8)
    # the embedding of frame t projects the window around t (edges replicate-padded)
    emb = core.embed(x).numpy()
    np.testing.assert_allclose(
        emb[1], (x[0:3].reshape(-1) - core.mean.numpy()) @ core.components.numpy(), rtol=1e-4, atol=1e-5
    )
    assert not core.trainable and core.configure_optimizers() == (None, None)


def test_whitened_components_have_unit_variance_and_several_inputs_concatenate():
    rng = np.random.default_rng(1)
    spikes = rng.normal(size=(500, 4)).astype(np.float32) * [1, 2, 3, 4]
    beh = rng.normal(size=(500, 2)).astype(np.float32)
    spec = {"inputs": {"spikes": {"shapes": [[4]]}, "behavior": {"shapes": [[2]]}}, "labels": {}}
    core = build_core("pca", {"output_dimension": 6, "window": 1, "whiten": True}, spec)
    core.fit_data([SplitData("s", {"spikes": spikes, "behavior": beh})])
    emb = core.embed({"spikes": spikes, "behavior": beh}).numpy()
    np.testing.assert_allclose(emb.std(0, ddof=1), 1.0, rtol=1e-3)
    assert core.in_dim == 6


def test_random_projection_is_seeded_and_fits_the_mean():
    x = np.random.default_rng(2).normal(size=(100, 4)).astype(np.float32) + 5
    a = build_core("random_projection", {"output_dimension": 2, "window": 1, "seed": 3}, SPEC)
    b = build_core("random_projection", {"output_dimension": 2, "window": 1, "seed": 3}, SPEC)
    c = build_core("random_projection", {"output_dimension": 2, "window": 1, "seed": 4}, SPEC)
    assert torch.equal(a.components, b.components) and not torch.equal(a.components, c.components)
    a.fit_data([SplitData("s", {"spikes": x})])
    np.testing.assert_allclose(a.mean.numpy(), x.mean(0), rtol=1e-6)


def test_errors():
    with pytest.raises(ConfigError, match="model.window: expected an integer >= 1"):
        build_core("pca", {"window": 0}, SPEC)
    core = build_core("pca", {"window": 9}, SPEC)
    with pytest.raises(ConfigError, match="no training window of 9 frames"):
        core.fit_data([SplitData("s", {"spikes": np.zeros((5, 4), np.float32)})])


def test_estimators():
    x = np.random.default_rng(3).normal(size=(200, 5)).astype(np.float32)
    pca = WindowPCA(output_dimension=2, window=1).fit(x)
    assert pca.history_.size == 0  # closed form: no training steps
    emb = pca.transform(x)
    ref = (x - x.mean(0)) @ np.linalg.svd(x - x.mean(0), full_matrices=False)[2][:2].T
    np.testing.assert_allclose(np.abs(emb), np.abs(ref), rtol=1e-3, atol=1e-4)
    rp = WindowRandomProjection(output_dimension=2, seed=7).fit(x)
    assert rp.model_.config.seed == 7 and rp.transform(x).shape == (200, 2)
