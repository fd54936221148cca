"""Optimiser and learning-rate schedule from a family's config (:class:`~behavenet.models.config.
TrainingConfig`): standard ``torch.optim`` classes, and a warm-up then constant, cosine or linear
schedule as a ``torch.optim.lr_scheduler.LambdaLR`` stepped once per training step.

The same two functions serve ``train.py`` (through :class:`~behavenet.models.lightning.
FamilyModule`) and the estimators, so a config trains the same way under both.
"""

from __future__ import annotations

import inspect
import math

import torch

from behavenet.errors import ConfigError
from behavenet.models.config import LR_SCHEDULES, TrainingConfig

__all__ = ["make_optimizer", "make_scheduler", "lr_factor", "optimizer_class"]

_FUSED_DEVICES = ("cpu", "cuda", "mps", "xpu")


def optimizer_class(name: str) -> type:
    """The ``torch.optim`` optimiser class called ``name`` (case-insensitive)."""
    classes = {
        k.lower(): v
        for k, v in vars(torch.optim).items()
        if isinstance(v, type) and issubclass(v, torch.optim.Optimizer) and v is not torch.optim.Optimizer
    }
    cls = classes.get(str(name).lower())
    if cls is None:
        raise ConfigError(
            "model.optimizer", f"unknown torch optimiser {name!r}; expected one of {', '.join(sorted(classes))}"
        )
    return cls


def make_optimizer(params, config: TrainingConfig) -> torch.optim.Optimizer:
    """``torch.optim.<optimizer>(params, lr, weight_decay, **optimizer_options)``.

    Optimisers with a fused implementation (Adam, AdamW, SGD, ...) use it where every parameter's
    device and dtype allow (the multi-tensor ``foreach`` path otherwise), unless
    ``optimizer_options`` chooses.
    """
    params = list(params)
    cls = optimizer_class(config.optimizer)
    if not (math.isfinite(float(config.learning_rate)) and float(config.learning_rate) > 0):
        raise ConfigError("model.learning_rate", f"expected a finite number > 0, got {config.learning_rate!r}")
    if not float(config.weight_decay) >= 0:
        raise ConfigError("model.weight_decay", f"expected a number >= 0, got {config.weight_decay!r}")
    kwargs = {
        "lr": float(config.learning_rate),
        "weight_decay": float(config.weight_decay),
        **dict(config.optimizer_options or {}),
    }
    accepted = inspect.signature(cls).parameters
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ConfigError("model.optimizer_options", f"{cls.__name__} takes no argument(s) {unknown}")
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    if "fused" in accepted and "fused" not in kwargs and "foreach" not in kwargs:
        fusable = all(
            p.device.type in _FUSED_DEVICES and p.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
            for p in params
        )
        if fusable:
            try:
                return cls(params, fused=True, **kwargs)
            except (RuntimeError, TypeError, ValueError):  # pragma: no cover - no fused kernel here
                pass
        if "foreach" in accepted:
            kwargs["foreach"] = True
    try:
        return cls(params, **kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError("model.optimizer_options", f"{cls.__name__}: {err}") from None


def warmup_length(config: TrainingConfig, total_steps: int | None) -> int:
    """``warmup_steps``, but at most half the run when its length is known (a short run, such as
    ``trainer.max_steps=50`` with a 100-step warm-up, still reaches the peak rate and decays)."""
    warm = int(config.warmup_steps)
    if total_steps and total_steps > 0:
        warm = min(warm, int(total_steps) // 2)
    return warm


def lr_factor(step: int, config: TrainingConfig, total_steps: int | None) -> float:
    """Multiplier of ``learning_rate`` at optimiser step ``step`` (0-based)."""
    warm = warmup_length(config, total_steps)
    if warm > 0 and step < warm:
        return (step + 1) / warm
    if config.lr_schedule == "constant" or not total_steps:
        return 1.0
    floor = float(config.min_learning_rate) / float(config.learning_rate)
    span = max(1, int(total_steps) - warm - 1)
    progress = min(1.0, max(0.0, (step - warm) / span))
    if config.lr_schedule == "cosine":
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return floor + (1 - floor) * (1 - progress)  # linear


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainingConfig, total_steps: int | None):
    """A per-step ``LambdaLR`` for warm-up and decay; ``None`` for a constant rate (no warm-up)."""
    if config.lr_schedule not in LR_SCHEDULES:
        raise ConfigError("model.lr_schedule", f"expected one of {', '.join(LR_SCHEDULES)}, got {config.lr_schedule!r}")
    if int(config.warmup_steps) < 0:
        raise ConfigError("model.warmup_steps", f"expected an integer >= 0, got {config.warmup_steps!r}")
    if config.lr_schedule == "constant" and int(config.warmup_steps) == 0:
        return None
    if config.lr_schedule != "constant" and not (total_steps and total_steps > 0):
        raise ConfigError(
            "model.lr_schedule",
            f"{config.lr_schedule!r} decays over the run's training "
            "steps: set trainer.max_steps (or the estimator's iterations)",
        )
    if not 0 <= float(config.min_learning_rate) <= float(config.learning_rate):
        raise ConfigError(
            "model.min_learning_rate",
            f"expected 0 <= min_learning_rate <= learning_rate, got {config.min_learning_rate!r}",
        )
    warm = warmup_length(config, total_steps)
    if warm < int(config.warmup_steps):
        import logging

        logging.getLogger(__name__).warning(
            "model.warmup_steps=%d is more than half of the run's %d steps: warming up over %d",
            int(config.warmup_steps),
            int(total_steps),
            warm,
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config, total_steps))
