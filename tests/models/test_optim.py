"""Optimiser and learning-rate schedule from a config: standard torch classes, warm-up, decay."""

from __future__ import annotations

import math

import pytest
import torch

from behavenet.errors import ConfigError
from behavenet.models.config import TrainingConfig
from behavenet.models.optim import lr_factor, make_optimizer, make_scheduler, optimizer_class


def _params():
    gen = torch.Generator().manual_seed(0)
    return [torch.nn.Parameter(torch.randn(5, 3, generator=gen)), torch.nn.Parameter(torch.randn(3, generator=gen))]


def test_optimizer_by_name_with_options():
    assert optimizer_class("AdamW") is torch.optim.AdamW and optimizer_class("sgd") is torch.optim.SGD
    opt = make_optimizer(
        _params(),
        TrainingConfig(optimizer="sgd", learning_rate=0.1, optimizer_options={"momentum": 0.9, "nesterov": True}),
    )
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9 and opt.defaults["nesterov"]
    opt = make_optimizer(
        _params(), TrainingConfig(optimizer="adamw", weight_decay=0.01, optimizer_options={"betas": [0.9, 0.98]})
    )
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["betas"] == (0.9, 0.98)
    assert opt.defaults["fused"] is True  # fused kernels where the device has them
    with pytest.raises(ConfigError, match="unknown torch optimiser 'adamm'"):
        make_optimizer(_params(), TrainingConfig(optimizer="adamm"))
    with pytest.raises(ConfigError, match=r"model.optimizer_options: SGD takes no argument\(s\) \['betas'\]"):
        make_optimizer(_params(), TrainingConfig(optimizer="sgd", optimizer_options={"betas": [0.9, 0.9]}))
    with pytest.raises(ConfigError, match="model.learning_rate"):
        make_optimizer(_params(), TrainingConfig(learning_rate=0.0))


def test_adam_from_config_is_torch_adam_bit_for_bit():
    a, b = _params(), _params()
    ref = torch.optim.Adam(a, lr=1e-2, weight_decay=1e-3, fused=True)
    ours = make_optimizer(b, TrainingConfig(learning_rate=1e-2, weight_decay=1e-3))
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=gen) for p in a]
        for pa, pb, g in zip(a, b, grads):
            pa.grad, pb.grad = g.clone(), g.clone()
        ref.step()
        ours.step()
    assert all(torch.equal(pa, pb) for pa, pb in zip(a, b))


def test_schedules():
    cfg = TrainingConfig(learning_rate=1.0, lr_schedule="cosine", warmup_steps=4, min_learning_rate=0.1)
    factors = [lr_factor(s, cfg, 14) for s in range(14)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]  # linear warm-up
    assert factors[4] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.1)  # decays to the floor
    assert factors[9] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 5 / 9)))
    assert all(x >= y for x, y in zip(factors[4:], factors[5:]))
    lin = TrainingConfig(learning_rate=2.0, lr_schedule="linear")
    assert [lr_factor(s, lin, 5) for s in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]
    opt = make_optimizer(_params(), cfg)
    sched = make_scheduler(opt, cfg, 14)
    seen = []
    for _ in range(14):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx(factors)
    assert make_scheduler(opt, TrainingConfig(), 10) is None  # constant, no warm-up: no scheduler
    with pytest.raises(ConfigError, match="model.lr_schedule: expected one of constant, cosine, linear"):
        make_scheduler(opt, TrainingConfig(lr_schedule="step"), 10)
    with pytest.raises(ConfigError, match="set trainer.max_steps"):
        make_scheduler(opt, TrainingConfig(lr_schedule="cosine"), None)


def test_warmup_is_at_most_half_of_a_short_run(caplog):
    """A 100-step warm-up in a 50-step run used to stop at half the peak and never decay."""
    import logging

    cfg = TrainingConfig(learning_rate=1.0, lr_schedule="cosine", warmup_steps=100)
    factors = [lr_factor(s, cfg, 50) for s in range(50)]
    assert factors[24] == 1.0 and factors[0] == 1 / 25  # 25 warm-up steps reach the peak
    assert factors[-1] == pytest.approx(0.0, abs=1e-12)  # then the cosine decays to 0
    assert lr_factor(99, cfg, 1000) == 1.0 and lr_factor(98, cfg, 1000) == 0.99  # long runs unchanged
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with caplog.at_level(logging.WARNING, logger="behavenet.models.optim"):
        make_scheduler(opt, cfg, 50)
    assert "warmup_steps=100 is more than half of the run's 50 steps: warming up over 25" in caplog.text
