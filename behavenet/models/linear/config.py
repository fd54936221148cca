"""Hyperparameters of the linear baselines (PCA, random projection), declared once."""

from __future__ import annotations

from dataclasses import dataclass

from behavenet.models.config import FamilyConfig

__all__ = ["IdentityConfig", "PCAConfig", "RandomProjectionConfig"]


@dataclass
class PCAConfig(FamilyConfig):
    """Principal components of input windows (fitted in closed form, no training steps)."""

    output_dimension: int = 8
    """Embedding size (capped at the window's size)."""
    window: int = 5
    """Frames per window, flattened (1: per-frame PCA)."""
    whiten: bool = False
    """Scale each component to unit variance."""


@dataclass
class RandomProjectionConfig(FamilyConfig):
    """A fixed Gaussian random projection of centred input windows."""

    output_dimension: int = 8
    """Embedding size (capped at the window's size)."""
    window: int = 5
    """Frames per window, flattened."""
    seed: int = 0
    """Seed of the projection matrix."""


@dataclass
class IdentityConfig(FamilyConfig):
    """The input frames themselves as the embedding (nothing learned): features computed
    elsewhere (e.g. an embeddings file as the data input) are decoded, plotted and submitted
    exactly like a model's embeddings."""

    center: bool = False
    """Subtract the mean of the training frames."""
