"""Small Lightning callbacks used by the default configs."""

from __future__ import annotations

from lightning.pytorch.callbacks import LearningRateMonitor


class LearningRateMonitorIfLogger(LearningRateMonitor):
    """:class:`LearningRateMonitor` that stays silent (instead of failing) when there is no logger
    or no optimizer (e.g. ``logger=none`` or the PCA baseline)."""

    def on_train_start(self, trainer, *args, **kwargs):
        self._disabled = not trainer.loggers or not trainer.optimizers
        if not self._disabled:
            super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer, *args, **kwargs):
        if not getattr(self, "_disabled", True):
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer, *args, **kwargs):
        if not getattr(self, "_disabled", True):
            super().on_train_epoch_start(trainer, *args, **kwargs)
