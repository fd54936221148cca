"""Hyperparameters of the multi-input autoencoder, declared once."""

from __future__ import annotations

from dataclasses import dataclass

from behavenet.models.config import TrainingConfig

__all__ = ["AutoencoderConfig"]


@dataclass
class AutoencoderConfig(TrainingConfig):
    """Per-input encoders into a shared latent, per-input decoders, mean squared error."""

    output_dimension: int = 8
    """Size of the shared latent (the embedding)."""
    hidden_units: int = 0
    """Width of one hidden layer in every encoder and decoder (0: linear maps)."""
    window: int = 1
    """Frames per window, flattened (the window is encoded and reconstructed)."""
    inputs: list[str] | None = None
    """Data inputs to encode (null: every input the data serve)."""
