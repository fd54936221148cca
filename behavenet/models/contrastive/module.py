"""The contrastive (CEBRA-like) LightningModule: Lightning's side of a :class:`ContrastiveCore`.

Everything the model computes (encoders, InfoNCE, index-batch streams, the loss of a batch,
the optimiser, embedding) lives in the plain ``nn.Module``
:class:`~behavenet.models.contrastive.core.ContrastiveCore`, which the scikit-learn style
estimator trains without Lightning. :class:`ContrastiveModel` wraps one core for
``python train.py model=contrastive``: training, validation and test steps with logging of
``loss``, ``align``, ``uniform``, ``temperature`` and ``gof_bits``, checkpoints with the
hyperparameters, and the :class:`~behavenet.models.base.EmbeddingModel` contract.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from behavenet.data.views import SplitData
from behavenet.models.base import EmbeddingModel, register_model
from behavenet.models.contrastive.core import ContrastiveCore, ContrastiveStream

__all__ = ["ContrastiveModel", "ContrastiveStream"]


@register_model("contrastive", "cebra")
class ContrastiveModel(EmbeddingModel):
    """Contrastive embedding model (CEBRA-like; see ``docs/contrastive.md``) as a LightningModule.

    The networks, loss, sampling and embedding are a :class:`~behavenet.models.contrastive.core.
    ContrastiveCore` (:attr:`core`); this module adds Lightning's steps, logging and checkpoints.
    Its state dict holds the core's ``encoders.*`` and ``criterion.*`` under the same names.

    Parameters
    ----------
    data_spec
        ``{"input", "input_shapes", "session_ids", "labels": {name: {"kind", "dim"}}, "fps"}``.
    model_architecture
        Encoder name, see :func:`~behavenet.models.contrastive.encoders.list_architectures`
        (``offset1``, ``offset5``, ``offset10``, ``offset36``, ``*-mse``; CEBRA names accepted).
    num_hidden_units, output_dimension
        Encoder width and embedding size.
    conditional
        ``time``, ``time_delta``, ``delta``, ``discrete``, ``mixed`` or ``None`` (from the label
        kinds in ``data_spec``: continuous -> time_delta, discrete -> discrete, both -> mixed,
        none -> time).
    time_offsets
        Frames between time positives / over which label changes are measured (int or list).
    distance, temperature_mode, temperature, min_temperature
        Similarity (``cosine``/``euclidean``) and temperature (``constant``/``auto``).
    delta
        Query noise for ``conditional="delta"`` (label units).
    hybrid
        Add a time-contrastive loss (positives at ``t + offset``) to a label-based one. The
        label loss uses the first ``hybrid_behavior_dims`` embedding dimensions (all when
        ``None`` or >= output_dimension), as CEBRA's hybrid mode.
    prior
        ``auto``, ``empirical`` or ``balanced`` (class-balanced references for discrete labels).
    labels
        Names of the labels (from ``data_spec``) to condition on; ``None`` = all.
    batch_size
        References (= negatives) per session per step.
    learning_rate, weight_decay
        Adam settings.
    val_batches
        Batches in the (fixed-seed) validation and test streams.
    frame_encoder, frame_features, frame_layout
        ``"conv"`` embeds each video frame with a small CNN into ``frame_features`` values that
        feed the temporal encoder (default for ``input == "video"``); frames are ``HWC``
        (behavenet's video layout) or ``CHW``.
    nn_backend
        Nearest-neighbour search for label positives: ``auto``, ``kdtree`` or ``cdist``.
    """

    def __init__(self, data_spec: dict[str, Any] | None = None, model_architecture: str = "offset10",
                 num_hidden_units: int = 32, output_dimension: int = 8, conditional: str | None = None,
                 time_offsets: int | list[int] = 10, distance: str = "cosine",
                 temperature_mode: str = "constant", temperature: float = 1.0,
                 min_temperature: float = 0.1, delta: float | None = None, hybrid: bool = False,
                 hybrid_behavior_dims: int | None = 3, prior: str = "auto",
                 labels: list[str] | None = None, batch_size: int = 512, learning_rate: float = 3e-4,
                 weight_decay: float = 0.0, val_batches: int = 10, frame_encoder: str | None = None,
                 frame_features: int = 32, frame_layout: str = "HWC", nn_backend: str = "auto"):
        super().__init__(data_spec)
        self.save_hyperparameters()
        kwargs = {k: v for k, v in self.hparams.items() if k != "data_spec"}
        core = ContrastiveCore(self.data_spec, **kwargs)
        # The core is not registered as a child module: its networks are, under their own
        # names, so the parameters appear once and the checkpoint keys stay "encoders.*" and
        # "criterion.*" (the same layout as the estimator's files and earlier checkpoints).
        object.__setattr__(self, "core", core)
        self.encoders = core.encoders
        self.criterion = core.criterion

    # ------------------------------------------------------------------ the core's settings
    @property
    def model_architecture(self) -> str:
        return self.core.model_architecture

    @property
    def time_offsets(self) -> list[int]:
        return self.core.time_offsets

    @property
    def label_names(self) -> list[str]:
        return self.core.label_names

    @property
    def conditional(self) -> str:
        return self.core.conditional

    @property
    def hybrid(self) -> bool:
        return self.core.hybrid

    @property
    def batch_size(self) -> int:
        return self.core.batch_size

    @property
    def is_video(self) -> bool:
        return self.core.is_video

    # ------------------------------------------------------------------ contract
    @property
    def receptive_field(self) -> tuple[int, int]:
        return self.core.receptive_field

    @property
    def embedding_dim(self) -> int:
        return self.core.embedding_dim

    @property
    def n_sessions(self) -> int:
        return self.core.n_sessions

    def forward(self, x: torch.Tensor, session_index: int = 0) -> torch.Tensor:
        """Embed windows ``(B, left + right, *F)`` into ``(B, D)``."""
        return self.core(x, session_index)

    def sampler_for(self, splits: list[SplitData]):
        return self.core.sampler_for(splits)

    def make_dataset(self, splits: list[SplitData], stage: str, seed: int = 0):
        """Infinite stream of index batches for ``"train"``; ``val_batches`` fixed-seed batches
        for ``"val"``/``"test"``. The splits' inputs are kept on the core for the steps."""
        self.core.val_batches = int(self.hparams.val_batches)
        trainer = self._trainer
        rank, world = (0, 1) if trainer is None else (int(trainer.global_rank), int(trainer.world_size))
        return self.core.make_dataset(splits, stage, seed, rank=rank, world_size=world)

    # ------------------------------------------------------------------ augmentation
    def on_fit_start(self) -> None:
        """Batches are frame indices, so the data module cannot augment them after transfer;
        instead the core applies the data module's pose augmentation (``data.augment``) to each
        gathered training window: one random transform per window, the same for all its frames."""
        dm = getattr(self.trainer, "datamodule", None)
        aug = getattr(dm, "_augment", None)
        if aug is None or not aug.active or getattr(dm, "input", None) != "pose":
            self.core.window_transform = None
            return
        gen = torch.Generator().manual_seed(int(getattr(dm, "seed", 0)) + 12345)
        self.core.window_transform = lambda w: dm.augment_pose(w, gen)

    def on_fit_end(self) -> None:
        self.core.window_transform = None

    # ------------------------------------------------------------------ steps
    def _step(self, batch: dict, stage: str, with_metrics: bool = True):
        return self.core.step(batch, stage, with_metrics)

    def training_step(self, batch, batch_idx):
        log_now = self._log_this_step()
        loss, metrics = self._step(batch, "train", with_metrics=log_now)
        self.core.record(metrics["loss"])
        if log_now:
            self.log_dict({f"train/{k}": v for k, v in metrics.items()}, on_step=True, on_epoch=False,
                          prog_bar=False, batch_size=self.batch_size)
        return loss

    def _log_this_step(self) -> bool:
        """Log training metrics only on the steps the trainer writes (``log_every_n_steps``)
        and never without a logger: ``self.log`` costs more than a small step's arithmetic."""
        trainer = self._trainer
        if trainer is None:
            return False
        if not trainer.loggers and not trainer.progress_bar_callback:
            return False
        every = max(1, int(getattr(trainer, "log_every_n_steps", 1) or 1))
        return (self.global_step + 1) % every == 0 or self.global_step == 0

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        """Index batches are a dict of tensors and lists of tensors; move them directly."""
        if isinstance(batch, dict) and "ref" in batch:
            if device.type == "cpu":
                return batch
            return {k: ([t.to(device, non_blocking=True) for t in v] if isinstance(v, list)
                        else v.to(device, non_blocking=True)) for k, v in batch.items()}
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def validation_step(self, batch, batch_idx):
        loss, metrics = self._step(batch, "val")
        # sync_dist: under DDP each rank evaluates its share of the batches; average over ranks
        self.log_dict({f"val/{k}": v for k, v in metrics.items() if k != "loss"}, on_step=False, on_epoch=True,
                      batch_size=self.batch_size, sync_dist=True)
        self.log("val/loss", metrics["loss"], on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=self.batch_size, sync_dist=True)
        return loss

    def test_step(self, batch, batch_idx):
        loss, metrics = self._step(batch, "test")
        self.log_dict({f"test/{k}": v for k, v in metrics.items()}, on_step=False, on_epoch=True,
                      batch_size=self.batch_size, sync_dist=True)
        return loss

    def configure_optimizers(self):
        self.core.learning_rate = float(self.hparams.learning_rate)
        self.core.weight_decay = float(self.hparams.weight_decay)
        return self.core.make_optimizer()

    # ------------------------------------------------------------------ loss history
    def loss_history(self) -> np.ndarray:
        """Training loss of every step so far (numpy, one value per step)."""
        return self.core.loss_history()

    # ------------------------------------------------------------------ embedding
    def embed(self, x, session_index: int = 0, batch_size: int = 8192) -> torch.Tensor:
        """Embed a contiguous ``(T, *F)`` sequence into ``(T, D)``; edges replicate-padded.

        Convolutional encoders run fully convolutionally over chunks of ``batch_size`` frames.
        """
        return self.core.embed(x, session_index, batch_size)

    def embed_split(self, split: SplitData, modality: str | None = None, batch_size: int = 8192) -> np.ndarray:
        """Embed every frame of a split, one trial (segment) at a time; returns ``(T, D)``."""
        return self.core.embed_split(split, modality, batch_size)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["behavenet_contrastive"] = {"conditional": self.conditional,
                                               "time_offsets": self.time_offsets}
