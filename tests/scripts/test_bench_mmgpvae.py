"""scripts/bench_mmgpvae.py: the shared held-out metric on known-answer cases.

Needs neither the official MM-GPVAE tree nor the generated .bench data.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_mmgpvae.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_mmgpvae", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _truth(rng, n=60, t=60):
    return {
        "angle": 70.0 * rng.standard_normal((n, t)),
        "zoom": 1.0 + 0.87 * rng.standard_normal((n, t)),
        "g2": 0.72 * rng.standard_normal((n, t)),
    }


def test_exact_affine_maps_give_r2_one(bench):
    rng = np.random.default_rng(0)
    truth = _truth(rng)
    lat = {  # each latent an exact affine map of its target (sign flips and offsets included)
        "shared": (-0.01 * truth["angle"] + 3.0)[..., None],
        "images": (2.5 * truth["zoom"] - 1.0)[..., None],
        "spikes": (0.3 * truth["g2"] + 0.2)[..., None],
    }
    m = bench.score(lat, truth)
    for key in ("shared[0]->angle", "images[0]->zoom", "spikes[0]->g2"):
        assert m["per_latent"][key]["r2"] == pytest.approx(1.0, abs=1e-10)
        assert m["per_latent"][key]["mse"] == pytest.approx(0.0, abs=1e-8)
    assert all(v == pytest.approx(1.0, abs=1e-10) for v in m["all_latents_r2"].values())
    assert all(v == pytest.approx(1.0, abs=1e-10) for v in m["block_r2"].values())


def test_noisy_latent_matches_closed_form(bench):
    """Latent = truth + independent noise: the in-sample affine fit equals the closed form
    R^2 = corr^2 and MSE = (1 - R^2) * var(truth), computed independently here."""
    rng = np.random.default_rng(1)
    truth = _truth(rng)
    z = truth["angle"] + 70.0 * rng.standard_normal(truth["angle"].shape)  # SNR 1 -> R^2 ~ 0.5
    m = bench.score({"shared": z[..., None]}, truth)
    r = np.corrcoef(z.ravel(), truth["angle"].ravel())[0, 1]
    got = m["per_latent"]["shared[0]->angle"]
    assert got["r2"] == pytest.approx(r**2, rel=1e-9)
    assert got["mse"] == pytest.approx((1 - r**2) * truth["angle"].var(), rel=1e-9)
    assert got["r2"] == pytest.approx(0.5, abs=0.03)
    # blocks that are absent are skipped; all-latents R^2 then uses only the shared latent
    assert set(m["block_r2"]) == {"shared->angle"}
    assert m["all_latents_r2"]["angle"] == pytest.approx(r**2, rel=1e-9)


def test_pure_noise_gives_r2_near_zero_and_all_latents_pools(bench):
    rng = np.random.default_rng(2)
    truth = _truth(rng)
    noise = {b: rng.standard_normal((60, 60, 1)) for b in ("shared", "images", "spikes")}
    m = bench.score(noise, truth)
    for v in m["per_latent"].values():
        assert 0.0 <= v["r2"] < 0.005  # in-sample fit on 3600 points: R^2 ~ 1/3600
    # all-latents R^2 finds a target hidden in a different block's latent
    swapped = dict(noise, images=truth["angle"][..., None])
    assert bench.score(swapped, truth)["all_latents_r2"]["angle"] == pytest.approx(1.0, abs=1e-10)


def test_reconstruction_scores(bench):
    rng = np.random.default_rng(3)
    truth = _truth(rng, n=4, t=5)
    lat = {"shared": truth["angle"][..., None]}
    img = rng.uniform(0, 255, (4, 5, 36, 36))
    rates = rng.uniform(0.5, 5.0, (4, 5, 100))
    m = bench.score(lat, truth, images_hat=img + 2.0, images_true=img, rates_hat=rates, rates_true=rates)
    assert m["image_mse_per_pixel"] == pytest.approx(4.0)
    assert m["rates_r2_pooled"] == pytest.approx(1.0)
    m = bench.score(lat, truth, rates_hat=np.full_like(rates, rates.mean()), rates_true=rates)
    assert m["rates_r2_pooled"] == pytest.approx(0.0, abs=1e-12)
    assert "image_mse_per_pixel" not in m


def test_shape_mismatch_raises(bench):
    rng = np.random.default_rng(4)
    truth = _truth(rng)
    with pytest.raises(ValueError):
        bench.score({"shared": np.zeros((59, 60, 1))}, truth)


def test_wrap_share_puts_the_error_on_the_trials_passing_the_threshold(bench):
    # trial 0 passes +-180; the angle equals the latent except on trial 2, where it is off by
    # [1, -2, 1], orthogonal to (latent, 1): the fitted map stays the identity and all the error
    # stays on trial 2
    shared = np.array([[0.0, 100.0, 200.0], [0.0, -50.0, -100.0], [10.0, 20.0, 30.0]])
    angle = shared + np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, -2.0, 1.0]])
    assert bench.wrap_share(shared, angle) == pytest.approx(0.0, abs=1e-9)
    assert bench.wrap_share(shared, angle, beyond=25.0) == pytest.approx(1.0)
    shared[0, 1] += 3.0  # error on the passing trial too: its share is now positive, below 1
    assert 0.0 < bench.wrap_share(shared, angle) < 1.0
