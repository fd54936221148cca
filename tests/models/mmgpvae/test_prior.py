"""The Fourier-domain GP prior against gpytorch's dense kernel matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("gpytorch")

from behavenet.models.mmgpvae.prior import (  # noqa: E402
    FourierGPPrior,
    circle_size,
    fourier_basis,
    kernel_correlation,
    n_frequencies,
)


@pytest.mark.parametrize("kernel", ["rbf", "matern12", "matern32", "matern52"])
@pytest.mark.parametrize("ell", [3.0, 10.0, 30.0])
@pytest.mark.parametrize("n_bins", [1, 7, 60, 151])
def test_implied_covariance_matches_the_dense_gpytorch_kernel(kernel, ell, n_bins):
    prior = FourierGPPrior(2, kernel, lengthscale=ell, jitter=0.0)
    with torch.no_grad():
        implied = prior.covariance(n_bins)
        dense = prior.dense_covariance(n_bins)
    assert implied.shape == (2, n_bins, n_bins)
    assert float((implied - dense).abs().max()) < 1e-3


@pytest.mark.parametrize("kernel", ["rbf", "matern12", "matern32", "matern52"])
def test_the_ends_of_a_trial_are_uncorrelated_at_the_documented_padding(kernel):
    ell, n_bins = 10.0, 60
    prior = FourierGPPrior(1, kernel, lengthscale=ell, jitter=0.0)
    with torch.no_grad():
        cov = prior.covariance(n_bins)[0]
    truth = kernel_correlation(kernel, float(n_bins - 1), ell)  # 3e-8 (rbf) .. 3e-3 (matern12)
    assert abs(float(cov[0, -1]) - truth) < 1e-3


def test_the_official_short_padding_correlates_the_ends():
    # n_circ = 1.2 T = 72 for T = 60 (the official code): corr(z_0, z_59) is about 0.43 at l = 10,
    # where the RBF kernel gives 3e-8; the documented padding removes it (test above)
    prior = FourierGPPrior(1, "rbf", lengthscale=10.0, jitter=0.0, pad_lengthscales=1.2)
    assert circle_size(60, 10.0, 1.2) == 72
    with torch.no_grad():
        cov = prior.covariance(60)[0]
    assert 0.35 < float(cov[0, -1] / cov[0, 0]) < 0.5


def test_rbf_frequency_rule_is_the_asd_rule():
    # n_circ = 72, l_min = 10, cutoff 1e-8: k_max = floor(72 / (pi 10) sqrt(0.5 ln 1e8)) = 6
    assert n_frequencies(72, "rbf", 10.0, 1e-8) == 6
    expected = math.floor(72 / (math.pi * 10.0) * math.sqrt(0.5 * math.log(1e8)))
    assert n_frequencies(72, "rbf", 10.0, 1e-8) == expected
    assert n_frequencies(72, "rbf", 0.1, 1e-8) == 36  # capped at Nyquist


def test_basis_rows_are_orthonormal_on_the_circle():
    basis, freq = fourier_basis(40, 40, 20)
    assert basis.shape == (40, 40)  # 21 cosines + 19 sines (no sine at Nyquist)
    np.testing.assert_allclose((basis @ basis.T).numpy(), np.eye(40), atol=1e-5)
    assert sorted(freq.tolist()) == sorted(list(range(21)) + list(range(1, 20)))


def test_each_latent_learns_its_own_lengthscale_through_the_kl():
    from behavenet.models.mmgpvae.losses import kl_fourier

    prior = FourierGPPrior(3, "rbf", lengthscale=10.0)
    basis, var = prior.basis(50)
    mu = torch.randn(2, 3, var.shape[1])
    chol = torch.eye(var.shape[1]).expand(2, 3, -1, -1) * 3.0
    kl_fourier(mu, chol, var).backward()
    grad = prior.kernel.base_kernel.raw_lengthscale.grad
    assert grad is not None and grad.shape[0] == 3 and torch.isfinite(grad).all() and (grad != 0).all()
    assert prior.lengthscales.shape == (3,)
    assert torch.allclose(prior.outputscales, torch.ones(3))  # explicit, not gpytorch's 0.69 default
