"""Large sessions: features computed chunk by chunk into a temporary float32 file and served
through row maps (``on_disk_threshold_mb``) equal what the in-memory path serves."""

from __future__ import annotations

import gc
import pickle

import numpy as np
import pytest
import torch

from behavenet.data import NeuralDataModule, PoseDataModule
from behavenet.data.format import FrameLabel, Pose, SequenceLabel, Session, Spikes, write_session
from behavenet.data.ondisk import ChunkStats, FeatureFile, RowMap, block_mask
from behavenet.data.transforms import ZScore
from behavenet.errors import ConfigError, FormatError

T = 9001  # odd length: the last chunk is short (chunks are 2**17 rows at most, >= 4096 rows)


@pytest.fixture(scope="module")
def session_file(tmp_path_factory):
    """Three animals x 5 keypoints with missing keypoints and a missing animal, uneven trials,
    spikes, a frame label and a sequence label."""
    rng = np.random.default_rng(7)
    kp = rng.normal(300, 60, size=(T, 3, 5, 2)).astype(np.float32)
    kp[rng.random(kp.shape[:3]) < 0.05] = np.nan
    kp[4000:4100, 2] = np.nan
    edges = np.array([0, 1500, 1710, 3333, 5000, 5001, 7200, T])
    trials = np.stack([edges[:-1], edges[1:]], 1)
    s = Session(
        session_id="big",
        fps=30.0,
        pose=Pose(kp, [f"k{i}" for i in range(5)]),
        spikes=Spikes(rng.poisson(1.5, size=(T, 9)), bin_width=1 / 30),
        trials=trials,
        frame_labels={"beh": FrameLabel(codes=rng.integers(-1, 4, T).astype(np.int32), vocabulary=list("abcd"))},
        sequence_labels={"q": SequenceLabel(values=rng.normal(size=len(trials)).astype(np.float32), kind="continuous")},
    )
    path = tmp_path_factory.mktemp("ondisk") / "big.h5"
    write_session(s, path)
    return str(path)


def _pair(cls, path, tmp_path, **kw):
    mem = cls(files=path, **kw)
    disk = cls(files=path, on_disk_threshold_mb=0, on_disk_dir=str(tmp_path / "features"), **kw)
    mem.setup()
    disk.setup()
    return mem, disk


POSE_OPTIONS = [
    {"labels": ["beh", "q"]},
    {"pose": {"heading": ["k0", "k3"]}, "trial_seconds": 20, "splits": "3;1;1;0"},
    {"pose": {"include_origin": False, "pairwise": False}},
]


@pytest.mark.parametrize("kw", POSE_OPTIONS)
def test_pose_on_disk_equals_in_memory(session_file, tmp_path, kw):
    mem, disk = _pair(PoseDataModule, session_file, tmp_path, **kw)
    assert disk._features is not None and mem._features is None
    # statistics: equal within float32 round-off (streamed in float64 vs. at once)
    for a, b in zip(mem.normalizers, disk.normalizers):
        na, nb = a["pose"], b["pose"]
        assert na.keys() == nb.keys()
        for key in na:
            if na[key] is None or isinstance(na[key], str):
                assert na[key] == nb[key]
            else:
                np.testing.assert_allclose(nb[key], na[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for split in ("train", "val", "test"):
        assert len(mem.split_data[split]) == len(disk.split_data[split])
        for a, b in zip(mem.split_data[split], disk.split_data[split]):
            xa, xb = a.inputs["pose"], b.inputs["pose"]
            assert isinstance(xb, RowMap) and xb.shape == xa.shape and xb.dtype == np.float32
            np.testing.assert_allclose(np.asarray(xb), xa, rtol=1e-5, atol=1e-4)
            # split sizes, segments and bookkeeping: exactly equal
            assert a.n_frames == b.n_frames
            np.testing.assert_array_equal(a.segments, b.segments)
            np.testing.assert_array_equal(np.asarray(b.frame_index), a.frame_index)
            np.testing.assert_array_equal(np.asarray(b.trial_index), a.trial_index)
            assert b.trial_index[5] == a.trial_index[5] and b.frame_index[-1] == a.frame_index[-1]
            for name, lab in a.labels.items():
                got = np.asarray(b.labels[name])
                assert got.dtype == lab.dtype and got.shape == lab.shape
                np.testing.assert_array_equal(got, lab)
            # fancy rows, slices and single rows read the same values
            rows = np.array([0, len(xa) - 1, 17, 17, len(xa) // 2])
            np.testing.assert_array_equal(xb[rows], np.asarray(xb)[rows])
            np.testing.assert_array_equal(xb[3:40], np.asarray(xb)[3:40])
            np.testing.assert_array_equal(xb[-1], np.asarray(xb)[-1])
    # the whole session, as exported with the embeddings
    full_a, full_b = list(mem.iter_full_sessions()), list(disk.iter_full_sessions())
    for (sa, a, ra), (sb, b, rb) in zip(full_a, full_b):
        assert sa == sb and a.n_frames == b.n_frames == T
        np.testing.assert_allclose(np.asarray(b.inputs["pose"]), a.inputs["pose"], rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(rb, ra)
        np.testing.assert_array_equal(np.asarray(b.frame_index), a.frame_index)
    assert mem.spec == disk.spec


def test_given_statistics_give_identical_features(session_file, tmp_path):
    """With the normalisation statistics fixed (embedding new data), both paths apply the same
    float32 operations row by row: bit-identical features."""
    mem = PoseDataModule(files=session_file)
    mem.setup()
    state = mem.normalizers
    a = PoseDataModule(files=session_file, normalization_state=state)
    b = PoseDataModule(files=session_file, normalization_state=state, on_disk_threshold_mb=0, on_disk_dir=str(tmp_path))
    a.setup()
    b.setup()
    for (_, sa, _), (_, sb, _) in zip(a.iter_full_sessions(), b.iter_full_sessions()):
        np.testing.assert_array_equal(np.asarray(sb.inputs["pose"]), sa.inputs["pose"])
    np.testing.assert_array_equal(
        np.asarray(b.split_data["train"][0].inputs["pose"]), a.split_data["train"][0].inputs["pose"]
    )


def test_neural_on_disk_equals_in_memory(session_file, tmp_path):
    mem, disk = _pair(NeuralDataModule, session_file, tmp_path, trial_seconds=10)
    np.testing.assert_allclose(disk.normalizers[0]["spikes"]["mean"], mem.normalizers[0]["spikes"]["mean"], rtol=1e-6)
    np.testing.assert_allclose(disk.normalizers[0]["spikes"]["std"], mem.normalizers[0]["spikes"]["std"], rtol=1e-6)
    for split in ("train", "val", "test"):
        for a, b in zip(mem.split_data[split], disk.split_data[split]):
            np.testing.assert_allclose(np.asarray(b.inputs["spikes"]), a.inputs["spikes"], rtol=1e-5, atol=1e-5)


def test_threshold_picks_the_path(session_file, tmp_path):
    # 9001 frames x 45 pose features (3 x 14 + 3 pairs) x 4 bytes = 1.6 MB: on disk below 1 MB, in memory above
    small = PoseDataModule(files=session_file, on_disk_threshold_mb=2, on_disk_dir=str(tmp_path))
    small.setup()
    assert small._features is None and isinstance(small.split_data["train"][0].inputs["pose"], np.ndarray)
    big = PoseDataModule(files=session_file, on_disk_threshold_mb=1, on_disk_dir=str(tmp_path))
    big.setup()
    assert isinstance(big.split_data["train"][0].inputs["pose"], RowMap)
    never = PoseDataModule(files=session_file, on_disk_threshold_mb=None)
    never.setup()
    assert never._features is None
    with pytest.raises(ConfigError, match="on_disk_threshold_mb"):
        PoseDataModule(files=session_file, on_disk_threshold_mb=-1)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    dm = PoseDataModule(files=session_file, on_disk_threshold_mb=0, on_disk_dir=str(not_a_folder))
    with pytest.raises(
        ConfigError, match=r"data.on_disk_dir: cannot write 2 MB of pose features of .*big.h5 to .*file"
    ):
        dm.setup()


def test_teardown_removes_the_feature_files(session_file, tmp_path):
    root = tmp_path / "features"
    dm = PoseDataModule(files=session_file, on_disk_threshold_mb=0, on_disk_dir=str(root))
    dm.setup()
    folder = dm._features.path
    assert folder.parent == root and sorted(p.name for p in folder.iterdir()) == ["s000-pose.f32"]
    assert (folder / "s000-pose.f32").stat().st_size == T * 45 * 4
    dm.teardown("fit")  # Lightning's per-stage teardown keeps them for test and export
    assert folder.is_dir()
    x = dm.split_data["train"][0].inputs["pose"]
    assert x[0:2].shape == (2, 45)  # mapped again on demand
    dm.teardown()
    assert not folder.exists() and list(root.iterdir()) == []
    dm.setup()  # computed again
    again = dm._features.path
    assert again.is_dir() and again != folder
    del dm, x
    gc.collect()
    assert not again.exists()  # the data module was collected: its folder went with it


def test_workers_get_the_same_batches(session_file, tmp_path):
    """Two DataLoader workers (forked; the row maps pickle as paths) serve the batches of one
    process, and the row maps survive pickling (spawned workers)."""
    from behavenet.models.lightning import FamilyModule

    dm = PoseDataModule(files=session_file, on_disk_threshold_mb=0, on_disk_dir=str(tmp_path), batch_size=256, seed=3)
    dm.setup()
    dm.attach_model(FamilyModule("autoencoder", {"output_dimension": 2, "window": 10}, dm.spec))
    loaders = {}
    for workers in (0, 2):
        dm.num_workers = workers
        loaders[workers] = (list(dm.val_dataloader()), list(dm.train_dataloader()))
    (val0, train0), (val2, train2) = loaders[0], loaders[2]
    assert len(val0) == len(val2) >= 2 and len(train0) == len(train2) > 10
    for a, b in zip(val0, val2):  # sequential: the same batches in the same order
        assert torch.equal(a["t"], b["t"]) and torch.equal(a["inputs"]["pose"], b["inputs"]["pose"])

    def by_centre(batches):  # (the seeded shuffle of a multi-worker loader is another epoch's)
        t = torch.cat([b["t"] for b in batches])
        order = torch.argsort(t)
        return t[order], torch.cat([b["inputs"]["pose"] for b in batches])[order]

    (t0, x0), (t2, x2) = by_centre(train0), by_centre(train2)
    assert torch.equal(t0, t2) and torch.equal(x0, x2) and x0.shape[1:] == (10, 45)
    x = dm.split_data["train"][0].inputs["pose"]
    y = pickle.loads(pickle.dumps(x))
    assert y.source._fd is None  # the descriptor is not pickled, only the path
    np.testing.assert_array_equal(y[[5, 1, 900]], x[[5, 1, 900]])


def test_row_map_and_feature_file(tmp_path):
    data = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    path = tmp_path / "x.f32"
    data.tofile(path)
    ff = FeatureFile(path, (40, 3))
    blocks = np.array([[30, 35], [2, 6], [10, 10], [20, 22]])
    want = np.concatenate([data[30:35], data[2:6], data[20:22]])
    rm = RowMap(blocks, ff)
    assert len(rm) == 11 and rm.shape == (11, 3)
    np.testing.assert_array_equal(np.asarray(rm), want)
    np.testing.assert_array_equal(rm[[10, 0, 5, 5]], want[[10, 0, 5, 5]])
    np.testing.assert_array_equal(rm[np.array([[1, 2], [3, 4]])], want[np.array([[1, 2], [3, 4]])])
    np.testing.assert_array_equal(rm[4:7], want[4:7])
    np.testing.assert_array_equal(rm[::3], want[::3])
    np.testing.assert_array_equal(rm[-2], want[-2])
    np.testing.assert_array_equal(rm[:, 1], want[:, 1])
    with pytest.raises(IndexError):
        rm[11]
    np.testing.assert_array_equal(np.asarray(RowMap(blocks)), [30, 31, 32, 33, 34, 2, 3, 4, 5, 20, 21])
    bad = FeatureFile(tmp_path / "gone.f32", (4, 3))
    with pytest.raises(FormatError, match="gone.f32.*feature file is gone"):
        bad.take(np.array([0]))
    short = tmp_path / "short.f32"
    data[:3].tofile(short)
    with pytest.raises(FormatError, match="expected 480"):
        FeatureFile(short, (40, 3)).take(np.array([0]))


def test_chunk_stats_equal_zscore_fit():
    rng = np.random.default_rng(0)
    x = (rng.normal(5, 3, size=(1003, 4)) * [1, 10, 1e-3, 0]).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    stats = ChunkStats(4)
    for a in range(0, len(x), 97):
        stats.update(x[a : a + 97])
    mean, std = stats.zscore()
    want = ZScore.fit(x)
    np.testing.assert_allclose(mean, want.mean, rtol=1e-6)
    np.testing.assert_allclose(std, want.std, rtol=1e-6)
    assert std[3] == 1.0  # constant column keeps std 1
    mask = block_mask(np.array([[0, 3], [5, 8], [20, 30]]), 2, 9)
    np.testing.assert_array_equal(mask, [1, 0, 0, 1, 1, 1, 0])
