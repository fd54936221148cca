"""Small Lightning callbacks used by the default configs."""

from __future__ import annotations

import sys
import time
from weakref import proxy

from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar, TQDMProgressBar
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


def save_checkpoint_atomic(trainer, path, weights_only: bool = False) -> None:
    """``trainer.save_checkpoint(path, weights_only)``, atomically: the checkpoint is written to a temporary file
    in ``path``'s folder (``.tmp-<name>.<pid>``) that replaces ``path`` only once it is complete,
    so a run killed while saving leaves the previous ``path`` intact.

    Every rank must call it (``save_checkpoint`` synchronises the ranks); rank 0 writes and renames.
    """
    import os

    path = os.fspath(path)
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".tmp-{name}.{os.getpid()}")
    try:
        trainer.save_checkpoint(tmp, weights_only=weights_only)
        if trainer.is_global_zero:
            os.replace(tmp, path)
    finally:
        if trainer.is_global_zero and os.path.exists(tmp):
            os.remove(tmp)


class AtomicModelCheckpoint(ModelCheckpoint):
    """:class:`ModelCheckpoint` whose files are written atomically (see :func:`save_checkpoint_atomic`)
    and that also keeps ``last.ckpt`` fresh by time: besides Lightning's triggers
    (``every_n_train_steps``, validation ends), ``last.ckpt`` is rewritten when ``every_seconds``
    have passed since the last save, so a long run killed at any time loses at most that much.

    The default config (``conf/callbacks/model_checkpoint.yaml``) saves ``last.ckpt`` every 500 steps
    and every 60 s of training; ``python train.py ... ckpt_path=last`` in the same run directory
    resumes from it.
    """

    def __init__(self, *args, every_seconds: float | None = None, **kwargs):
        kwargs.setdefault("enable_version_counter", False)  # a resumed run overwrites last.ckpt
        super().__init__(*args, **kwargs)
        self.every_seconds = None if every_seconds is None else float(every_seconds)
        self._last_save_time: float | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self._last_save_time = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self.every_seconds is None or not self.save_last or self._should_skip_saving_checkpoint(trainer):
            return
        now = time.monotonic()
        due = self._last_save_time is not None and now - self._last_save_time >= self.every_seconds
        # ranks' clocks differ: rank 0 decides, or the ranks would wait for each other forever
        if trainer.strategy.broadcast(due):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer, filepath: str) -> None:
        save_checkpoint_atomic(trainer, filepath, self.save_weights_only)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        self._last_save_time = time.monotonic()
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))


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
