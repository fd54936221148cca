"""Bad session files: ``behavenet validate`` (and the reader under ``train``) report one line."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import assert_rejected, edit_h5


def _replace(f, name, data, **attrs):
    old = dict(f[name].attrs)
    del f[name]
    f[name] = data
    f[name].attrs.update({**old, **attrs})


def _set_attr(key, value):
    return lambda f: f.attrs.__setitem__(key, value)


def _del_attr(key):
    return lambda f: f.attrs.__delitem__(key)


# (case id, edit of a valid file, text the error line must hold: field, then expectation)
CASES = [
    ("format-missing", _del_attr("format"), ["attrs.format", "missing; expected"]),
    ("format-wrong", _set_attr("format", "somethingelse"), ["attrs.format", "expected", "somethingelse"]),
    ("version-garbled", _set_attr("format_version", "one"), ["attrs.format_version", "expected 'MAJOR.MINOR'"]),
    ("version-newer-major", _set_attr("format_version", "99.0"), ["attrs.format_version", "99.0"]),
    ("fps-missing", _del_attr("fps"), ["attrs.fps", "required attribute is missing"]),
    ("fps-negative", _set_attr("fps", -30.0), ["attrs.fps", "expected a positive frame rate"]),
    ("n-frames-zero", _set_attr("n_frames", 0), ["attrs.n_frames", "expected a positive frame count"]),
    (
        "trials-overlap",
        lambda f: _replace(f, "trials/bounds", np.array([[0, 250], [200, 400]])),
        ["/trials/bounds", "must not overlap"],
    ),
    (
        "trials-past-end",
        lambda f: _replace(f, "trials/bounds", np.array([[0, 200], [200, 900]])),
        ["/trials/bounds", "stop <= n_frames=400"],
    ),
    (
        "trials-float",
        lambda f: _replace(f, "trials/bounds", np.array([[0.0, 400.0]])),
        ["/trials/bounds", "expected integer (n_trials, 2)"],
    ),
    (
        "keypoints-int",
        lambda f: _replace(f, "pose/keypoints", np.zeros((400, 2, 3, 2), np.int64)),
        ["/pose/keypoints", "expected float32, found int64"],
    ),
    (
        "keypoints-short",
        lambda f: _replace(f, "pose/keypoints", np.zeros((300, 2, 3, 2), np.float32)),
        ["/pose/keypoints", "300 frames", "n_frames=400"],
    ),
    (
        "keypoint-names-count",
        lambda f: f["pose"].attrs.__setitem__("keypoint_names", ["nose", "neck"]),
        ["keypoint_names", "2 names for 3 keypoints"],
    ),
    (
        "spikes-negative",
        lambda f: _replace(f, "neural/spikes", -np.ones((400, 6), np.int32)),
        ["/neural/spikes", "negative counts"],
    ),
    (
        "spikes-no-bin-width",
        lambda f: f["neural/spikes"].attrs.__delitem__("bin_width"),
        ["/neural/spikes.attrs.bin_width", "required attribute is missing"],
    ),
    (
        "behavior-inf",
        lambda f: f["behavior/values"].__setitem__((5, 0), np.inf),
        ["/behavior/values", "first at frame 5"],
    ),
    (
        "frame-label-code-out-of-vocabulary",
        lambda f: f["labels/frame/state"].__setitem__(3, 7),
        ["/labels/frame/state", "vocabulary"],
    ),
]


@pytest.mark.parametrize("edit,parts", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validate_reports_one_line(capsys, session_file, edit, parts):
    path = edit_h5(session_file(), edit)
    assert_rejected(capsys, "validate", [path], [str(path), *parts])


def test_missing_file(capsys, tmp_path):
    assert_rejected(capsys, "validate", [tmp_path / "nope.h5"], [str(tmp_path / "nope.h5"), "file not found"])


def test_not_hdf5(capsys, tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("a, b\n1, 2\n")
    assert_rejected(capsys, "validate", [path], [str(path), "not a readable HDF5 file"])


def test_empty_file(capsys, tmp_path):
    path = tmp_path / "empty.h5"
    path.write_bytes(b"")
    assert_rejected(capsys, "validate", [path], [str(path), "not a readable HDF5 file"])


def test_truncated_file(capsys, session_file):
    path = session_file()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_rejected(capsys, "validate", [path], [str(path), "truncated or corrupt"])


def test_external_video_missing(capsys, session_file):
    def edit(f):
        g = f.create_group("video")
        g.attrs["external_path"] = "gone.mp4"

    path = edit_h5(session_file(), edit)
    assert_rejected(capsys, "validate", [path], [str(path), "/video.attrs.external_path", "not found"])
