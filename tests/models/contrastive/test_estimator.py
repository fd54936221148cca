from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone

from behavenet.errors import BehavenetError
from behavenet.models.contrastive import ContrastiveEmbedding
from behavenet.models.contrastive.estimator import EstimatorInputError

from .conftest import place_cells

CLIP = Path(__file__).resolve().parents[3] / "data" / "sleap-flies-clip" / "clip.mp4"
FAST = dict(max_iterations=15, batch_size=48, output_dimension=4, num_hidden_units=16)


def _one_line(err):
    text = str(err.value)
    assert "\n" not in text, text
    return text


@pytest.fixture(scope="module")
def data():
    return place_cells(T=900)


def test_fit_transform_time_and_time_delta(data):
    x, z = data
    est = ContrastiveEmbedding(model_architecture="offset10-model", **FAST).fit(x)
    assert est.conditional_ == "time"
    emb = est.transform(x)
    assert emb.shape == (900, 4) and emb.dtype == np.float32 and np.isfinite(emb).all()
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    est2 = ContrastiveEmbedding(**FAST)
    out = est2.fit_transform(x, z)
    assert est2.conditional_ == "time_delta" and out.shape == (900, 4)
    assert len(est2.history_) == 15 and np.isfinite(est2.history_).all()
    assert est2.goodness_of_fit_score(x, z, num_batches=2) == pytest.approx(
        est2.goodness_of_fit_score(x, z, num_batches=2)
    )
    assert clone(est2).get_params() == est2.get_params()


def test_same_seed_is_bit_identical_other_seed_differs(data):
    x, z = data
    a = ContrastiveEmbedding(seed=3, **FAST).fit(x, z).transform(x)
    b = ContrastiveEmbedding(seed=3, **FAST).fit(x, z).transform(x)
    c = ContrastiveEmbedding(seed=4, **FAST).fit(x, z).transform(x)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_save_load_round_trip_on_cpu(tmp_path, data, monkeypatch):
    x, z = data
    est = ContrastiveEmbedding(temperature_mode="auto", time_offsets=(2, 5), **FAST).fit(x, z)
    est.device = "cuda"  # a GPU-trained model's arguments: the device must not be replayed on load
    path = tmp_path / "model.pt"
    est.save(path)
    raw = torch.load(path, map_location="cpu", weights_only=True)  # plain, safe checkpoint
    assert set(raw) >= {"args", "config", "data_spec", "state_dict", "versions", "fitted", "history", "family"}
    assert raw["family"] == "contrastive" and raw["format_version"] == 2
    assert all(t.device.type == "cpu" for t in raw["state_dict"].values())
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    again = ContrastiveEmbedding.load(path)
    assert calls and calls[0].get("map_location") == "cpu" and calls[0].get("weights_only") is True
    assert next(again.model_.parameters()).device.type == "cpu"
    # the loaded estimator says where its model is, so a clone refits on this CPU-only machine
    assert again.device == "cpu" and again.time_offsets == (2, 5)
    from sklearn.base import clone

    assert clone(again).fit(x, z).model_ is not None
    assert np.array_equal(again.transform(x), est.transform(x))
    assert np.array_equal(again.history_, est.history_)
    bad = tmp_path / "bad.pt"
    torch.save({"something": 1}, bad)
    with pytest.raises(EstimatorInputError) as err:
        ContrastiveEmbedding.load(bad)
    assert "not a ContrastiveEmbedding file" in _one_line(err)
    # the model's config (every ContrastiveConfig field) and the core's state (encoders.*, criterion.*)
    from behavenet.models.contrastive import ContrastiveConfig

    assert set(raw["config"]) == set(ContrastiveConfig.field_names())
    assert {k.split(".")[0] for k in raw["state_dict"]} == {"encoders", "criterion"}
    raw["state_dict"].pop(next(iter(raw["state_dict"])))
    torch.save(raw, bad)
    with pytest.raises(EstimatorInputError) as err:
        ContrastiveEmbedding.load(bad)
    assert "cannot rebuild" in _one_line(err)


def test_multi_session(data):
    x, z = data
    xs = [x[:450], x[450:, :20]]
    zs = [z[:450], z[450:]]
    est = ContrastiveEmbedding(model_architecture="offset5", **FAST).fit(xs, zs)
    assert est.num_sessions == 2
    embs = est.transform(xs)
    assert [e.shape for e in embs] == [(450, 4), (450, 4)]
    assert np.array_equal(est.transform(xs[1], session_id=1), embs[1])
    with pytest.raises(EstimatorInputError) as err:
        est.transform(xs[0])
    assert "session_id" in _one_line(err)
    with pytest.raises(EstimatorInputError) as err:
        est.transform(xs[:1])
    assert "sessions" in _one_line(err)
    with pytest.raises(EstimatorInputError) as err:
        est.transform(xs[0], session_id=1)  # 30 features, session 1 has 20
    assert "per-frame shape" in _one_line(err)
    hyb = ContrastiveEmbedding(model_architecture="offset5", hybrid=True, **FAST).fit(xs, zs)
    assert [e.shape for e in hyb.transform(xs)] == [(450, 4), (450, 4)]
    cls = [(zz[:, 0] > 0).astype(int) for zz in zs]
    mixed = ContrastiveEmbedding(model_architecture="offset5", label_types=["continuous", "discrete"], **FAST).fit(
        xs, zs, cls
    )
    assert mixed.conditional_ == "mixed"
    disc = ContrastiveEmbedding(model_architecture="offset5", label_types=["discrete"], **FAST).fit(xs, cls)
    assert disc.conditional_ == "discrete"
    with pytest.raises(EstimatorInputError) as err:
        ContrastiveEmbedding(**FAST).fit(xs)
    assert "align" in _one_line(err)


def test_label_types_are_explicit(data):
    x, z = data
    cls = (z[:, 0] > 0).astype(np.int64)
    with pytest.raises(EstimatorInputError) as err:
        ContrastiveEmbedding(**FAST).fit(x, cls)
    assert "label_types" in _one_line(err)
    est = ContrastiveEmbedding(label_types=("continuous", "discrete"), **FAST).fit(x, z, cls)
    assert est.conditional_ == "mixed"
    names = np.where(cls > 0, "right", "left")
    assert ContrastiveEmbedding(label_types=["discrete"], **FAST).fit(x, names).conditional_ == "discrete"
    uint8 = cls.astype(np.uint8)  # CEBRA issue 39: never silently time-contrastive
    assert ContrastiveEmbedding(label_types=["discrete"], **FAST).fit(x, uint8).conditional_ == "discrete"


@pytest.mark.parametrize(
    "case,needle",
    [
        ("length", "rows"),
        ("nan_x", "NaN"),
        ("nan_y", "NaN"),
        ("frac_discrete", "non-integer"),
        ("string_continuous", "numeric"),
        ("too_short", "frames"),
        ("too_many_types", "label_types"),
        ("bad_device", "device"),
        ("bad_arch", "model_architecture"),
        ("bad_cond", "conditional"),
        ("features", "per-frame shape"),
        ("one_d", "dimensions"),
        ("batch_none", "batch_size: expected an integer >= 2, got None"),
        ("negative_lr", "learning_rate: expected a finite number > 0"),
        ("min_temp", "min_temperature: expected a finite number > 0"),
        ("too_few_types", "label_types: gives 2 type(s) but fit got 1"),
        ("hybrid_no_labels", "hybrid: hybrid=True combines"),
        ("one_class", "single class"),
        ("list_label_single_session", "is a list of 1 arrays"),
    ],
)
def test_bad_input_errors_are_one_line(data, case, needle):
    x, z = data
    est = ContrastiveEmbedding(**FAST)
    with pytest.raises(BehavenetError) as err:
        if case == "length":
            est.fit(x, z[:-3])
        elif case == "nan_x":
            bad = x.copy()
            bad[3, 2] = np.nan
            est.fit(bad, z)
        elif case == "nan_y":
            bad = z.copy()
            bad[5] = np.inf
            est.fit(x, bad)
        elif case == "frac_discrete":
            ContrastiveEmbedding(label_types=["discrete"], **FAST).fit(x, z[:, 0])
        elif case == "string_continuous":
            ContrastiveEmbedding(label_types=["continuous"], **FAST).fit(x, np.array(["a"] * len(x)))
        elif case == "too_short":
            est.fit(x[:12], z[:12])
        elif case == "too_many_types":
            ContrastiveEmbedding(label_types=["continuous"], **FAST).fit(x, z, z)
        elif case == "bad_device":
            ContrastiveEmbedding(device="tpu", **FAST).fit(x, z)
        elif case == "bad_arch":
            ContrastiveEmbedding(model_architecture="offset3", **FAST).fit(x, z)
        elif case == "bad_cond":
            ContrastiveEmbedding(conditional="discrete", **FAST).fit(x, z)
        elif case == "features":
            est.fit(x, z)
            est.transform(x[:, :10])
        elif case == "one_d":
            est.fit(x[:, 0], z)
        elif case == "batch_none":
            ContrastiveEmbedding(**{**FAST, "batch_size": None}).fit(x, z)
        elif case == "negative_lr":
            ContrastiveEmbedding(**{**FAST, "learning_rate": -1.0}).fit(x, z)
        elif case == "min_temp":
            ContrastiveEmbedding(temperature_mode="auto", min_temperature=0, **FAST).fit(x, z)
        elif case == "too_few_types":
            ContrastiveEmbedding(label_types=["continuous", "discrete"], **FAST).fit(x, z)
        elif case == "hybrid_no_labels":
            ContrastiveEmbedding(hybrid=True, **FAST).fit(x)
        elif case == "one_class":
            ContrastiveEmbedding(label_types=["discrete"], **FAST).fit(x, np.zeros(len(x), np.int64))
        elif case == "list_label_single_session":
            est.fit(x, [z])
    assert isinstance(err.value, ValueError)
    assert needle in _one_line(err)


def test_discrete_short_input_message_has_no_time_offsets(data):
    x, z = data
    with pytest.raises(BehavenetError) as err:
        ContrastiveEmbedding(label_types=["discrete"], **FAST).fit(x[:5], np.arange(5) % 2)
    assert _one_line(err) == "X: has 5 frames; the offset10 encoder (receptive field 10) needs at least 10"


def test_cebra_conditional_name_delta_normal(data):
    x, z = data
    est = ContrastiveEmbedding(conditional="delta_normal", delta=0.1, **FAST).fit(x, z)
    assert est.conditional_ == "delta"


def test_pose_input(data):
    _, z = data
    rng = np.random.default_rng(0)
    kp = (z[:, None, None, :] * 50 + rng.normal(size=(len(z), 2, 5, 2))).astype(np.float32)
    kp[10, 0, 2] = np.nan  # a missing keypoint is allowed
    est = ContrastiveEmbedding(model_architecture="offset5", **FAST).fit(kp, z)
    assert est.input_kind_ == "pose"
    emb = est.transform(kp)
    assert emb.shape == (len(z), 4) and np.isfinite(emb).all()
    single = ContrastiveEmbedding(model_architecture="offset1", **FAST).fit(kp[:, 0], z)
    assert single.transform(kp[:, 0]).shape == (len(z), 4)


def test_synthetic_video_input(data):
    _, z = data
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(200, 12, 12), dtype=np.uint8)
    est = ContrastiveEmbedding(
        model_architecture="offset5", max_iterations=5, batch_size=16, output_dimension=3, frame_features=8
    ).fit(frames, z[:200])
    assert est.input_kind_ == "video" and est.transform(frames).shape == (200, 3)
    chw = frames[:, None]  # (T, 1, H, W) is accepted too
    assert np.array_equal(est.transform(chw), est.transform(frames))


def _decode_clip(n_frames: int, size: int = 32) -> np.ndarray:
    av = pytest.importorskip("av")
    out = []
    with av.open(str(CLIP)) as container:
        for frame in container.decode(video=0):
            img = frame.to_ndarray(format="gray")
            h, w = img.shape
            img = img[: h // size * size, : w // size * size].reshape(size, h // size, size, w // size).mean((1, 3))
            out.append(img.astype(np.uint8))
            if len(out) == n_frames:
                break
    return np.stack(out)


@pytest.mark.skipif(not CLIP.exists(), reason="bundled clip not present")
def test_real_video_clip_time_contrastive():
    frames = _decode_clip(300)
    assert frames.shape == (300, 32, 32)
    est = ContrastiveEmbedding(
        model_architecture="offset5", max_iterations=40, batch_size=32, output_dimension=4, time_offsets=2, seed=0
    ).fit(frames)
    emb = est.transform(frames)
    assert emb.shape == (300, 4) and np.isfinite(emb).all()
    assert est.history_[-10:].mean() < est.history_[:10].mean()


def test_verbose_shows_progress(data, capsys):
    x, _ = data
    ContrastiveEmbedding(verbose=True, **FAST).fit(x)
    assert "15/15" in capsys.readouterr().err
    ContrastiveEmbedding(**FAST).fit(x)
    assert capsys.readouterr().err == ""


def test_loads_files_written_before_the_family_contract(tmp_path, data):
    """Format 1 (behavenet 0.1.0 before the family contract) kept the model arguments and data spec
    in ``hparams`` and the history among the fitted values; such files still load."""
    x, z = data
    est = ContrastiveEmbedding(**FAST).fit(x, z)
    est.save(tmp_path / "new.pt")
    new = torch.load(tmp_path / "new.pt", weights_only=True)
    old_keys = [
        "model_architecture",
        "num_hidden_units",
        "output_dimension",
        "conditional",
        "time_offsets",
        "distance",
        "temperature_mode",
        "temperature",
        "min_temperature",
        "delta",
        "hybrid",
        "hybrid_behavior_dims",
        "prior",
        "labels",
        "batch_size",
        "learning_rate",
        "weight_decay",
        "val_batches",
        "frame_encoder",
        "frame_features",
        "frame_layout",
        "nn_backend",
    ]
    fitted = {k.rstrip("_"): v for k, v in new["fitted"].items()}
    fitted["history"] = new["history"]
    old = {
        "format": "behavenet.ContrastiveEmbedding",
        "format_version": 1,
        "args": new["args"],
        "hparams": {**{k: new["config"][k] for k in old_keys}, "data_spec": new["data_spec"]},
        "state_dict": new["state_dict"],
        "fitted": fitted,
        "versions": new["versions"],
    }
    torch.save(old, tmp_path / "old.pt")
    again = ContrastiveEmbedding.load(tmp_path / "old.pt")
    assert np.array_equal(again.transform(x), est.transform(x))
    assert np.array_equal(again.history_, est.history_) and again.conditional_ == "time_delta"
