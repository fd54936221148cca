"""Data modules: splits without leakage, normalisation from train frames, every input modality
through Lightning's fast_dev_run, multi-session, BehaveNet v1, bounded video memory."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from behavenet.data import NeuralDataModule, PairedDataModule, PoseDataModule, SessionDataModule, VideoDataModule
from behavenet.data.behavenet_v1 import write_behavenet_v1
from behavenet.errors import ConfigError, FormatError
from behavenet.models.lightning import FamilyModule


def _fit(dm, window=1):
    """A tiny autoencoder through Lightning's fast_dev_run on every served input."""
    dm.setup()
    model = FamilyModule("autoencoder", {"output_dimension": 2, "window": window}, dm.spec)
    dm.attach_model(model)
    trainer = L.Trainer(
        fast_dev_run=True, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, verbose=False)
    return model


@pytest.mark.parametrize(
    "cls,kw",
    [
        (NeuralDataModule, {"input": "spikes"}),
        (PairedDataModule, {"labels": ["latent", "state", "cond"]}),
        (PoseDataModule, {"pose": {"heading": ["tail", "nose"]}, "augment": {"rotation": 0.5, "jitter": 0.01}}),
        (VideoDataModule, {"video": {"grayscale": True, "downsample": 2}}),
        (SessionDataModule, {"input": "behavior"}),
    ],
)
def test_fast_dev_run_each_datamodule(small_session, cls, kw):
    dm = cls(small_session(), splits="4;1;1;1", batch_size=16, **kw)
    model = _fit(dm, window=3)
    assert model.embedding_dim == 2
    assert model.trainer.global_step == 1 and np.isfinite(model.loss_history()).all()


def test_splits_do_not_leak_and_cover(small_session):
    dm = SessionDataModule(small_session(n_trials=16), input="spikes", splits="3;1;1;1", labels=["latent"])
    dm.setup()
    frames = {s: np.concatenate([d.frame_index for d in dm.split_data[s]]) for s in ("train", "val", "test")}
    assert not (set(frames["train"]) & set(frames["val"])) and not (set(frames["train"]) & set(frames["test"]))
    roles = dm.frame_roles[0]
    # a gap trial sits between every train trial and a val/test trial
    for split in ("val", "test"):
        first = frames[split].min()
        assert roles[first - 1] == "gap"
    # labels aligned with frames
    sd = dm.split_data["val"][0]
    full = dm.readers[0].read("behavior")
    np.testing.assert_allclose(sd.labels["latent"], full[sd.frame_index])
    assert sd.label_kinds == {"latent": "continuous"}


def test_zscore_statistics_from_train_frames_only(small_session):
    dm = NeuralDataModule(small_session(), splits="4;1;1;1")
    dm.setup()
    train = np.concatenate([d.input for d in dm.split_data["train"]])
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-4)
    raw = dm.readers[0].read("spikes").astype(np.float64)
    rows = np.concatenate([d.frame_index for d in dm.split_data["train"]])
    np.testing.assert_allclose(dm.normalizers[0]["spikes"]["mean"], raw[rows].mean(0), rtol=1e-5)


def test_windows_never_straddle_trials(small_session):
    from behavenet.data.datasets import WindowDataset

    dm = NeuralDataModule(small_session(n_trials=10), splits="3;1;1;1")
    dm.setup()
    ds = WindowDataset(dm.split_data["train"], left=5, right=5)
    sd = dm.split_data["train"][0]
    for _, t in ds.index:
        seg = sd.segments[(sd.segments[:, 0] <= t) & (t < sd.segments[:, 1])][0]
        assert seg[0] <= t - 5 and t + 5 <= seg[1]
    # the frames of one window are consecutive frames of the recording
    item = ds[0]
    t = int(item["t"])
    np.testing.assert_array_equal(
        sd.frame_index[t - 5 : t + 5], np.arange(sd.frame_index[t - 5], sd.frame_index[t - 5] + 10)
    )


def test_discrete_and_sequence_labels_have_explicit_kinds(small_session):
    dm = PairedDataModule(small_session(), labels=["state", "cond"])
    spec = dm.spec
    assert spec["labels"]["state"]["kind"] == "discrete"
    assert spec["labels"]["state"]["vocabulary"] == ["low", "high"]
    assert spec["labels"]["cond"]["kind"] == "discrete"
    sd = dm.full_data[0]
    trials = dm.readers[0].trials
    assert (sd.labels["cond"][trials[1, 0] : trials[1, 1]] == 1).all()


def test_multi_session_with_different_sizes(small_session):
    a = small_session("a.h5", n_units=12, seed=0)
    b = small_session("b.h5", n_units=9, seed=1)
    dm = NeuralDataModule([a, b], splits="4;1;1;1", batch_size=32)
    dm.setup()
    assert dm.spec["input_shapes"] == [[12], [9]]
    assert dm.spec["session_ids"] == ["small-0", "small-1"]
    loader = dm.train_dataloader()
    for batch in loader:  # batches never mix sessions
        assert batch["session"].unique().numel() == 1
    with pytest.raises(ConfigError, match="same input size"):
        FamilyModule("pca", {}, dm.spec)


def test_duplicate_session_ids_made_unique(small_session):
    a = small_session("a.h5", session_id="same")
    b = small_session("b.h5", session_id="same")
    dm = NeuralDataModule([a, b])
    dm.setup()
    assert dm.session_ids == ["same#0", "same#1"]


def test_behavenet_v1_file_in_datamodule(tmp_path):
    rng = np.random.default_rng(0)
    p = write_behavenet_v1(
        tmp_path / "v1.hdf5", neural=rng.poisson(2, (200, 5)).astype(np.float32), trial_lengths=[20] * 10
    )
    dm = NeuralDataModule(p, splits="4;1;1;1", session_options={"fps": 30})
    _fit(dm)


def test_missing_input_and_label_errors(small_session):
    p = small_session(video=False)
    with pytest.raises(FormatError, match=r"input 'video': the session has no video data"):
        VideoDataModule(p).setup()
    with pytest.raises(FormatError, match=r"label 'speed': not found in the session \(available: latent.0"):
        PairedDataModule(p, labels=["speed"]).setup()
    with pytest.raises(FormatError, match="session file not found"):
        NeuralDataModule(str(p) + ".missing").setup()
    with pytest.raises(ConfigError, match="data.input"):
        SessionDataModule(p, input="eeg")


def test_video_frames_stay_on_disk(small_session):
    dm = VideoDataModule(small_session(), video={"grayscale": True, "downsample": 2})
    dm.setup()
    sd = dm.split_data["train"][0]
    assert not isinstance(sd.input, np.ndarray)  # lazy view, not an in-memory array
    assert sd.input.frame_shape == (4, 4, 1)
    from behavenet.data.datasets import WindowDataset

    item = WindowDataset([sd], left=1, right=2)[0]["inputs"]["video"]
    assert item.shape == (3, 1, 4, 4) and item.dtype == torch.float32
    assert 0.0 <= float(item.min()) and float(item.max()) <= 1.0


def test_pose_augmentation_applies_to_training_batches_only(small_session):
    dm = PoseDataModule(small_session(), augment={"reflection": 1.0})
    dm.setup()
    x = torch.tensor(dm.split_data["train"][0].input[:4][None])
    y = dm.augment_pose(x.clone(), torch.Generator().manual_seed(0))
    lay = dm.spec["pose_layout"]
    a, per, k, d = lay["animals"], lay["per_animal"], lay["keypoints"], lay["dims"]
    assert lay["pairwise"] == 1 and x.shape[-1] == a * per + 1
    xs = x[..., : a * per].reshape(1, 4, a, per)
    ys = y[..., : a * per].reshape(1, 4, a, per)
    torch.testing.assert_close(
        ys[..., : k * d].reshape(1, 4, a, k, d)[..., 0], -xs[..., : k * d].reshape(1, 4, a, k, d)[..., 0]
    )
    torch.testing.assert_close(ys[..., k * d :], xs[..., k * d :])  # origin and heading untouched
    torch.testing.assert_close(y[..., a * per :], x[..., a * per :])  # distances between animals too


def test_non_session_files_are_converted_once(tmp_path, repo_root):
    src = repo_root / "data/deepof-dlc-sleap-tables/testDLC_h5_table_madlc.h5"
    dm = PoseDataModule(str(src), splits="1;0;0;0", convert_options={"fps": 25}, convert_cache=str(tmp_path / "cache"))
    dm.setup()
    (converted,) = list((tmp_path / "cache").glob("*.h5"))
    assert dm.files == [str(converted)]
    assert dm.spec["pose_layout"]["animals"] == 2 and dm.spec["fps"] == 25.0
    mtime = converted.stat().st_mtime
    dm2 = PoseDataModule(str(src), splits="1;0;0;0", convert_options={"fps": 25}, convert_cache=str(tmp_path / "cache"))
    dm2.setup()
    assert converted.stat().st_mtime == mtime and dm2.files == dm.files
