"""PCA and random-projection baselines as Lightning modules.

PCA is fitted from streamed sufficient statistics: every training batch adds its windows'
sum and outer-product sum (float64); the principal axes are recomputed at the end of each
training epoch (and when training stops), so any number of steps works and the result equals
batch PCA on the frames seen. Windows of ``window`` frames are flattened (temporal PCA).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from behavenet.models.base import EmbeddingModel, register_model


def _input_dim(data_spec: dict, window: int) -> int:
    shapes = data_spec.get("input_shapes") or [[1]]
    dims = {int(np.prod(s)) for s in shapes}
    if len(dims) != 1:
        from behavenet.errors import ConfigError

        raise ConfigError("model", f"linear baselines need the same input size in every session, got {sorted(dims)}")
    return dims.pop() * window


class _LinearBase(EmbeddingModel):
    def __init__(self, data_spec: dict | None = None, output_dimension: int = 8, window: int = 1):
        super().__init__(data_spec)
        if window < 1:
            raise ValueError("window must be >= 1")
        self.window = int(window)
        self.in_dim = _input_dim(self.data_spec, self.window)
        self.out_dim = int(min(output_dimension, self.in_dim))
        self.automatic_optimization = False
        self.register_buffer("mean", torch.zeros(self.in_dim))
        self.register_buffer("components", torch.zeros(self.in_dim, self.out_dim))
        # Lightning counts steps by optimizer steps: a zero-learning-rate optimizer on a dummy
        # parameter makes `trainer.max_steps` mean "batches seen" for these closed-form models.
        self._step_counter = torch.nn.Parameter(torch.zeros(1), requires_grad=False)

    @property
    def receptive_field(self) -> tuple[int, int]:
        return (self.window // 2, self.window - self.window // 2)

    @property
    def embedding_dim(self) -> int:
        return self.out_dim

    def forward(self, x: torch.Tensor, session_index: int = 0) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1).to(self.mean.dtype)
        return (flat - self.mean) @ self.components

    def configure_optimizers(self):
        return torch.optim.SGD([self._step_counter], lr=0.0)

    def _count_step(self) -> None:
        self.optimizers().step()

    def _reconstruction_error(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1).to(self.mean.dtype)
        centred = flat - self.mean
        recon = centred @ self.components @ self.components.T
        return ((centred - recon) ** 2).sum(1).mean() / max(1, self.in_dim)

    def validation_step(self, batch, batch_idx):
        loss = self._reconstruction_error(batch["x"])
        self.log("val/loss", loss, prog_bar=True, batch_size=batch["x"].shape[0])
        return loss

    def test_step(self, batch, batch_idx):
        loss = self._reconstruction_error(batch["x"])
        self.log("test/loss", loss, batch_size=batch["x"].shape[0])
        return loss


@register_model("pca")
class PCAModel(_LinearBase):
    """Principal components of input windows (``window`` frames flattened)."""

    def __init__(self, data_spec: dict | None = None, output_dimension: int = 8, window: int = 1,
                 whiten: bool = False):
        super().__init__(data_spec, output_dimension, window)
        self.whiten = bool(whiten)
        self.save_hyperparameters()
        self.register_buffer("_n", torch.zeros((), dtype=torch.float64))
        self.register_buffer("_sum", torch.zeros(self.in_dim, dtype=torch.float64))
        self.register_buffer("_outer", torch.zeros(self.in_dim, self.in_dim, dtype=torch.float64))
        self.register_buffer("explained_variance", torch.zeros(self.out_dim, dtype=torch.float64))

    def training_step(self, batch, batch_idx):
        flat = batch["x"].reshape(batch["x"].shape[0], -1).double()
        self._n += flat.shape[0]
        self._sum += flat.sum(0)
        self._outer += flat.T @ flat
        self.log("train/frames_seen", self._n.float(), prog_bar=False, batch_size=flat.shape[0])
        self._count_step()
        return None

    def _fit_components(self) -> None:
        n = float(self._n)
        if n < 2:
            return
        mean = self._sum / n
        cov = (self._outer - n * torch.outer(mean, mean)) / (n - 1)
        evals, evecs = torch.linalg.eigh(cov)
        order = torch.argsort(evals, descending=True)[: self.out_dim]
        evals, evecs = evals[order].clamp_min(0), evecs[:, order]
        # deterministic sign: largest-magnitude loading positive
        signs = torch.sign(evecs[evecs.abs().argmax(0), torch.arange(evecs.shape[1])])
        evecs = evecs * torch.where(signs == 0, torch.ones_like(signs), signs)
        if self.whiten:
            evecs = evecs / torch.sqrt(evals + 1e-12)
        self.mean.copy_(mean.to(self.mean.dtype))
        self.components.copy_(evecs.to(self.components.dtype))
        self.explained_variance.copy_(evals)

    def on_train_epoch_end(self) -> None:
        self._fit_components()

    def on_train_end(self) -> None:
        self._fit_components()

    def on_validation_start(self) -> None:
        self._fit_components()


@register_model("random_projection", "random")
class RandomProjectionModel(_LinearBase):
    """A fixed Gaussian random projection of the (centred) input windows; nothing is learned
    except the mean. The projection matrix is drawn from ``seed``."""

    def __init__(self, data_spec: dict | None = None, output_dimension: int = 8, window: int = 1,
                 seed: int = 0):
        super().__init__(data_spec, output_dimension, window)
        self.save_hyperparameters()
        g = torch.Generator().manual_seed(int(seed))
        proj = torch.randn(self.in_dim, self.out_dim, generator=g) / math.sqrt(self.in_dim)
        self.components.copy_(proj)
        self.register_buffer("_n", torch.zeros((), dtype=torch.float64))
        self.register_buffer("_sum", torch.zeros(self.in_dim, dtype=torch.float64))

    def training_step(self, batch, batch_idx):
        flat = batch["x"].reshape(batch["x"].shape[0], -1).double()
        self._n += flat.shape[0]
        self._sum += flat.sum(0)
        self.mean.copy_((self._sum / self._n).to(self.mean.dtype))
        self._count_step()
        return None

    def _reconstruction_error(self, x):
        flat = x.reshape(x.shape[0], -1).to(self.mean.dtype)
        return ((flat - self.mean) ** 2).sum(1).mean() / max(1, self.in_dim)
