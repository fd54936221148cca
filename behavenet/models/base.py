"""The model-family contract: :class:`Core`, the ``nn.Module`` that holds a family's math.

A family (see ``docs/adding_a_model.md``) is one folder ``behavenet/models/<family>/`` with

``config.py``
    its hyperparameters, one dataclass (:mod:`behavenet.models.config`);
``core.py``
    a :class:`Core` subclass built as ``Core(config, data_spec)``;
``estimator.py`` (optional)
    a scikit-learn style estimator, a :class:`~behavenet.models.estimator.FamilyEstimator`;
``__init__.py``
    ``FAMILY = Family(...)`` (:mod:`behavenet.models.registry`),

plus ``conf/model/<family>.yaml``. ONE Lightning module (:class:`behavenet.models.lightning.
FamilyModule`) trains any core under ``python train.py``; ONE estimator base trains any core with a
plain loop. Neither knows anything about a particular family.

What a core implements
----------------------
``embedding_dim``, ``receptive_field``
    Output size, and ``(left, right)``: the embedding of frame ``t`` depends on the input frames
    ``[t - left, t + right)`` (``(0, 1)``: frame by frame).
``loss(batch, stage) -> (loss, metrics)``
    The scalar to minimise on one batch (with gradients) and a dict of detached scalar tensors to
    log (``loss`` included). ``stage`` is ``"train"``, ``"val"`` or ``"test"``.
``embed(inputs, session_index=0, batch_size=None) -> (T, D) tensor``
    Embed one contiguous stretch of frames, ``inputs = {input name: (T, *F) array}``. The
    default cuts windows matching the receptive field (edges replicate-padded) and calls
    :meth:`Core.encode`, which a windowed family implements instead.
``make_dataset(splits, stage, seed, rank, world_size)``
    The torch dataset of a stage (default: every window, batches ``{"inputs": {name: (B, L, *F)},
    "labels": {...}, "session", "t"}``). Whole-trial families return a
    :class:`~behavenet.data.datasets.TrialDataset` (padded, with a ``"mask"``); the contrastive
    family a stream of sampled index batches.
``fit_data(train_splits)`` (optional)
    A no-gradient step run once before the first training step (k-means of actions, PCA in
    closed form, normalisation statistics of a network). A core without trainable parameters is
    fitted by this step alone: no optimiser, no training steps.
``fit_after_training(train_splits)`` (optional)
    A no-gradient step run once after the last training step (``FamilyModule.on_fit_end``),
    e.g. the PCA that reduces BeT's pooled per-animal embeddings to ``embedding_width``.
``needs_keypoints`` (optional, default False)
    True when the core reads the raw keypoints of a pose input (``SplitData.keypoints``).

The data side is described by ``data_spec`` (a plain dict from
:attr:`behavenet.data.SessionDataModule.spec`, or built by an estimator):
``{"inputs": {name: {"shapes": [per-session frame shape], "kind": ...}}, "input": first input name,
"input_shapes": its shapes, "session_ids", "labels": {name: {"kind", "dim", ...}}, "fps"}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from behavenet.data.splits import SplitData
from behavenet.errors import ConfigError
from behavenet.models.config import FamilyConfig, TrainingConfig

__all__ = ["Core", "LossHistory", "input_specs"]


def input_specs(data_spec: dict) -> dict[str, dict]:
    """``{input name: {"shapes": [...], ...}}`` of a data spec (single-input specs included)."""
    inputs = data_spec.get("inputs")
    if inputs:
        return {str(k): dict(v) for k, v in inputs.items()}
    if data_spec.get("input"):
        return {str(data_spec["input"]): {"shapes": list(data_spec.get("input_shapes") or [])}}
    return {}


class Core(nn.Module):
    """Base class of every family's model (see the module docstring for the contract)."""

    #: Set by :func:`behavenet.models.registry.build_core` (the registered family name).
    family: str = ""

    def __init__(self, config: FamilyConfig, data_spec: dict[str, Any] | None = None):
        super().__init__()
        self.config = config
        self.data_spec = dict(data_spec or {})
        #: ``{input name: callable (B, L, F) -> (B, L, F)}`` set by the trainer to the data
        #: module's augmentation of training windows; cores that gather their own windows apply it.
        self.train_transform: dict = {}

    # ------------------------------------------------------------------ contract
    @property
    def embedding_dim(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def receptive_field(self) -> tuple[int, int]:
        return (0, 1)

    @property
    def embedding_inputs(self) -> list[str]:
        """The inputs :meth:`embed_split` embeds a run's frames from (default: every input read)."""
        return self.input_names

    @property
    def embedding_names(self) -> list[str] | None:
        """A name per embedding column (written to ``embeddings.h5``), or None."""
        return None

    @property
    def needs_keypoints(self) -> bool:
        """Whether the core reads the raw keypoints of a pose input (``SplitData.keypoints``,
        kept by the data module only then; default: no)."""
        return False

    @property
    def input_names(self) -> list[str]:
        """The data inputs this core reads (default: every input of the data spec)."""
        return list(input_specs(self.data_spec))

    def loss(self, batch: dict, stage: str = "train") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError  # pragma: no cover - abstract

    def fit_data(self, splits: list[SplitData]) -> None:
        """No-gradient fitting before training (default: nothing)."""

    def fit_after_training(self, splits: list[SplitData]) -> None:
        """No-gradient fitting after the last training step, on the training splits (e.g. a
        projection of the trained model's embeddings); default: nothing."""

    def make_dataset(self, splits: list[SplitData], stage: str, seed: int = 0, rank: int = 0, world_size: int = 1):
        """Every window matching the receptive field (``rank``/``world_size`` are applied by the
        batch sampler for map-style datasets)."""
        from behavenet.data.datasets import WindowDataset

        if not splits:
            return None
        left, right = self.receptive_field
        return WindowDataset(splits, left=left, right=right, inputs=self.input_names)

    def encode(self, windows: dict[str, torch.Tensor], session_index: int = 0) -> torch.Tensor:
        """Embed windows ``{name: (B, left + right, *F)}`` into ``(B, D)`` (windowed families)."""
        raise NotImplementedError  # pragma: no cover - abstract

    @torch.no_grad()
    def embed(self, inputs, session_index: int = 0, batch_size: int | None = None) -> torch.Tensor:
        """Embed contiguous frames ``{name: (T, *F)}`` into ``(T, D)`` with :meth:`encode`
        over replicate-padded windows."""
        from behavenet.data.datasets import frames_to_tensor
        from behavenet.data.windows import pad_for_receptive_field

        inputs = self.as_inputs(inputs)
        was_training = self.training
        self.eval()
        try:
            device = self.device
            seqs = {
                k: (v if isinstance(v, torch.Tensor) else frames_to_tensor(v)).to(device, torch.float32)
                for k, v in inputs.items()
            }
            n = len(next(iter(seqs.values())))
            left, right = self.receptive_field
            padded = {k: pad_for_receptive_field(v, left, right) for k, v in seqs.items()}
            rel = torch.arange(-left, right, device=device)
            out = []
            step = max(1, int(batch_size or 4096))
            for start in range(0, n, step):
                centers = torch.arange(start, min(n, start + step), device=device) + left
                idx = centers[:, None] + rel[None, :]
                out.append(self.encode({k: v[idx] for k, v in padded.items()}, session_index))
            return torch.cat(out) if out else torch.zeros(0, self.embedding_dim, device=device)
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ provided
    def as_inputs(self, inputs) -> dict[str, Any]:
        """``inputs`` as ``{name: array}``; a bare array is the core's only input."""
        if isinstance(inputs, dict):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ConfigError("inputs", f"missing input(s) {missing}; got {sorted(inputs)}")
            return {n: inputs[n] for n in self.input_names}
        names = self.input_names
        if len(names) != 1:
            raise ConfigError("inputs", f"this model reads {len(names)} inputs {names}: pass a dict")
        return {names[0]: inputs}

    def embed_split(self, split: SplitData, batch_size: int | None = None) -> np.ndarray:
        """Embed every frame of a split, one trial (segment) at a time; returns ``(T, D)``."""
        out = np.zeros((split.n_frames, self.embedding_dim), dtype=np.float32)
        for start, stop in split.segments:
            seg = {n: split.inputs[n][start:stop] for n in self.embedding_inputs}
            out[start:stop] = self.embed(seg, split.session_index, batch_size).float().cpu().numpy()
        return out

    @property
    def trainable(self) -> bool:
        """Whether the core has parameters to train by gradient descent."""
        return any(p.requires_grad for p in self.parameters())

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def configure_optimizers(self, total_steps: int | None = None):
        """``(optimizer, scheduler or None)`` from the config's optimiser fields
        (:class:`~behavenet.models.config.TrainingConfig`); ``(None, None)`` without any."""
        if not isinstance(self.config, TrainingConfig) or not self.trainable:
            return None, None
        from behavenet.models.optim import make_optimizer, make_scheduler

        optimizer = make_optimizer([p for p in self.parameters() if p.requires_grad], self.config)
        return optimizer, make_scheduler(optimizer, self.config, total_steps)

    def batch_size_of(self, batch: dict) -> int:
        """Items in a batch (for averaging logged metrics)."""
        inputs = batch.get("inputs") if isinstance(batch, dict) else None
        if inputs:
            return int(len(next(iter(inputs.values()))))
        return 1

    def write_figures(self, splits: list[SplitData], directory) -> list:
        """Family-specific figures of the trained model on ``splits`` (held-out data), written
        into ``directory`` by ``train.py``; returns the files (default: none)."""
        return []

    def release(self, stage: str | None = None) -> None:
        """Drop data kept by :meth:`make_dataset` (cores that keep none: nothing to do)."""


_HISTORY_CHUNK = 4096


class LossHistory:
    """Training losses kept on the device without a sync per step (preallocated chunks)."""

    def __init__(self):
        self._chunks: list[torch.Tensor] = []
        self._pos = 0
        self.validation: list[tuple[int, float]] = []  # (step, mean validation loss), if evaluated
        self.best_step: int | None = None  # step of the weights kept when validating

    def record(self, loss: torch.Tensor) -> None:
        if not self._chunks or self._pos >= _HISTORY_CHUNK:
            self._chunks.append(torch.full((_HISTORY_CHUNK,), float("nan"), device=loss.device))
            self._pos = 0
        self._chunks[-1][self._pos] = loss.detach()
        self._pos += 1

    def numpy(self) -> np.ndarray:
        if not self._chunks:
            return np.zeros(0, dtype=np.float32)
        full = torch.cat([c.detach().float().cpu() for c in self._chunks]).numpy()
        return full[: (len(self._chunks) - 1) * _HISTORY_CHUNK + self._pos].astype(np.float32)

    def __len__(self) -> int:
        return 0 if not self._chunks else (len(self._chunks) - 1) * _HISTORY_CHUNK + self._pos
