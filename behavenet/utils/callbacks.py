"""Small Lightning callbacks used by the default configs."""

from __future__ import annotations

import sys

from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import convert_inf


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


class StepProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, counting training steps (of ``trainer.max_steps``, runs here are
    step-based) under the name ``train`` instead of ``Epoch 0``. When the output is not a terminal
    (a log file, a pipe, a cluster job) each bar is redrawn at most ``updates_off_terminal`` times
    instead of every ``refresh_rate`` steps."""

    def __init__(self, refresh_rate: int = 10, updates_off_terminal: int = 10, **kwargs):
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        self.updates_off_terminal = max(1, int(updates_off_terminal))

    @staticmethod
    def _terminal() -> bool:
        try:
            return sys.stdout.isatty()
        except (AttributeError, ValueError):
            return False

    @property
    def train_description(self) -> str:
        return "train"

    def on_train_epoch_start(self, trainer, *args) -> None:
        # Lightning's, without the "Epoch N" description (runs here are counted in steps)
        if self._leave:
            self.train_progress_bar = self.init_train_tqdm()
        bar = self.train_progress_bar
        bar.reset()
        bar.initial = 0
        if trainer.max_steps and trainer.max_steps > 0:
            bar.total = int(trainer.max_steps)
            bar.n = int(trainer.global_step)  # resumed runs start where they were
        else:
            bar.total = convert_inf(self.total_train_batches)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if trainer.max_steps and trainer.max_steps > 0:
            batch_idx = int(trainer.global_step) - 1  # the bar counts steps, not batches of an epoch
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def _should_update(self, current: int, total) -> bool:
        if self._terminal() or not self.is_enabled:
            return super()._should_update(current, total)
        if not total:
            return current % max(self.refresh_rate, 100) == 0
        every = max(self.refresh_rate, -(-int(total) // self.updates_off_terminal))
        return current % every == 0 or current == total


class NoProgressBar(ProgressBar):
    """No progress output at all. Lightning adds its own bar when no progress-bar callback is
    configured, so ``callbacks=no_pbar`` names this one."""

    def disable(self) -> None:
        pass

    def enable(self) -> None:  # stays off
        pass

    @property
    def is_enabled(self) -> bool:
        return False
