"""ONE LightningModule for every model family: :class:`FamilyModule` trains any
:class:`~behavenet.models.base.Core` under ``python train.py``.

It owns nothing family-specific: the steps call ``core.loss``, the optimiser and schedule come
from ``core.configure_optimizers``, the datasets from ``core.make_dataset``, and ``core.fit_data``
runs once before the first step. Its hyperparameters are ``family``, ``config`` (the family's
config dataclass as plain values) and ``data_spec``, so a checkpoint rebuilds the model with
``FamilyModule.load_from_checkpoint(path)``: no Hydra, no ``_target_``. The core is an ordinary
child module (state-dict keys ``core.*``).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch

from behavenet.data.splits import SplitData
from behavenet.models.base import Core, LossHistory
from behavenet.models.registry import build_core

__all__ = ["FamilyModule", "LossHistory", "build_module"]


def build_module(model_cfg: dict[str, Any], data_spec: dict) -> FamilyModule:
    """A :class:`FamilyModule` from a ``conf/model/*.yaml`` section (``family`` + config keys)."""
    cfg = dict(model_cfg)
    family = cfg.pop("family", None)
    if not family:
        from behavenet.errors import ConfigError

        raise ConfigError("model.family", "missing: name the model family (e.g. family: contrastive)")
    return FamilyModule(family=str(family), config=cfg, data_spec=data_spec)


class FamilyModule(L.LightningModule):
    """Lightning's side of any :class:`~behavenet.models.base.Core`.

    Parameters
    ----------
    family
        A registered family name (:func:`behavenet.models.registry.list_families`).
    config
        The family's hyperparameters as plain values (validated by its config dataclass).
    data_spec
        The data module's description of inputs and labels.
    """

    def __init__(self, family: str, config: dict[str, Any] | None = None, data_spec: dict[str, Any] | None = None):
        super().__init__()
        core = build_core(family, config or {}, data_spec or {})
        # the validated config with every default filled in: the checkpoint is self-contained
        self.save_hyperparameters(
            {"family": core.family, "config": core.config.to_dict(), "data_spec": dict(data_spec or {})}
        )
        self.core: Core = core
        self.history = LossHistory()

    # ------------------------------------------------------------------ the core's contract
    @property
    def family(self) -> str:
        return self.core.family

    @property
    def receptive_field(self) -> tuple[int, int]:
        return self.core.receptive_field

    @property
    def needs_keypoints(self) -> bool:
        return self.core.needs_keypoints

    @property
    def embedding_dim(self) -> int:
        return self.core.embedding_dim

    @property
    def trainable(self) -> bool:
        return self.core.trainable

    @property
    def embedding_names(self) -> list[str] | None:
        return self.core.embedding_names

    def embed(self, inputs, session_index: int = 0, batch_size: int | None = None) -> torch.Tensor:
        return self.core.embed(inputs, session_index, batch_size)

    def embed_split(self, split: SplitData, batch_size: int | None = None) -> np.ndarray:
        return self.core.embed_split(split, batch_size)

    def make_dataset(self, splits: list[SplitData], stage: str, seed: int = 0):
        trainer = self._trainer
        rank, world = (0, 1) if trainer is None else (int(trainer.global_rank), int(trainer.world_size))
        return self.core.make_dataset(splits, stage, seed, rank=rank, world_size=world)

    def loss_history(self) -> np.ndarray:
        """Training loss of every step so far."""
        return self.history.numpy()

    # ------------------------------------------------------------------ fitting
    def fit_data(self, datamodule) -> None:
        """Run the core's no-gradient fitting on the data module's training splits."""
        self.core.fit_data(datamodule.split_data.get("train", []))

    def on_fit_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is None:
            return
        if self.trainer.ckpt_path is None:  # a resumed run restored what fit_data computed
            self.fit_data(dm)
        make = getattr(dm, "training_window_transforms", None)
        self.core.train_transform = make() if make is not None else {}

    def on_fit_end(self) -> None:
        self.core.train_transform = {}
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None:
            self.core.fit_after_training(dm.split_data.get("train", []))

    # ------------------------------------------------------------------ steps
    def training_step(self, batch, batch_idx):
        loss, metrics = self.core.loss(batch, "train")
        self.history.record(metrics.get("loss", loss))
        if self._log_this_step():
            self.log_dict(
                {f"train/{k}": v for k, v in metrics.items()},
                on_step=True,
                on_epoch=False,
                prog_bar=False,
                batch_size=self.core.batch_size_of(batch),
            )
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

    def _eval_step(self, batch, stage: str):
        loss, metrics = self.core.loss(batch, stage)
        n = self.core.batch_size_of(batch)
        # sync_dist: under DDP each rank evaluates its share of the batches; average over ranks
        self.log_dict(
            {f"{stage}/{k}": v for k, v in metrics.items() if k != "loss"},
            on_step=False,
            on_epoch=True,
            batch_size=n,
            sync_dist=True,
        )
        self.log(
            f"{stage}/loss",
            metrics.get("loss", loss),
            on_step=False,
            on_epoch=True,
            prog_bar=stage == "val",
            batch_size=n,
            sync_dist=True,
        )
        return loss

    def validation_step(self, batch, batch_idx):
        return self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self._eval_step(batch, "test")

    def configure_optimizers(self):
        trainer = self._trainer
        total = None
        if trainer is not None:
            total = int(trainer.max_steps) if trainer.max_steps and trainer.max_steps > 0 else None
            if total is None:
                try:
                    est = trainer.estimated_stepping_batches
                    total = int(est) if np.isfinite(est) else None
                except Exception:  # noqa: BLE001 - infinite or unsized loaders
                    total = None
        optimizer, scheduler = self.core.configure_optimizers(total)
        if optimizer is None:
            return None
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        import behavenet

        checkpoint["behavenet"] = {
            "family": self.family,
            "version": behavenet.__version__,
            "torch": str(torch.__version__),
        }
