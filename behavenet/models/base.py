"""Base class and registry for every behavenet model family.

A model family lives in ``behavenet/models/<family>/`` and registers its LightningModule with
:func:`register_model`, in the package or in its ``module`` submodule (both are imported by the
registry). Each module subclasses :class:`EmbeddingModel`, which fixes the contract
with the data side and with the run directory:

``__init__(data_spec, ...)``
    ``data_spec`` (a plain dict, see :func:`behavenet.data.datamodules.SessionDataModule.spec`)
    gives the input modality, per-session input shapes and the labels on offer. Networks are built
    from it, and it is saved with the hyperparameters so ``load_from_checkpoint`` rebuilds the model.
``make_dataset(splits, stage, seed)``
    Returns the torch ``Dataset`` (map-style or iterable) that feeds training (``stage="train"``)
    or validation/test. The default serves fixed-length windows; contrastive models return a
    stream of sampled (reference, positive, negative) batches, GP-VAEs whole trials.
``embed(x, session_index)``
    Embeds one contiguous ``(T, *F)`` tensor into ``(T, D)``; used for the run's
    ``embeddings.h5`` and by the sklearn-style estimators. Edges are replicate-padded.
``receptive_field``
    ``(left, right)``: the embedding of frame t depends on frames ``[t-left, t+right)``.

Hyperparameters are plain values (numbers, strings, lists) so checkpoints load without Hydra.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import lightning as L
import numpy as np
import torch

from behavenet.data.views import SplitData
from behavenet.data.windows import pad_for_receptive_field, valid_centers

_REGISTRY: dict[str, type] = {}
_ALIASES: dict[str, str] = {}


def register_model(name: str, *aliases: str):
    """Class decorator adding a model family to the registry under ``name`` (and aliases)."""

    def deco(cls):
        _REGISTRY[name] = cls
        for a in aliases:
            _ALIASES[a] = name
        cls.family = name
        return cls

    return deco


def list_models(pattern: str = "*") -> list[str]:
    """Registered model family names matching a glob pattern."""
    _import_families()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_model_class(name: str) -> type:
    """The LightningModule class registered under ``name`` (or an alias)."""
    _import_families()
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        from behavenet.errors import ConfigError

        raise ConfigError("model", f"unknown model family {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[key]


def _import_families() -> None:
    """Import every family package, and its ``module`` submodule (the LightningModule that
    registers itself) where there is one: a family may keep its package import light."""
    import importlib
    import importlib.util
    import pkgutil

    import behavenet.models as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.ispkg and not info.name.startswith("_"):
            name = f"behavenet.models.{info.name}"
            importlib.import_module(name)
            if importlib.util.find_spec(f"{name}.module") is not None:
                importlib.import_module(f"{name}.module")


class EmbeddingModel(L.LightningModule):
    """Common base of behavenet's representation models (see the module docstring)."""

    family = "base"

    def __init__(self, data_spec: dict[str, Any] | None = None):
        super().__init__()
        self.data_spec = dict(data_spec or {})

    # ------------------------------------------------------------------ contract
    @property
    def receptive_field(self) -> tuple[int, int]:
        return (0, 1)

    @property
    def embedding_dim(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def make_dataset(self, splits: list[SplitData], stage: str, seed: int = 0):
        """Dataset for ``stage``; the default serves windows matching the receptive field."""
        from behavenet.data.datasets import WindowDataset

        left, right = self.receptive_field
        return WindowDataset(splits, left=left, right=right, stride=1)

    def forward(self, x: torch.Tensor, session_index: int = 0) -> torch.Tensor:
        """Embed a batch of windows ``(B, left+right, *F)`` into ``(B, D)``."""
        raise NotImplementedError  # pragma: no cover

    @torch.no_grad()
    def embed(self, x: torch.Tensor | np.ndarray, session_index: int = 0,
              batch_size: int = 4096) -> torch.Tensor:
        """Embed a contiguous ``(T, *F)`` sequence into ``(T, D)`` (edges replicate-padded)."""
        was_training = self.training
        self.eval()
        x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        x = x.to(self.device, dtype=torch.float32)
        left, right = self.receptive_field
        padded = pad_for_receptive_field(x, left, right)
        n = x.shape[0]
        out = []
        rel = torch.arange(-left, right, device=padded.device)
        for start in range(0, n, batch_size):
            centers = torch.arange(start, min(n, start + batch_size), device=padded.device) + left
            out.append(self(padded[centers[:, None] + rel[None, :]], session_index))
        self.train(was_training)
        return torch.cat(out, 0) if out else torch.zeros(0, self.embedding_dim)

    def embed_split(self, split: SplitData, modality: str | None = None,
                    batch_size: int = 4096) -> np.ndarray:
        """Embed every frame of a split, one trial (segment) at a time; returns ``(T, D)``."""
        data = split.inputs[modality] if modality else split.input
        out = np.zeros((split.n_frames, self.embedding_dim), dtype=np.float32)
        for start, stop in split.segments:
            seg = np.asarray(data[start:stop], dtype=np.float32)
            out[start:stop] = self.embed(seg, split.session_index, batch_size).cpu().numpy()
        return out

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def centers_for(split: SplitData, left: int, right: int, offset: int = 0) -> np.ndarray:
        return valid_centers(split.segments, left, right, offset)
