from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from behavenet.data.views import SplitData
from behavenet.errors import ConfigError
from behavenet.models.base import get_model_class
from behavenet.models.contrastive import ContrastiveModel

from .conftest import place_cells

CONF = Path(__file__).resolve().parents[3] / "conf"


def _spec(kinds=None, shapes=((30,),)):
    kinds = kinds or {}
    return {"input": "spikes", "input_shapes": [list(s) for s in shapes], "session_ids": ["a"],
            "labels": {k: {"kind": v, "dim": 2 if v == "continuous" else 1} for k, v in kinds.items()}, "fps": 20.0}


def _splits(x, z, kinds, segments=None, session_index=0):
    labels, lk = {}, {}
    if "pos" in kinds:
        labels["pos"], lk["pos"] = z, "continuous"
    if "cls" in kinds:
        labels["cls"], lk["cls"] = (z[:, 0] > 0).astype(np.float32), "discrete"  # float dtype, declared discrete
    return SplitData(f"s{session_index}", {"spikes": x}, labels, lk, segments=segments,
                     session_index=session_index)


def test_registry_and_conditional_from_declared_kinds():
    assert get_model_class("cebra") is ContrastiveModel and get_model_class("contrastive") is ContrastiveModel
    assert ContrastiveModel(_spec(), conditional=None).conditional == "time"
    assert ContrastiveModel(_spec({"pos": "continuous"}), conditional=None).conditional == "time_delta"
    assert ContrastiveModel(_spec({"cls": "discrete"}), conditional=None).conditional == "discrete"
    assert ContrastiveModel(_spec({"pos": "continuous", "cls": "discrete"}), conditional=None).conditional == "mixed"
    assert ContrastiveModel(_spec({"pos": "continuous", "cls": "discrete"}), conditional=None,
                            labels=["pos"]).conditional == "time_delta"
    with pytest.raises(ConfigError) as err:
        ContrastiveModel(_spec(), conditional="time_delta")
    assert "\n" not in str(err.value) and "conditional" in str(err.value)
    for bad in [dict(distance="l1"), dict(model_architecture="offset7"), dict(batch_size=1),
                dict(time_offsets=0), dict(labels=["nope"]), dict(conditional="delta")]:
        with pytest.raises(ConfigError):
            ContrastiveModel(_spec({"pos": "continuous"}), **bad)


def test_streams_and_embedding():
    x, z = place_cells(T=600)
    model = ContrastiveModel(_spec({"pos": "continuous"}), batch_size=32, val_batches=3)
    split = _splits(x, z, ["pos"], segments=[[0, 300], [300, 600]])
    train = model.make_dataset([split], "train", seed=0)
    assert getattr(train, "yields_batches", False)
    it = iter(train)
    assert next(it)["ref"].shape == (1, 32)
    val = model.make_dataset([split], "val", seed=1)
    a, b = list(val), list(val)
    assert len(a) == 3 and all(torch.equal(p["ref"], q["ref"]) for p, q in zip(a, b))
    with torch.no_grad():
        full = model.embed(x)
        rel = torch.arange(-5, 5)
        win = model(torch.from_numpy(x)[torch.arange(5, 595)[:, None] + rel], 0)
    assert full.shape == (600, 8)
    assert torch.allclose(full[5:595], win, atol=1e-5)
    per_trial = model.embed_split(split)
    assert per_trial.shape == (600, 8)
    assert np.allclose(per_trial[:300], model.embed(x[:300]).numpy(), atol=1e-6)


def test_lightning_fit_logs_metrics(tmp_path):
    x, z = place_cells(T=800)
    model = ContrastiveModel(_spec({"pos": "continuous"}), batch_size=32, val_batches=2, hybrid=True)
    train = _splits(x[:600], z[:600], ["pos"])
    val = _splits(x[600:], z[600:], ["pos"])
    tl = DataLoader(model.make_dataset([train], "train", 0), batch_size=None)
    vl = DataLoader(model.make_dataset([val], "val", 1), batch_size=None)
    logger = L.pytorch.loggers.CSVLogger(tmp_path)
    trainer = L.Trainer(max_steps=6, val_check_interval=3, check_val_every_n_epoch=None, logger=logger,
                        log_every_n_steps=1, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model, tl, vl)
    keys = set(trainer.logged_metrics)
    for k in ["train/loss", "train/align", "train/uniform", "train/temperature", "train/gof_bits",
              "train/loss_behavior", "train/loss_time", "val/loss", "val/gof_bits"]:
        assert k in keys, k
    assert len(model.loss_history()) == 6
    trainer.test(model, DataLoader(model.make_dataset([val], "test", 2), batch_size=None), verbose=False)
    assert "test/loss" in trainer.logged_metrics


def test_multi_session_model_and_checkpoint_reload(tmp_path):
    x, z = place_cells(T=700)
    spec = _spec({"pos": "continuous"}, shapes=((30,), (20,)))
    model = ContrastiveModel(spec, batch_size=16, model_architecture="offset5")
    splits = [_splits(x[:350], z[:350], ["pos"], session_index=0),
              _splits(x[350:, :20], z[350:], ["pos"], session_index=1)]
    ds = model.make_dataset(splits, "train", 0)
    batch = next(iter(ds))
    loss, metrics = model._step(batch, "train")
    loss.backward()
    assert all(p.grad is not None for p in model.encoders[1].parameters())
    assert float(metrics["gof_bits"]) == pytest.approx((np.log(32) - float(loss)) * np.log2(np.e), rel=1e-5)
    ckpt = tmp_path / "m.ckpt"
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(model, DataLoader(ds, batch_size=None))
    trainer.save_checkpoint(ckpt)
    again = ContrastiveModel.load_from_checkpoint(ckpt, weights_only=False)
    assert torch.equal(again.embed(x[:50, :20], 1), model.embed(x[:50, :20], 1))


def test_hydra_variants_inherit_and_instantiate():
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(CONF / "model"), version_base="1.3"):
        base = compose(config_name="contrastive")
        for name, cond in [("contrastive_time", "time"), ("contrastive_discrete", "discrete"),
                           ("contrastive_mixed", "mixed"), ("contrastive_time_delta", "time_delta")]:
            cfg = compose(config_name=name)
            assert cfg.conditional == cond
            assert set(base) <= set(cfg)  # inherited, not copied
        hybrid = compose(config_name="contrastive_hybrid")
        assert hybrid.hybrid is True and hybrid.batch_size == base.batch_size
        cfg = compose(config_name="contrastive_time", overrides=["output_dimension=16"])
    model = instantiate(cfg, data_spec=_spec())
    assert isinstance(model, ContrastiveModel) and model.embedding_dim == 16 and model.conditional == "time"
    assert base.model_architecture == "offset10" and base.batch_size == 512 and base.conditional == "time_delta"


class _LazyFrames:
    """Stands in for a lazily read video (``IndexedFrames``): HWC uint8 frames on demand."""

    def __init__(self, frames):
        self._frames = frames
        self.frame_shape = frames.shape[1:]

    def __len__(self):
        return len(self._frames)

    def __getitem__(self, idx):
        return self._frames[idx]


def test_video_split_from_a_lazy_reader_trains_and_embeds(monkeypatch):
    import behavenet.models.contrastive.core as mod

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(120, 10, 12, 1), dtype=np.uint8)
    spec = {"input": "video", "input_shapes": [[10, 12, 1]], "session_ids": ["v"], "labels": {}, "fps": 25.0}
    model = ContrastiveModel(spec, model_architecture="offset5", conditional="time", time_offsets=2,
                             batch_size=8, frame_features=6, output_dimension=3)
    assert model.is_video
    split = SplitData("v", {"video": _LazyFrames(frames)}, segments=[[0, 60], [60, 120]])
    for limit in (1 << 30, 0):  # materialised, then read lazily batch by batch
        monkeypatch.setattr(mod, "_MATERIALISE_BYTES", limit)
        ds = model.make_dataset([split], "train", seed=0)
        loss, _ = model._step(next(iter(ds)), "train")
        loss.backward()
        assert torch.isfinite(loss)
    assert bool(model.encoders[0].frame_encoder.normalization_set)
    emb = model.embed_split(split)
    assert emb.shape == (120, 3) and np.isfinite(emb).all()
