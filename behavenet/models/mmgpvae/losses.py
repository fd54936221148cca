"""ELBO terms of the MM-GPVAE, as small functions with closed forms where they exist.

Shapes: ``mean``/``var`` of the latents read by a decoder are ``(B, T, L)`` time-domain posterior
means and marginal variances; ``mask`` is ``(B, T)`` or ``(B, T, N)`` (True where observed).
Every function returns a SUM over the observed entries (the core divides by the frame count).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["bernoulli_nll", "gaussian_nll", "gaussian_nll_linear", "kl_fourier", "poisson_expected_nll"]

_LOG_2PI = math.log(2 * math.pi)


def _mask(mask, like: torch.Tensor) -> torch.Tensor:
    if mask is None:
        return torch.ones_like(like)
    m = mask.to(like.dtype)
    while m.dim() < like.dim():
        m = m[..., None]
    return m.expand_as(like)


def poisson_expected_nll(counts, mean, var, weight, bias, mask=None) -> torch.Tensor:
    """``-E_q[log Poisson(y | exp(W z + d))]`` in closed form for Gaussian ``q(z)``:
    ``sum exp(W mu + d + W^2 var / 2) - y (W mu + d) + log y!``."""
    eta = mean @ weight.T + bias
    rate = torch.exp(eta + 0.5 * (var @ (weight**2).T))
    terms = rate - counts * eta + torch.lgamma(counts + 1)
    return (terms * _mask(mask, terms)).sum()


def gaussian_nll(x, prediction, log_var, mask=None) -> torch.Tensor:
    """``-log N(x | prediction, exp(log_var))`` summed (``log_var`` broadcasts over features)."""
    terms = 0.5 * ((x - prediction) ** 2 * torch.exp(-log_var) + log_var + _LOG_2PI)
    return (terms * _mask(mask, terms)).sum()


def gaussian_nll_linear(x, mean, var, weight, bias, log_var, mask=None) -> torch.Tensor:
    """``-E_q[log N(x | W z + b, exp(log_var))]`` in closed form for Gaussian ``q(z)``:
    ``((x - W mu - b)^2 + W^2 var) / (2 sigma^2) + log(2 pi sigma^2) / 2``."""
    pred = mean @ weight.T + bias
    sq = (x - pred) ** 2 + var @ (weight**2).T
    terms = 0.5 * (sq * torch.exp(-log_var) + log_var + _LOG_2PI)
    return (terms * _mask(mask, terms)).sum()


def bernoulli_nll(x, logits, mask=None) -> torch.Tensor:
    """``-log Bernoulli(x | sigmoid(logits))`` summed."""
    terms = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return (terms * _mask(mask, terms)).sum()


def kl_fourier(mu, chol, prior_var) -> torch.Tensor:
    """``KL(N(mu, (L L^T)^-1) || N(0, diag(prior_var)))`` summed over the leading dimensions.

    ``mu`` ``(..., F)``; ``chol`` ``(..., F, F)`` the lower Cholesky factor of the posterior
    PRECISION; ``prior_var`` ``(..., F)`` (broadcast). ``KL = 1/2 [sum (diag(S) + mu^2) / c - F +
    sum log c] + sum log diag(L)``."""
    eye = torch.eye(chol.shape[-1], dtype=chol.dtype, device=chol.device).expand_as(chol)
    linv = torch.linalg.solve_triangular(chol, eye, upper=False)
    diag_cov = (linv**2).sum(-2)
    f = mu.shape[-1]
    kl = 0.5 * (((diag_cov + mu**2) / prior_var).sum(-1) - f + torch.log(prior_var).sum(-1))
    kl = kl + torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    return kl.sum()
