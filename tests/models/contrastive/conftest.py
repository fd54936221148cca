"""Shared fixtures of the contrastive-model tests: small seeded data (one torch thread: ../conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest


def place_cells(seed: int = 0, T: int = 1200, N: int = 30, smooth: float = 20.0):
    """Poisson counts ``(T, N)`` from a smooth 2-D latent in [-1, 1]^2 and the latent ``(T, 2)``."""
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    z = gaussian_filter1d(rng.standard_normal((T, 2)), sigma=smooth, axis=0)
    z = z - z.min(0)
    z = 2 * z / z.max(0) - 1
    centres = rng.uniform(-1, 1, size=(N, 2))
    d2 = ((z[:, None, :] - centres[None]) ** 2).sum(-1)
    rate = 0.5 + 20.0 * np.exp(-d2 / (2 * 0.3**2))
    x = rng.poisson(rate * 0.05).astype(np.float32)
    return x, z.astype(np.float32)


@pytest.fixture
def spikes():
    return place_cells()
