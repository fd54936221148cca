import math

import numpy as np
import pytest

from behavenet.errors import BehavenetError
from behavenet.eval.metrics import (
    bin_embedding,
    consistency_score,
    goodness_of_fit_bits,
    infonce_to_goodness_of_fit,
    latent_r2,
)


def _curve(y):
    return np.stack([np.cos(3 * y), np.sin(3 * y), y], axis=1)


def test_consistency_between_runs():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(400, 4))
    a = rng.normal(size=(4, 4))
    res = consistency_score([e, e @ a, rng.normal(size=(400, 4))])
    assert res.matrix.shape == (3, 3) and np.isnan(np.diag(res.matrix)).all()
    assert res.matrix[0, 1] == pytest.approx(1.0) and res.matrix[1, 0] == pytest.approx(1.0)
    assert res.matrix[0, 2] < 0.1
    held = consistency_score([e, e @ a + 0.01 * rng.normal(size=(400, 4))], held_out=True)
    assert held.held_out and held.mean > 0.99
    assert len(res.pairs) == 6 and set(res.as_dict()) >= {"mean", "matrix"}
    with pytest.raises(BehavenetError):
        consistency_score([e, e[:10]])


def test_consistency_between_sessions_with_binning_and_empty_bins():
    rng = np.random.default_rng(1)
    y0 = rng.uniform(0, 1, 600)
    y1 = rng.uniform(0, 0.6, 300)  # covers only part of the range: many empty bins
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    e0 = _curve(y0) + 0.01 * rng.normal(size=(600, 3))
    e1 = _curve(y1) @ rot
    res = consistency_score([e0, e1], between="sessions", labels=[y0, y1], n_bins=30)
    assert res.mean > 0.95
    assert 10 < res.n_bins_used[(0, 1)] < 30
    shuffled = consistency_score([e0, rng.permutation(e1)], between="sessions", labels=[y0, y1], n_bins=30)
    assert shuffled.mean < res.mean
    held = consistency_score([e0, e1], between="sessions", labels=[y0, y1], n_bins=30, held_out=True)
    assert held.mean > 0.8
    # discrete labels: classes are the bins; pairs sharing too few classes give NaN, not an error
    c0, c1 = rng.integers(0, 8, 600), rng.integers(6, 8, 300)
    disc = consistency_score([e0, e1], between="sessions", labels=[c0, c1], label_kind="discrete", min_bins=3)
    assert np.isnan(disc.matrix[0, 1])
    ids, means = bin_embedding(e0, c0, label_kind="discrete")
    assert list(ids) == list(range(8)) and means.shape == (8, 3)
    with pytest.raises(BehavenetError) as err:
        consistency_score([e0, e1], between="sessions")
    assert "\n" not in str(err.value) and "labels" in str(err.value)


def test_latent_r2_in_sample_and_held_out():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(1000, 2))
    emb = np.hstack([z @ rng.normal(size=(2, 2)), rng.normal(size=(1000, 3))])
    assert latent_r2(emb, z)["r2"] == pytest.approx(1.0)
    held = latent_r2(emb + 0.1 * rng.normal(size=emb.shape), z, held_out=True, split="random")
    assert 0.9 < held["r2"] < 1.0 and len(held["r2_per_dim"]) == 2
    assert latent_r2(rng.normal(size=(1000, 2)), z, held_out=True)["r2"] < 0.05
    with pytest.raises(BehavenetError):
        latent_r2(emb, z[:10])
    with pytest.raises(BehavenetError):
        latent_r2(emb, z, held_out=True, split="weird")


def test_goodness_of_fit_conversions():
    assert goodness_of_fit_bits(math.log(512), 512) == pytest.approx(0.0)
    assert goodness_of_fit_bits(0.0, 256, 2) == pytest.approx(9.0)
    assert np.allclose(infonce_to_goodness_of_fit(np.array([math.log(8), 0.0]), 8), [0.0, 3.0])
    with pytest.raises(BehavenetError):
        goodness_of_fit_bits(1.0, 0)
