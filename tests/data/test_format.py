"""Session format v1: round trip, and a clear one-line error for each kind of bad file."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from behavenet.cli import main as cli
from behavenet.data.format import Behavior, FrameLabel, Pose, Session, Spikes, validate_file, write_session
from behavenet.data.reader import read_session
from behavenet.errors import FormatError


def test_round_trip_equal(small_session):
    path = small_session()
    s = read_session(path, load_video=True)
    s2_path = path.with_name("copy.h5")
    write_session(s, s2_path)
    s2 = read_session(s2_path, load_video=True)
    for a, b in [
        (s.pose.keypoints, s2.pose.keypoints),
        (s.spikes.counts, s2.spikes.counts),
        (s.video.frames, s2.video.frames),
        (s.behavior.values, s2.behavior.values),
        (s.trials, s2.trials),
        (s.frame_labels["state"].codes, s2.frame_labels["state"].codes),
        (s.sequence_labels["cond"].values, s2.sequence_labels["cond"].values),
    ]:
        np.testing.assert_array_equal(a, b)
    assert s2.pose.keypoint_names == ["nose", "neck", "hip", "tail"]
    assert s2.pose.animal_names == ["a", "b"]
    assert s2.behavior.names == ["latent.0", "latent.1"]
    assert s2.frame_labels["state"].vocabulary == ["low", "high"]
    assert s2.fps == 20.0 and s2.spikes.bin_width == 0.05
    assert s2.spikes.counts.dtype == np.uint16


def test_nan_pose_round_trips(tmp_path):
    kp = np.zeros((10, 1, 2, 2), np.float32)
    kp[3, 0, 1] = np.nan
    p = write_session(Session("x", 10.0, pose=Pose(kp, ["a", "b"])), tmp_path / "x.h5")
    out = read_session(p).pose.keypoints
    assert np.isnan(out[3, 0, 1]).all() and np.isfinite(out[np.arange(10) != 3]).all()


def _one_line_error(path, match):
    with pytest.raises(FormatError) as info:
        validate_file(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg
    assert match in msg, msg
    assert cli(["validate", str(path)]) != 0
    return msg


def _mutate(src, dst, fn):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        fn(f)
    return dst


BAD_CASES = {
    "missing_group_trials": (lambda f: f.__delitem__("trials"), "/trials/bounds"),
    "pose_label_length": (
        lambda f: (
            f["labels/frame"].__delitem__("state"),
            f["labels/frame"].create_dataset("state", data=np.zeros(399, np.int32)),
            f["labels/frame/state"].attrs.__setitem__("vocabulary", ["a", "b"]),
        ),
        "/labels/frame/state: has 399 frames",
    ),
    "nan_spikes": (
        lambda f: (
            f["neural"].__delitem__("spikes"),
            f["neural"].create_dataset("spikes", data=np.full((400, 3), np.nan, np.float32)),
            f["neural/spikes"].attrs.__setitem__("bin_width", 0.05),
        ),
        "/neural/spikes: contains NaN",
    ),
    "wrong_dtype_pose": (
        lambda f: (
            f["pose"].__delitem__("keypoints"),
            f["pose"].create_dataset("keypoints", data=np.zeros((400, 2, 4, 2), np.int64)),
        ),
        "/pose/keypoints: expected float32, found int64",
    ),
    "unknown_version": (lambda f: f.attrs.__setitem__("format_version", "7.0"), "version 7.0 is not supported"),
    "missing_format": (lambda f: f.attrs.__delitem__("format"), "attrs.format"),
    "bad_trials": (
        lambda f: (
            f["trials"].__delitem__("bounds"),
            f["trials"].create_dataset("bounds", data=np.array([[0, 300], [200, 400]])),
        ),
        "must not overlap",
    ),
    "trials_beyond_end": (
        lambda f: (f["trials"].__delitem__("bounds"), f["trials"].create_dataset("bounds", data=np.array([[0, 500]]))),
        "stop <= n_frames=400",
    ),
    "keypoint_names_count": (
        lambda f: f["pose"].attrs.__setitem__("keypoint_names", ["a"]),
        "has 1 names for 4 keypoints",
    ),
    "label_code_out_of_vocab": (
        lambda f: f["labels/frame/state"].__setitem__(slice(0, 1), 5),
        "codes must be in [-1, 1]",
    ),
    "negative_spikes": (
        lambda f: (
            f["neural"].__delitem__("spikes"),
            f["neural"].create_dataset("spikes", data=-np.ones((400, 3), np.float32)),
            f["neural/spikes"].attrs.__setitem__("bin_width", 0.05),
        ),
        "negative counts",
    ),
    "bin_width_mismatch": (
        lambda f: f["neural/spikes"].attrs.__setitem__("bin_width", 0.1),
        "does not match the session frame rate",
    ),
    "video_dtype": (
        lambda f: (
            f["video"].__delitem__("frames"),
            f["video"].create_dataset("frames", data=np.zeros((400, 8, 8, 1), np.float32)),
        ),
        "/video/frames: expected uint8",
    ),
    "sequence_label_count": (
        lambda f: (
            f["labels/sequence"].__delitem__("cond"),
            f["labels/sequence"].create_dataset("cond", data=np.zeros(3, np.int32)),
            f["labels/sequence/cond"].attrs.__setitem__("vocabulary", ["a"]),
        ),
        "one value per trial (8)",
    ),
    "pose_inf": (lambda f: f["pose/keypoints"].__setitem__((5, 0, 0, 0), np.inf), "infinite values"),
    "fps_zero": (lambda f: f.attrs.__setitem__("fps", 0.0), "positive frame rate"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_file_one_line_error(small_session, tmp_path, case):
    fn, match = BAD_CASES[case]
    path = _mutate(small_session(), tmp_path / f"{case}.h5", fn)
    _one_line_error(path, match)


def test_truncated_file(small_session, tmp_path):
    src = small_session()
    data = src.read_bytes()
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(data[: len(data) // 3])
    msg = _one_line_error(bad, "truncated or corrupt")
    assert "truncated.h5" in msg


def test_not_hdf5(tmp_path):
    bad = tmp_path / "notes.h5"
    bad.write_text("hello")
    _one_line_error(bad, "not a readable HDF5 file")


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="file not found"):
        validate_file(tmp_path / "nope.h5")
    assert cli(["validate", str(tmp_path / "nope.h5")]) == 2


def test_writer_refuses_bad_session_and_leaves_nothing(tmp_path):
    bad = Session("bad", 10.0, spikes=Spikes(np.full((10, 2), np.nan), bin_width=0.1))
    out = tmp_path / "out.h5"
    with pytest.raises(FormatError, match="contains NaN") as info:
        write_session(bad, out)
    assert str(out) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_writer_length_mismatch(tmp_path):
    s = Session("bad", 10.0, pose=Pose(np.zeros((10, 1, 2, 2)), ["a", "b"]), behavior=Behavior(np.zeros(9), ["speed"]))
    with pytest.raises(FormatError, match="/behavior/values: has 9 frames but the session has n_frames=10"):
        write_session(s, tmp_path / "x.h5")
    assert not any(tmp_path.iterdir())


def test_writer_refuses_overwrite(small_session):
    p = small_session()
    s = read_session(p)
    with pytest.raises(FormatError, match="output file exists"):
        write_session(s, p)


def test_frame_labels_only_session_is_valid(tmp_path):
    p = write_session(Session("l", 5.0, frame_labels={"b": FrameLabel(np.zeros(10, int), ["x"])}), tmp_path / "l.h5")
    assert validate_file(p)["frame_labels"] == ["b"]


def test_cli_validate_ok(small_session, capsys):
    p = small_session()
    assert cli(["validate", str(p)]) == 0
    assert "ok (format 1.0, 400 frames, 8 trials" in capsys.readouterr().out
