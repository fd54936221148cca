"""Video files as sessions, pose + video attachment, and streamed frame embedding."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from behavenet import io
from behavenet.data.reader import open_session
from behavenet.data.video import VideoFileReader
from behavenet.errors import ConfigError, FormatError

pytest.importorskip("av")


def test_video_alone_is_referenced(tmp_path, small_video, h):
    s = io.load(small_video)
    assert s.video.n_frames == 40 and s.fps == 10 and s.modalities == ["video"]
    out = io.convert(small_video, tmp_path / "ref.h5")
    h.assert_valid(out)
    with h5py.File(out) as f:
        assert "frames" not in f["video"] and f["video"].attrs["n_frames"] == 40
    with open_session(out) as r:
        frames = r.video()
        assert len(frames) == 40 and frames.frame_shape == (48, 64, 3)
        np.testing.assert_array_equal(frames[7], VideoFileReader(small_video)[7])


def test_embed_frames_streams_with_resize_and_grey(tmp_path, small_video, h):
    out = io.convert(small_video, tmp_path / "emb.h5", embed_frames=True, resize="24x32", grayscale=True)
    h.assert_valid(out)
    ref = VideoFileReader(small_video, grayscale=True, size=(24, 32))
    with h5py.File(out) as f:
        d = f["video/frames"]
        assert d.shape == (40, 24, 32, 1) and d.dtype == np.uint8 and d.chunks == (1, 24, 32, 1)
        np.testing.assert_array_equal(d[13], ref[13])
    assert h.leftovers(tmp_path) == []
    s = io.load(small_video, embed_frames=True)  # in memory
    assert s.video.frames.shape == (40, 48, 64, 3)
    with pytest.raises(ConfigError, match="embed_frames"):
        io.load(small_video, resize="24x32")


def test_pose_with_video_checks(tmp_path, data_dir, h):
    pred = data_dir / "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.csv"
    short = h.make_video(tmp_path / "short.mp4", n_frames=12)
    out = tmp_path / "pose.h5"
    with pytest.raises(FormatError) as exc:
        io.convert(pred, out, video=short)
    msg = h.one_line(exc.value)
    assert "12 frames" in msg and "2330" in msg and "shorter" in msg
    assert not out.exists() and h.leftovers(tmp_path) == []
    with pytest.raises(FormatError, match="25 fps"):  # the video is 30 fps
        io.load(pred, fps=25, video=data_dir / "dlc-openfield/m3v1mp4.mp4")
    with pytest.raises(FormatError, match="training-label"):
        io.load(data_dir / "dlc-openfield/CollectedData_Pranav.csv", video=short)


def test_longer_video_pads_the_pose(tmp_path, h):
    csv = tmp_path / "pred.csv"
    rows = "\n".join(f"{i},{i},{i},0.9" for i in range(30))
    csv.write_text("scorer,net,net,net\nbodyparts,a,a,a\ncoords,x,y,likelihood\n" + rows + "\n")
    video = h.make_video(tmp_path / "v.mp4", n_frames=40)
    s = io.load(csv, video=video)
    assert s.n_frames == 40 and s.attrs["pose_padded_to_video"] == 10
    assert np.isnan(s.pose.keypoints[30:]).all() and s.fps == 10
    out = io.convert(csv, tmp_path / "padded.h5", video=video, embed_frames=True)
    h.assert_valid(out)
    with h5py.File(out) as f:
        assert f["video/frames"].shape == (40, 48, 64, 3) and f["pose/keypoints"].shape == (40, 1, 1, 2)


@pytest.mark.slow  # decodes 1500 frames of 1024 x 1024
def test_sleap_session_can_embed_its_video(tmp_path, data_dir, h):
    out = io.convert(
        data_dir / "sleap-flies-clip/clip.predictions.slp",
        tmp_path / "flies.h5",
        embed_frames=True,
        resize="32x32",
        grayscale=True,
    )
    h.assert_valid(out)
    with h5py.File(out) as f:
        assert f["video/frames"].shape == (1500, 32, 32, 1)


def test_truncated_video_is_one_line_error(tmp_path, small_video, h):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(small_video.read_bytes()[:300])
    out = tmp_path / "cut.h5"
    assert h.run_cli("convert", cut, out, "--source", "video") == 2
    assert not out.exists() and h.leftovers(tmp_path) == []


def test_behavenet_v1_images_are_embedded(tmp_path, h):
    from behavenet.data.behavenet_v1 import write_behavenet_v1

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(30, 1, 16, 20), dtype=np.uint8)
    neural = rng.poisson(2, size=(30, 5)).astype(np.float64)
    labels = rng.normal(size=(30, 6))
    src = write_behavenet_v1(tmp_path / "v1.hdf5", images=images, neural=neural, labels=labels, trial_lengths=[10, 20])
    assert io.infer_source(src) == "behavenet-v1"
    out = io.convert(src, tmp_path / "v1_session.h5", fps=20)
    h.assert_valid(out)
    with open_session(out) as r:
        assert r.fps == 20 and r.trials.tolist() == [[0, 10], [10, 30]]
        np.testing.assert_array_equal(r.read("video"), images.transpose(0, 2, 3, 1))
        assert r.read("pose").shape == (30, 1, 3, 2) and r.has("spikes")


# --------------------------------------------------------------------------- every source pads the same way
LONGER = [
    ("deepof-dlc-sleap-tables/testDLC_csv_table.csv", "testDLC_csv_table", 97),
    ("deepof-dlc-sleap-tables/testDLC_sleap.slp", "testDLC_sleap", 101),
    ("deepof-dlc-sleap-tables/testDLC_sleap.analysis.h5", "testDLC_sleap", 101),
]


@pytest.mark.parametrize("rel,sid,n_pose", LONGER, ids=[r for r, _, _ in LONGER])
def test_longer_video_warns_for_every_source(tmp_path, data_dir, h, caplog, rel, sid, n_pose):
    video = h.make_video(tmp_path / "long.mp4", n_frames=130, fps=10)
    with caplog.at_level("WARNING", logger="behavenet.io"):
        s = io.load(data_dir / rel, video=video)
    padded = [r.getMessage() for r in caplog.records if "frames have no pose" in r.getMessage()]
    assert padded == [
        f"{sid}: the video has 130 frames, the pose {n_pose}; the last {130 - n_pose} frames have no pose"
    ]
    assert s.n_frames == 130 and s.attrs["pose_padded_to_video"] == 130 - n_pose
    assert np.isnan(s.pose.keypoints[n_pose:]).all() and np.isfinite(s.pose.keypoints[:n_pose]).any()
    # the assumed rate (these files store none) is replaced by the video's; a given rate must match it
    assert s.fps == 10 and s.attrs["fps_source"] == "video"
    with pytest.raises(FormatError) as exc:
        io.load(data_dir / rel, video=video, fps=25)
    assert h.one_line(exc.value) == f"{video}: video: the video runs at 10 fps but the given frame rate is 25 fps"
    s = io.load(data_dir / rel, video=video, fps=10)
    assert s.fps == 10 and s.attrs["fps_source"] == "user" and s.n_frames == 130


def test_longer_video_warning_on_the_command_line(tmp_path, data_dir, h):
    import os
    import subprocess
    import sys

    video = h.make_video(tmp_path / "long.mp4", n_frames=130, fps=10)
    out = tmp_path / "slp.h5"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "behavenet.cli",
            "convert",
            str(data_dir / "deepof-dlc-sleap-tables/testDLC_sleap.slp"),
            str(out),
            "--video",
            str(video),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "behavenet convert: warning: testDLC_sleap: the video has 130 frames, the pose 101; "
        "the last 29 frames have no pose"
    ) in proc.stderr.splitlines()
    assert f"wrote {out}: 130 frames @ 10 fps" in proc.stdout


# --------------------------------------------------------------------------- how the video path is stored
def _external(path) -> str:
    with h5py.File(path) as f:
        return f["video"].attrs["external_path"]


def test_absolute_video_path_stays_absolute(tmp_path, data_dir, h):
    csv = data_dir / "deepof-dlc-sleap-tables/testDLC_csv_table.csv"
    (tmp_path / "videos").mkdir()
    video = h.make_video(tmp_path / "videos" / "v.mp4", n_frames=100, fps=10)
    assert video.is_absolute()
    out = io.convert(csv, tmp_path / "a" / "s.h5", video=video)
    assert _external(out) == str(video)
    moved = tmp_path / "elsewhere" / "deep" / "s.h5"
    moved.parent.mkdir(parents=True)
    out.rename(moved)
    h.assert_valid(moved)  # the moved session still finds its video
    with open_session(moved) as r:
        assert r.external_video_path == video
        np.testing.assert_array_equal(r.video()[5], VideoFileReader(video)[5])
    # re-converting a session keeps the absolute reference
    again = io.convert(moved, tmp_path / "again.h5")
    assert _external(again) == str(video)
    # a video file alone, given by an absolute path
    alone = io.convert(video, tmp_path / "alone.h5")
    assert _external(alone) == str(video)
    assert h.leftovers(tmp_path) == [] and h.leftovers(tmp_path / "a") == []


def test_relative_video_path_stays_relative_to_the_session(cwd_tmp, data_dir, h):
    csv = data_dir / "deepof-dlc-sleap-tables/testDLC_csv_table.csv"
    (cwd_tmp / "videos").mkdir()
    h.make_video(cwd_tmp / "videos" / "v.mp4", n_frames=100, fps=10)
    (cwd_tmp / "sessions").mkdir()
    out = io.convert(csv, "sessions/s.h5", video="videos/v.mp4")
    assert _external(out) == "../videos/v.mp4"
    assert h.run_cli("convert", "videos/v.mp4", "alone.h5", "-q") == 0
    assert _external(cwd_tmp / "alone.h5") == "videos/v.mp4"
    # session and video moved together: still found
    (cwd_tmp / "sessions").rename(cwd_tmp / "project_sessions")
    (cwd_tmp / "project").mkdir()
    (cwd_tmp / "project_sessions").rename(cwd_tmp / "project" / "sessions")
    (cwd_tmp / "videos").rename(cwd_tmp / "project" / "videos")
    h.assert_valid(cwd_tmp / "project" / "sessions" / "s.h5")
    # re-converting a session elsewhere re-bases the relative reference on the new file
    again = io.convert(cwd_tmp / "project" / "sessions" / "s.h5", "again.h5")
    assert _external(again) == "project/videos/v.mp4"
    h.assert_valid(again)


def test_replacing_a_known_non_user_rate_is_warned(tmp_path, data_dir, h, caplog):
    csv = data_dir / "deepof-dlc-sleap-tables/testDLC_csv_table.csv"
    first = io.convert(csv, tmp_path / "s.h5", video=h.make_video(tmp_path / "v10.mp4", n_frames=100, fps=10))
    faster = h.make_video(tmp_path / "v25.mp4", n_frames=100, fps=25)
    with caplog.at_level("WARNING", logger="behavenet.io"):
        s = io.load(first, video=faster)  # the session's rate came from its first video, not the user
    assert "testDLC_csv_table: using the video's frame rate 25 fps instead of 10 fps (video)" in [
        r.getMessage() for r in caplog.records
    ]
    assert s.fps == 25
