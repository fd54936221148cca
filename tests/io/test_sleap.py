"""SLEAP .slp (sleap-io) and analysis .h5: tracks, instances, skeleton, video remapping."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from behavenet import io
from behavenet.errors import ConfigError, FormatError

sio = pytest.importorskip("sleap_io")

FLY_NODES = [
    "head",
    "thorax",
    "abdomen",
    "wingL",
    "wingR",
    "forelegL4",
    "forelegR4",
    "midlegL4",
    "midlegR4",
    "hindlegL4",
    "hindlegR4",
    "eyeL",
    "eyeR",
]


def test_flies_user_labels(data_dir):
    s = io.load(data_dir / "sleap-flies-clip/clip.slp")
    assert s.pose.keypoints.shape == (1500, 2, 13, 2)
    assert s.pose.keypoint_names == FLY_NODES
    assert s.pose.animal_names == ["female", "male"]
    assert s.pose.confidence is None  # all user instances
    assert ("thorax", "head") in s.pose.skeleton and len(s.pose.skeleton) >= 12
    # the stored video path (clip.mp4) resolves next to the file: frame rate and count from it
    assert s.video.path.endswith("clip.mp4") and s.video.n_frames == 1500
    assert s.fps == 25.0 and s.attrs["fps_source"] == "video"
    ref = sio.load_slp(str(data_dir / "sleap-flies-clip/clip.slp"), open_videos=False).numpy()
    np.testing.assert_array_equal(s.pose.keypoints, ref.astype(np.float32))


def test_flies_predictions_remap_video_and_scores(data_dir, h):
    path = data_dir / "sleap-flies-clip/clip.predictions.slp"
    s = io.load(path)
    assert s.attrs["video_path_in_file"] == "tests/data/tracks/clip.mp4"  # not where it is here
    assert s.video.path.endswith("sleap-flies-clip/clip.mp4")  # found by name next to the .slp
    assert s.pose.keypoints.shape == (1500, 2, 2, 2) and s.pose.keypoint_names == ["head", "thorax"]
    # point scores are kept as SLEAP reports them (they can exceed 1)
    ref = sio.load_slp(str(path), open_videos=False).numpy(return_confidence=True, user_instances=False)
    np.testing.assert_array_equal(s.pose.keypoints, ref[..., :2].astype(np.float32))
    np.testing.assert_allclose(s.pose.confidence, ref[..., 2], rtol=1e-6)
    with pytest.raises(FormatError) as exc:
        io.load(path, instances="user")
    assert "no user-labelled instances" in h.one_line(exc.value)


def test_explicit_video_and_video_root(tmp_path, data_dir):
    shutil.copy(data_dir / "sleap-flies-clip/clip.predictions.slp", tmp_path / "p.slp")
    s = io.load(tmp_path / "p.slp")  # video not found: pose only, warned
    assert s.video is None and s.fps == 1.0
    s = io.load(tmp_path / "p.slp", video_root=data_dir / "sleap-flies-clip")
    assert s.video.n_frames == 1500 and s.fps == 25.0
    s = io.load(tmp_path / "p.slp", video=data_dir / "sleap-flies-clip/clip.mp4")
    assert s.video.n_frames == 1500


def test_deepof_slp_equals_analysis_h5(data_dir):
    a = io.load(data_dir / "deepof-dlc-sleap-tables/testDLC_sleap.slp")
    b = io.load(data_dir / "deepof-dlc-sleap-tables/testDLC_sleap.analysis.h5")
    assert a.pose.keypoints.shape == b.pose.keypoints.shape == (101, 1, 14, 2)
    np.testing.assert_array_equal(a.pose.keypoints, b.pose.keypoints)
    np.testing.assert_array_equal(a.pose.confidence, b.pose.confidence)
    assert a.pose.keypoint_names == b.pose.keypoint_names
    assert a.pose.animal_names == b.pose.animal_names == ["track_0"]
    assert a.pose.skeleton == b.pose.skeleton and len(a.pose.skeleton) == 13
    with pytest.raises(ConfigError, match="analysis files"):
        io.load(data_dir / "deepof-dlc-sleap-tables/testDLC_sleap.analysis.h5", instances="user")


def _synthetic(path, tracked=True):
    sk = sio.Skeleton(nodes=["a", "b", "c"], edges=[("a", "b"), ("b", "c")])
    t1, t2 = sio.Track("t1"), sio.Track("t2")
    v = sio.Video(filename="elsewhere/vid.mp4", open_backend=False)
    lfs = []
    for i in range(5):
        user = sio.Instance.from_numpy(
            np.array([[1, 2], [3, 4], [np.nan, np.nan]]) + i, skeleton=sk, track=t1 if tracked else None
        )
        pred1 = sio.PredictedInstance.from_numpy(
            np.array([[10, 20], [30, 40], [50, 60]]) + i,
            skeleton=sk,
            point_scores=np.array([0.5, 0.6, 0.7]),
            score=0.9,
            track=t1 if tracked else None,
        )
        pred2 = sio.PredictedInstance.from_numpy(
            np.array([[11, 21], [31, 41], [51, 61]]) + i,
            skeleton=sk,
            point_scores=np.array([0.1, 0.2, 0.3]),
            score=0.9,
            track=t2 if tracked else None,
        )
        insts = [pred1, pred2] + ([user] if i % 2 == 0 else [])
        lfs.append(sio.LabeledFrame(video=v, frame_idx=2 * i, instances=insts))
    sio.save_slp(sio.Labels(labeled_frames=lfs), str(path))
    return path


def test_instances_user_predicted_both(tmp_path):
    path = _synthetic(tmp_path / "mixed.slp")
    both = io.load(path)
    assert both.pose.keypoints.shape == (9, 2, 3, 2)  # frames 0..8, tracks t1, t2
    assert both.pose.animal_names == ["t1", "t2"]
    assert both.pose.keypoints[0, 0, 0].tolist() == [1, 2]  # user preferred on frame 0
    assert both.pose.keypoints[2, 0, 0].tolist() == [11, 21]  # frame 2: only predicted
    assert np.isnan(both.pose.keypoints[0, 0, 2]).all()  # invisible user point
    assert both.pose.confidence[0, 0, 0] == 1.0 and both.pose.confidence[2, 0, 0] == pytest.approx(0.5)
    assert np.isnan(both.pose.keypoints[1]).all()  # unlabelled frame
    pred = io.load(path, instances="predicted")
    assert pred.pose.keypoints[0, 0, 0].tolist() == [10, 20]
    user = io.load(path, instances="user")
    assert user.pose.animal_names == ["t1"] and user.pose.confidence is None
    assert user.pose.keypoints.shape == (9, 1, 3, 2)
    with pytest.raises(ConfigError, match="instances"):
        io.load(path, instances="all")


def test_untracked_instances_fill_slots(tmp_path):
    s = io.load(_synthetic(tmp_path / "untracked.slp", tracked=False))
    assert s.pose.animal_names == ["instance0", "instance1"]  # up to 2 instances per frame
    assert s.pose.keypoints[0, 0, 0].tolist() == [1, 2]  # frame 0: its user instance replaces both predictions
    assert np.isnan(s.pose.keypoints[0, 1]).all()
    assert s.pose.keypoints[2, 1, 0].tolist() == [12, 22]  # frame 2 = i 1
    s = io.load(tmp_path / "untracked.slp", instances="predicted")
    assert s.pose.keypoints[0, 0, 0].tolist() == [10, 20]


def test_truncated_slp_is_one_line_error(tmp_path, data_dir, h):
    src = (data_dir / "deepof-dlc-sleap-tables/testDLC_sleap.slp").read_bytes()
    cut = tmp_path / "cut.slp"
    cut.write_bytes(src[: len(src) // 3])
    with pytest.raises(FormatError) as exc:
        io.load(cut, source="sleap")
    assert "cut.slp" in h.one_line(exc.value)


def test_given_video_replacing_the_stored_one_is_warned(data_dir, caplog, h):
    clip = data_dir / "sleap-flies-clip/clip.slp"
    other = data_dir / "dlc-openfield/m3v1mp4.mp4"  # 2330 frames at 30 fps; the clip's own is 1500 at 25
    with caplog.at_level("WARNING", logger="behavenet.io"):
        s = io.load(clip, video=other)
    messages = [r.getMessage() for r in caplog.records]
    assert (
        f"{clip}: video={other} (2330 frames, 30 fps) replaces the video the labels were made on, "
        f"{data_dir / 'sleap-flies-clip/clip.mp4'} (1500 frames, 25 fps); the session follows the given video"
    ) in messages
    assert "clip: the video has 2330 frames, the pose 1500; the last 830 frames have no pose" in messages
    assert s.n_frames == 2330 and s.fps == 30 and s.attrs["pose_padded_to_video"] == 830
    assert np.isnan(s.pose.keypoints[1500:]).all()
    caplog.clear()
    with caplog.at_level("WARNING", logger="behavenet.io"):  # its own video: no warning at all
        s = io.load(clip, video=data_dir / "sleap-flies-clip/clip.mp4")
    assert caplog.records == [] and s.n_frames == 1500 and s.fps == 25


def test_stored_video_reference_absolute_only_when_stored_absolute(tmp_path, data_dir, small_video):
    import h5py

    # the clip stores "clip.mp4" (relative), found next to the .slp: written relative to the session
    out = io.convert(data_dir / "sleap-flies-clip/clip.slp", tmp_path / "clip.h5")
    with h5py.File(out) as f:
        ext = f["video"].attrs["external_path"]
    assert not ext.startswith("/") and (tmp_path / ext).resolve() == (data_dir / "sleap-flies-clip/clip.mp4").resolve()
    # a file that stores an absolute path, found there: written absolute
    sk = sio.Skeleton(nodes=["a", "b"])
    v = sio.Video(filename=str(small_video), open_backend=False)
    lfs = [
        sio.LabeledFrame(
            video=v,
            frame_idx=i,
            instances=[sio.Instance.from_numpy(np.array([[1.0, 2.0], [3.0, 4.0]]) + i, skeleton=sk)],
        )
        for i in range(40)
    ]
    slp = tmp_path / "abs.slp"
    sio.save_slp(sio.Labels(labeled_frames=lfs), str(slp))
    out = io.convert(slp, tmp_path / "sub" / "abs.h5")
    with h5py.File(out) as f:
        assert f["video"].attrs["external_path"] == str(small_video)
