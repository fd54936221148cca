"""Original BehaveNet (v1) files are read directly and can be converted."""

from __future__ import annotations

import numpy as np
import pytest

from behavenet.cli import main as cli
from behavenet.data.behavenet_v1 import BehaveNetV1File, convert_behavenet_v1, write_behavenet_v1
from behavenet.data.format import validate_file
from behavenet.data.reader import open_session, read_session
from behavenet.errors import FormatError


@pytest.fixture
def v1_file(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    images = rng.integers(0, 255, (n, 2, 6, 5), dtype=np.uint8)  # two camera views as channels
    neural = rng.poisson(2, (n, 7)).astype(np.float32)
    labels = rng.normal(size=(n, 6)).astype(np.float32)  # 3 markers, x/y interleaved
    masks = np.ones_like(labels)
    masks[4, 2:4] = 0
    path = write_behavenet_v1(
        tmp_path / "data.hdf5",
        images=images,
        neural=neural,
        labels=labels,
        labels_masks=masks,
        trial_lengths=[20, 25, 15],
    )
    return path, images, neural, labels


def test_v1_read_directly(v1_file):
    path, images, neural, labels = v1_file
    r = open_session(path, fps=30.0)
    assert isinstance(r, BehaveNetV1File)
    np.testing.assert_array_equal(r.trials, [[0, 20], [20, 45], [45, 60]])
    assert set(r.modalities) == {"pose", "video", "spikes"}  # integer-valued neural -> spikes
    np.testing.assert_array_equal(r.read("spikes"), neural)
    pose = r.read("pose")
    assert pose.shape == (60, 1, 3, 2)
    np.testing.assert_array_equal(pose[10, 0, 2], labels[10, 4:6])  # interleaved x, y
    assert np.isnan(pose[4, 0, 1]).all()  # labels_masks 0 -> NaN
    np.testing.assert_array_equal(r.video()[np.array([21, 3])], images[[21, 3]].transpose(0, 2, 3, 1))


def test_v1_calcium_detected_and_override(tmp_path):
    p = write_behavenet_v1(
        tmp_path / "ca.hdf5", neural=np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    )
    assert open_session(p, fps=10).modalities == ["calcium"]
    p2 = write_behavenet_v1(tmp_path / "sp.hdf5", neural=np.ones((30, 4), np.float32))
    assert open_session(p2, fps=10, neural_type="calcium").modalities == ["calcium"]


def test_v1_convert_round_trip(v1_file, tmp_path):
    path, images, neural, labels = v1_file
    out = convert_behavenet_v1(path, tmp_path / "converted.h5", fps=30.0)
    summary = validate_file(out)
    assert summary["format_version"] == "1.0" and summary["n_trials"] == 3
    s = read_session(out, load_video=True)
    np.testing.assert_array_equal(s.video.frames, images.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(s.spikes.counts, neural)
    assert s.fps == 30.0 and s.spikes.bin_width == pytest.approx(1 / 30)


def test_v1_validation_errors(tmp_path):
    import h5py

    p = tmp_path / "bad.hdf5"
    with h5py.File(p, "w") as f:
        f.create_dataset("images/trial_0000", data=np.zeros((5, 1, 4, 4), np.uint8))
        f.create_dataset("neural/trial_0000", data=np.zeros((6, 3), np.float32))
    with pytest.raises(FormatError, match=r"/neural/trial_0000: has 6 frames, /images/trial_0000 has 5"):
        validate_file(p)
    assert cli(["validate", str(p)]) == 2
