"""ELBO terms against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import torch

from behavenet.models.mmgpvae.losses import (
    bernoulli_nll,
    gaussian_nll,
    gaussian_nll_linear,
    kl_fourier,
    poisson_expected_nll,
)


def test_poisson_expected_nll_by_hand():
    # one neuron, one latent: eta = w mu + d = 0.5 * 1 + 0.1 = 0.6; E[rate] = exp(0.6 + 0.5 * 0.25 * 0.4)
    y = torch.tensor([[[3.0]]])
    mean, var = torch.tensor([[[1.0]]]), torch.tensor([[[0.4]]])
    w, d = torch.tensor([[0.5]]), torch.tensor([0.1])
    got = float(poisson_expected_nll(y, mean, var, w, d))
    want = math.exp(0.6 + 0.05) - 3 * 0.6 + math.lgamma(4)
    assert abs(got - want) < 1e-5


def test_poisson_expected_nll_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    y = torch.poisson(torch.full((1, 4, 3), 2.0), generator=g)
    mean, var = torch.randn(1, 4, 2, generator=g), torch.rand(1, 4, 2, generator=g)
    w, d = torch.randn(3, 2, generator=g) * 0.5, torch.zeros(3)
    z = mean + var.sqrt() * torch.randn(200_000, 4, 2, generator=g)
    eta = z @ w.T + d
    mc = (torch.exp(eta) - y * eta + torch.lgamma(y + 1)).sum((1, 2)).mean()
    assert abs(float(poisson_expected_nll(y, mean, var, w, d)) - float(mc)) < 0.02 * abs(float(mc))


def test_gaussian_terms_by_hand_and_masks():
    x = torch.tensor([[[1.0, 2.0]]])
    pred = torch.tensor([[[0.0, 2.0]]])
    log_var = torch.tensor([math.log(4.0), 0.0])
    want = 0.5 * (1 / 4 + math.log(4) + math.log(2 * math.pi)) + 0.5 * (0 + 0 + math.log(2 * math.pi))
    assert abs(float(gaussian_nll(x, pred, log_var)) - want) < 1e-6
    mask = torch.tensor([[[True, False]]])
    assert abs(float(gaussian_nll(x, pred, log_var, mask)) - 0.5 * (1 / 4 + math.log(4) + math.log(2 * math.pi))) < 1e-6
    # linear decoder in closed form: E(x - w z - b)^2 = (x - w mu - b)^2 + w^2 var
    mean, var = torch.tensor([[[0.5]]]), torch.tensor([[[0.3]]])
    w, b = torch.tensor([[2.0], [0.0]]), torch.tensor([0.0, 2.0])
    got = float(gaussian_nll_linear(x, mean, var, w, b, log_var))
    sq0 = (1.0 - 1.0) ** 2 + 4 * 0.3
    want = 0.5 * (sq0 / 4 + math.log(4) + math.log(2 * math.pi)) + 0.5 * math.log(2 * math.pi)
    assert abs(got - want) < 1e-6


def test_bernoulli_nll_by_hand():
    x, logits = torch.tensor([1.0, 0.0]), torch.tensor([0.0, math.log(3.0)])
    want = math.log(2.0) + math.log(4.0)  # -log 0.5 - log(1 - 0.75)
    assert abs(float(bernoulli_nll(x, logits)) - want) < 1e-6


def test_kl_fourier_by_hand_and_against_torch():
    # 1-D: KL(N(mu, s2) || N(0, c)) = 0.5 (s2 / c + mu^2 / c - 1 + ln(c / s2)); precision 1 / s2 = L^2
    mu, s2, c = 0.7, 0.25, 2.0
    got = float(kl_fourier(torch.tensor([mu]), torch.tensor([[1 / math.sqrt(s2)]]), torch.tensor([c])))
    want = 0.5 * (s2 / c + mu**2 / c - 1 + math.log(c / s2))
    assert abs(got - want) < 1e-6
    # full covariance, several latents
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3, 5, 5, generator=g, dtype=torch.float64)
    prec = a @ a.transpose(-1, -2) + 5 * torch.eye(5, dtype=torch.float64)
    mu = torch.randn(3, 5, generator=g, dtype=torch.float64)
    c = torch.rand(3, 5, generator=g, dtype=torch.float64) + 0.1
    q = torch.distributions.MultivariateNormal(mu, precision_matrix=prec)
    p = torch.distributions.MultivariateNormal(torch.zeros_like(mu), covariance_matrix=torch.diag_embed(c))
    want = float(torch.distributions.kl_divergence(q, p).sum())
    got = float(kl_fourier(mu, torch.linalg.cholesky(prec), c))
    np.testing.assert_allclose(got, want, rtol=1e-9)
