"""FamilyModule, the one LightningModule: logging, checkpoints without Hydra, the schedule, and the
same arithmetic as the estimators' plain loop."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from behavenet.data.splits import SplitData
from behavenet.models.estimator import train_core
from behavenet.models.lightning import FamilyModule
from behavenet.models.registry import build_core


def _data(T=600, seed=0):
    rng = np.random.default_rng(seed)
    z = np.cumsum(rng.normal(size=(T, 2)), 0).astype(np.float32) / 10
    x = rng.poisson(np.exp(np.sin(z @ rng.normal(size=(2, 30))))).astype(np.float32)
    return x, z


SPEC = {
    "input": "spikes",
    "input_shapes": [[30]],
    "session_ids": ["a"],
    "labels": {"pos": {"kind": "continuous", "dim": 2}},
    "fps": 20.0,
}


def _trainer(**kw):
    opts = dict(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    opts.update(kw)
    return L.Trainer(**opts)


def test_fit_logs_metrics_and_checkpoint_reloads(tmp_path):
    x, z = _data(800)
    train = SplitData("s", {"spikes": x[:600]}, {"pos": z[:600]}, {"pos": "continuous"})
    val = SplitData("s", {"spikes": x[600:]}, {"pos": z[600:]}, {"pos": "continuous"})
    model = FamilyModule("contrastive", dict(batch_size=32, val_batches=2, hybrid=True), SPEC)
    tl = DataLoader(model.make_dataset([train], "train", 0), batch_size=None)
    vl = DataLoader(model.make_dataset([val], "val", 1), batch_size=None)
    trainer = _trainer(
        max_steps=6,
        val_check_interval=3,
        check_val_every_n_epoch=None,
        limit_val_batches=None,
        logger=L.pytorch.loggers.CSVLogger(tmp_path),
        log_every_n_steps=1,
    )
    trainer.fit(model, tl, vl)
    keys = set(trainer.logged_metrics)
    for k in [
        "train/loss",
        "train/align",
        "train/uniform",
        "train/temperature",
        "train/gof_bits",
        "train/loss_behavior",
        "train/loss_time",
        "val/loss",
        "val/gof_bits",
    ]:
        assert k in keys, k
    assert len(model.loss_history()) == 6
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    again = FamilyModule.load_from_checkpoint(ckpt, weights_only=True)  # plain values only
    assert again.family == "contrastive" and again.hparams["config"]["hybrid"] is True
    assert {k.split(".")[0] for k in again.state_dict()} == {"core"}
    assert torch.equal(again.embed(x[:50]), model.embed(x[:50]))


def test_plain_loop_matches_a_lightning_fit():
    x, z = _data(600)
    split = SplitData("s0", {"spikes": x}, {"pos": z}, {"pos": "continuous"})
    kwargs = dict(
        batch_size=24,
        model_architecture="offset5",
        output_dimension=4,
        num_hidden_units=8,
        hybrid=True,
        temperature_mode="auto",
        learning_rate=1e-2,
        weight_decay=1e-4,
        lr_schedule="cosine",
        warmup_steps=2,
    )
    torch.manual_seed(5)
    module = FamilyModule("contrastive", kwargs, SPEC)
    torch.manual_seed(5)
    core = build_core("contrastive", kwargs, SPEC)
    assert all(torch.equal(module.core.state_dict()[k], v) for k, v in core.state_dict().items())
    trainer = _trainer(max_steps=8)
    trainer.fit(module, DataLoader(module.make_dataset([split], "train", 3), batch_size=None))
    history = train_core(core, [split], 8, seed=3)
    assert np.array_equal(module.loss_history(), history.numpy())
    assert all(torch.equal(module.core.state_dict()[k], v) for k, v in core.state_dict().items())
    assert torch.equal(module.embed(x), core.embed(x))
    assert not core.training and not core._stage_data  # eval mode, training inputs released
    # the cosine schedule ran: the last step's learning rate is the floor (0 by default)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_closed_form_family_has_no_optimizer_and_fits_in_fit_data():
    x, _ = _data(300)
    split = SplitData("s0", {"spikes": x})
    module = FamilyModule("pca", {"output_dimension": 3, "window": 1}, SPEC)
    assert not module.trainable and module.configure_optimizers() is None

    class _DM:
        split_data = {"train": [split]}

    module.fit_data(_DM())
    centred = x - x.mean(0)
    ref = np.linalg.svd(centred, full_matrices=False)[2][:3]
    got = module.core.components.numpy().T
    np.testing.assert_allclose(np.abs(np.sum(got * ref, 1)), 1.0, atol=1e-6)  # the same axes
