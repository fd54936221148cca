"""Cores of the linear baselines: PCA and random projection of flattened input windows.

Neither has trainable parameters: :meth:`fit_data` computes, in float64 over every valid training
window (``window`` frames of every input, flattened and concatenated), the mean and, for PCA, the
covariance's leading eigenvectors (batch PCA of the training windows, exactly). ``train.py`` and
the estimators then run no optimiser steps.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from behavenet.data.splits import SplitData
from behavenet.data.windows import valid_centers
from behavenet.errors import ConfigError
from behavenet.models.base import Core, input_specs
from behavenet.models.linear.config import IdentityConfig, PCAConfig, RandomProjectionConfig

__all__ = ["IdentityCore", "PCACore", "RandomProjectionCore"]

_CHUNK = 4096  # windows per block when accumulating statistics


class _WindowLinear(Core):
    """``(flattened window - mean) @ components * scale``: the shared part of both baselines."""

    def __init__(self, config, data_spec=None, window: int | None = None, output_dimension: int | None = None):
        super().__init__(config, data_spec)
        window = int(config.window if window is None else window)
        output_dimension = int(config.output_dimension if output_dimension is None else output_dimension)
        if window < 1:
            raise ConfigError("model.window", f"expected an integer >= 1, got {window!r}")
        if output_dimension < 1:
            raise ConfigError("model.output_dimension", f"expected an integer >= 1, got {output_dimension!r}")
        specs = input_specs(self.data_spec)
        if not specs:
            raise ConfigError("data_spec.inputs", "expected at least one input")
        per_frame = 0
        for name, spec in specs.items():
            sizes = {int(np.prod(s)) for s in spec.get("shapes") or [[1]]}
            if len(sizes) != 1:
                raise ConfigError(
                    "model",
                    f"linear baselines need the same input size in every session; "
                    f"input {name!r} has sizes {sorted(sizes)}",
                )
            per_frame += sizes.pop()
        self.window = window
        self.in_dim = per_frame * window
        self.out_dim = int(min(output_dimension, self.in_dim))
        self.register_buffer("mean", torch.zeros(self.in_dim, dtype=torch.float64))
        self.register_buffer("components", torch.zeros(self.in_dim, self.out_dim, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(self.out_dim, dtype=torch.float64))
        self.register_buffer("n_windows", torch.zeros((), dtype=torch.float64))

    @property
    def receptive_field(self) -> tuple[int, int]:
        return (self.window // 2, self.window - self.window // 2)

    @property
    def embedding_dim(self) -> int:
        return self.out_dim

    def _flat(self, windows: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B, window * features)`` float64: each input's window flattened, inputs concatenated
        per frame."""
        parts = [windows[n].reshape(windows[n].shape[0], windows[n].shape[1], -1) for n in self.input_names]
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)
        return x.reshape(x.shape[0], -1).to(torch.float64)

    def encode(self, windows: dict[str, torch.Tensor], session_index: int = 0) -> torch.Tensor:
        return ((self._flat(windows) - self.mean) @ self.components * self.scale).float()

    def _window_blocks(self, splits: list[SplitData]):
        """Every valid training window, in blocks of ``(n, in_dim)`` float64 arrays."""
        from behavenet.data.datasets import frames_to_tensor

        left, right = self.receptive_field
        rel = np.arange(-left, right)
        for split in splits:
            centers = valid_centers(split.segments, left, right)
            for start in range(0, len(centers), _CHUNK):
                idx = centers[start : start + _CHUNK, None] + rel[None, :]
                windows = {}
                for name in self.input_names:
                    frames = frames_to_tensor(np.asarray(split.inputs[name][idx.reshape(-1)]))
                    windows[name] = frames.reshape(idx.shape[0], idx.shape[1], -1)
                yield self._flat(windows)

    def _accumulate(self, splits: list[SplitData], outer: bool):
        n, total = 0.0, torch.zeros(self.in_dim, dtype=torch.float64)
        prod = torch.zeros(self.in_dim, self.in_dim, dtype=torch.float64) if outer else None
        for block in self._window_blocks(splits):
            n += block.shape[0]
            total += block.sum(0)
            if outer:
                prod += block.T @ block
        if n < 1:
            raise ConfigError(
                "data", f"no training window of {self.window} frames: the training trials are shorter than model.window"
            )
        return n, total, prod

    def loss(self, batch: dict, stage: str = "train"):
        """Mean squared reconstruction error per input value of the windows (no gradient)."""
        centred = self._flat(batch["inputs"]) - self.mean
        basis = self.components
        err = ((centred - centred @ basis @ basis.T) ** 2).sum(1).mean() / max(1, self.in_dim)
        err = err.float()
        return err, {"loss": err}


class PCACore(_WindowLinear):
    """Principal components of input windows (``window`` frames flattened)."""

    def __init__(self, config: PCAConfig, data_spec=None):
        super().__init__(config, data_spec)
        self.whiten = bool(config.whiten)
        self.register_buffer("explained_variance", torch.zeros(self.out_dim, dtype=torch.float64))

    def fit_data(self, splits: list[SplitData]) -> None:
        """Batch PCA of every training window (float64 sums, one pass)."""
        n, total, prod = self._accumulate(splits, outer=True)
        mean = total / n
        cov = (prod - n * torch.outer(mean, mean)) / max(1.0, n - 1)
        evals, evecs = torch.linalg.eigh(cov)
        order = torch.argsort(evals, descending=True)[: self.out_dim]
        evals, evecs = evals[order].clamp_min(0), evecs[:, order]
        # deterministic sign: the largest-magnitude loading of each component is positive
        signs = torch.sign(evecs[evecs.abs().argmax(0), torch.arange(evecs.shape[1])])
        evecs = evecs * torch.where(signs == 0, torch.ones_like(signs), signs)
        self.mean.copy_(mean)
        self.components.copy_(evecs)
        self.explained_variance.copy_(evals)
        self.scale.copy_(1.0 / torch.sqrt(evals + 1e-12) if self.whiten else torch.ones_like(evals))
        self.n_windows.fill_(n)


class RandomProjectionCore(_WindowLinear):
    """A fixed Gaussian random projection of the centred input windows; only the mean is fitted.
    The projection matrix is drawn from ``seed``."""

    def __init__(self, config: RandomProjectionConfig, data_spec=None):
        super().__init__(config, data_spec)
        g = torch.Generator().manual_seed(int(config.seed))
        proj = torch.randn(self.in_dim, self.out_dim, generator=g) / math.sqrt(self.in_dim)
        self.components.copy_(proj.to(torch.float64))

    def fit_data(self, splits: list[SplitData]) -> None:
        n, total, _ = self._accumulate(splits, outer=False)
        self.mean.copy_(total / n)
        self.n_windows.fill_(n)

    def loss(self, batch: dict, stage: str = "train"):
        """Mean squared value of the centred windows (the projection reconstructs nothing)."""
        centred = self._flat(batch["inputs"]) - self.mean
        err = ((centred**2).sum(1).mean() / max(1, self.in_dim)).float()
        return err, {"loss": err}


class IdentityCore(_WindowLinear):
    """Each frame's inputs, flattened and concatenated, as its embedding (optionally centred on
    the training mean): evaluates features computed elsewhere like a model's embeddings."""

    def __init__(self, config: IdentityConfig, data_spec=None):
        super().__init__(config, data_spec, window=1, output_dimension=2**31 - 1)
        self.components.copy_(torch.eye(self.in_dim, dtype=torch.float64))

    def fit_data(self, splits: list[SplitData]) -> None:
        n, total, _ = self._accumulate(splits, outer=False)
        if bool(self.config.center):
            self.mean.copy_(total / n)
        self.n_windows.fill_(n)
