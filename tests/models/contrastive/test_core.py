"""The contrastive core: conditionals from declared label kinds, index-batch streams, the loss and
its metrics, embedding, multi-session, video from a lazy reader, and light imports."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from behavenet.data.splits import SplitData
from behavenet.errors import ConfigError
from behavenet.models.contrastive import ContrastiveConfig, ContrastiveCore
from behavenet.models.registry import build_core, get_family

from .conftest import place_cells

ROOT = Path(__file__).resolve().parents[3]


def _spec(kinds=None, shapes=((30,),)):
    kinds = kinds or {}
    return {
        "input": "spikes",
        "input_shapes": [list(s) for s in shapes],
        "session_ids": ["a"],
        "labels": {k: {"kind": v, "dim": 2 if v == "continuous" else 1} for k, v in kinds.items()},
        "fps": 20.0,
    }


def _core(spec, **kw) -> ContrastiveCore:
    return build_core("contrastive", kw, spec)


def _split(x, z, kinds, segments=None, session_index=0):
    labels, lk = {}, {}
    if "pos" in kinds:
        labels["pos"], lk["pos"] = z, "continuous"
    if "cls" in kinds:
        labels["cls"], lk["cls"] = (z[:, 0] > 0).astype(np.float32), "discrete"  # float dtype, declared discrete
    return SplitData(f"s{session_index}", {"spikes": x}, labels, lk, segments=segments, session_index=session_index)


def _run_python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (one torch thread); it prints one JSON line last."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        timeout=300,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_registered_and_conditional_from_declared_kinds():
    fam = get_family("cebra")
    assert fam.name == "contrastive" and fam.core_class is ContrastiveCore and fam.config_class is ContrastiveConfig
    assert _core(_spec(), conditional=None).conditional == "time"
    assert _core(_spec({"pos": "continuous"}), conditional=None).conditional == "time_delta"
    assert _core(_spec({"cls": "discrete"}), conditional=None).conditional == "discrete"
    assert _core(_spec({"pos": "continuous", "cls": "discrete"}), conditional=None).conditional == "mixed"
    assert (
        _core(_spec({"pos": "continuous", "cls": "discrete"}), conditional=None, labels=["pos"]).conditional
        == "time_delta"
    )
    with pytest.raises(ConfigError) as err:
        _core(_spec(), conditional="time_delta")
    assert "\n" not in str(err.value) and "conditional" in str(err.value)
    for bad in [
        dict(distance="l1"),
        dict(model_architecture="offset7"),
        dict(batch_size=1),
        dict(time_offsets=0),
        dict(labels=["nope"]),
        dict(conditional="delta"),
        dict(input="video"),
        dict(batch_size="many"),
    ]:
        with pytest.raises(ConfigError):
            _core(_spec({"pos": "continuous"}), **bad)


def test_streams_and_embedding():
    x, z = place_cells(T=600)
    core = _core(_spec({"pos": "continuous"}), batch_size=32, val_batches=3)
    split = _split(x, z, ["pos"], segments=[[0, 300], [300, 600]])
    train = core.make_dataset([split], "train", seed=0)
    assert getattr(train, "yields_batches", False)
    assert next(iter(train))["ref"][0].shape == (32,)
    val = core.make_dataset([split], "val", seed=1)
    a, b = list(val), list(val)
    assert len(a) == 3 and all(torch.equal(p["ref"][0], q["ref"][0]) for p, q in zip(a, b))
    with torch.no_grad():
        full = core.embed(x)
        rel = torch.arange(-5, 5)
        win = core(torch.from_numpy(x)[torch.arange(5, 595)[:, None] + rel], 0)
    assert full.shape == (600, 8)
    assert torch.allclose(full[5:595], win, atol=1e-5)
    assert torch.equal(core.embed({"spikes": x}), full)  # the contract's dict form
    per_trial = core.embed_split(split)
    assert per_trial.shape == (600, 8)
    assert np.allclose(per_trial[:300], core.embed(x[:300]).numpy(), atol=1e-6)


def test_loss_parts_and_metrics():
    x, z = place_cells(T=400)
    split = _split(x, z, ["pos"])
    core = _core(_spec({"pos": "continuous"}), batch_size=16, model_architecture="offset5", hybrid=True, val_batches=2)
    assert core.embedding_dim == 8 and core.receptive_field == (2, 3) and core.n_sessions == 1
    batches = list(core.make_dataset([split], "val", seed=1))
    assert len(batches) == 2
    assert len(list(core.make_dataset([split], "test", seed=1, n_batches=4))) == 4
    parts = core.loss_parts(batches[0], "val")
    assert torch.allclose(parts.total, parts.behavior + parts.time)
    loss, metrics = core.loss(batches[0], "val")
    assert torch.equal(loss, parts.total)
    assert {"loss", "align", "uniform", "temperature", "gof_bits", "loss_behavior", "loss_time"} <= set(metrics)
    assert not metrics["loss"].requires_grad
    core.release("val")
    with pytest.raises(RuntimeError, match="make_dataset"):
        core.loss(batches[0], "val")


def test_multi_session_gradients_and_gof():
    x, z = place_cells(T=700)
    spec = _spec({"pos": "continuous"}, shapes=((30,), (20,)))
    core = _core(spec, batch_size=16, model_architecture="offset5")
    splits = [
        _split(x[:350], z[:350], ["pos"], session_index=0),
        _split(x[350:, :20], z[350:], ["pos"], session_index=1),
    ]
    batch = next(iter(core.make_dataset(splits, "train", 0)))
    loss, metrics = core.loss(batch, "train")
    loss.backward()
    assert all(p.grad is not None for p in core.encoders[1].parameters())
    assert float(metrics["gof_bits"]) == pytest.approx((np.log(32) - float(loss.detach())) * np.log2(np.e), rel=1e-5)


def test_picks_one_of_several_inputs():
    x, z = place_cells(T=300)
    spec = {**_spec({"pos": "continuous"}), "inputs": {"spikes": {"shapes": [[30]]}, "behavior": {"shapes": [[2]]}}}
    core = _core(spec, input="behavior", model_architecture="offset1", batch_size=8)
    assert core.input_names == ["behavior"] and core.encoders[0].net[0].in_features == 2
    split = SplitData("s", {"spikes": x, "behavior": z}, {"pos": z}, {"pos": "continuous"})
    loss, _ = core.loss(next(iter(core.make_dataset([split], "train", 0))), "train")
    assert torch.isfinite(loss)
    assert core.embed({"spikes": x, "behavior": z}).shape == (300, 8)


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
    core = _core(
        spec,
        model_architecture="offset5",
        conditional="time",
        time_offsets=2,
        batch_size=8,
        frame_features=6,
        output_dimension=3,
    )
    assert core.is_video
    split = SplitData("v", {"video": _LazyFrames(frames)}, segments=[[0, 60], [60, 120]])
    core.fit_data([split])  # the frame encoder's normalisation, from training frames
    assert bool(core.encoders[0].frame_encoder.normalization_set)
    expected = torch.from_numpy(frames[np.unique(np.linspace(0, 119, 1000).astype(np.int64))]).float()
    torch.testing.assert_close(
        core.encoders[0].frame_encoder.pixel_mean.flatten(), expected.mean(0).flatten() / 255
    )  # frames scaled to [0, 1]
    for limit in (1 << 30, 0):  # materialised, then read lazily batch by batch
        monkeypatch.setattr(mod, "_MATERIALISE_BYTES", limit)
        ds = core.make_dataset([split], "train", seed=0)
        loss, _ = core.loss(next(iter(ds)), "train")
        loss.backward()
        assert torch.isfinite(loss)
    emb = core.embed_split(split)
    assert emb.shape == (120, 3) and np.isfinite(emb).all()


def test_estimator_fit_transform_save_load_import_no_lightning(tmp_path):
    out = _run_python(f"""
        import json, sys
        import numpy as np
        import torch
        torch.set_num_threads(1)
        from behavenet.models.contrastive import ContrastiveEmbedding
        rng = np.random.default_rng(0)
        x = rng.poisson(0.5, size=(300, 12)).astype(np.float32)
        z = rng.normal(size=(300, 2)).astype(np.float32)
        est = ContrastiveEmbedding(model_architecture="offset5", max_iterations=3, batch_size=16,
                                   output_dimension=3, num_hidden_units=8, time_offsets=2).fit(x, z)
        emb = est.transform(x)
        est.goodness_of_fit_score(x, z, num_batches=1)
        est.save({str(tmp_path / "m.pt")!r})
        again = ContrastiveEmbedding.load({str(tmp_path / "m.pt")!r})
        same = bool(np.array_equal(again.transform(x), emb))
        heavy = ["lightning", "pytorch_lightning", "torchmetrics", "matplotlib", "hydra",
                 "behavenet.models.lightning"]
        print(json.dumps({{"loaded": [m for m in heavy if m in sys.modules], "same": same,
                          "shape": list(emb.shape)}}))
    """)
    assert out["loaded"] == [], f"the estimator imported {out['loaded']}"
    assert out["same"] and out["shape"] == [300, 3]
