"""NWB: ndx-pose pose, Units binning, behaviour resampling, trials, and the pose writer round trip."""

from __future__ import annotations

import warnings
from datetime import datetime, timezone

import numpy as np
import pytest

from behavenet import io
from behavenet.errors import ConfigError, FormatError
from behavenet.io.nwb import write_pose_nwb

pynwb = pytest.importorskip("pynwb")
pytest.importorskip("ndx_pose")

OPENFIELD = "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome"


def test_openfield_nwb_pose(data_dir):
    s = io.load(data_dir / f"{OPENFIELD}.nwb")
    assert s.pose.keypoints.shape == (2330, 1, 4, 2)
    assert s.pose.keypoint_names == ["snout", "leftear", "rightear", "tailbase"]  # `nodes` order
    assert s.pose.animal_names == ["ind1"]  # the ind1_ prefix of the series names
    assert s.pose.confidence.shape == (2330, 1, 4)
    assert s.attrs["pose_timestamps"] == "frame numbers" and s.attrs["fps_source"] == "assumed"
    assert s.attrs["scorer"] == "DLC_resnet50_openfieldAug20shuffle1_30000"
    with_video = io.load(data_dir / f"{OPENFIELD}.nwb", video=data_dir / "dlc-openfield/m3v1mp4.mp4")
    assert with_video.fps == pytest.approx(30.0) and with_video.video.n_frames == 2330


def test_openfield_nwb_agrees_with_csv(data_dir):
    """Same video, another scorer snapshot (MANIFEST): same layout, coordinates a few px apart.

    Tolerance used here: per keypoint a median distance under 5 px and at least 85 % of the frames
    within 10 px (measured: medians 2.4-3.9 px, 87-91 % of frames within 10 px).
    """
    csv = io.load(data_dir / f"{OPENFIELD}.csv", fps=30)
    nwb = io.load(data_dir / f"{OPENFIELD}.nwb", fps=30)
    assert csv.pose.keypoints.shape == nwb.pose.keypoints.shape
    assert csv.pose.keypoint_names == nwb.pose.keypoint_names
    assert csv.fps == nwb.fps == 30
    dist = np.linalg.norm(csv.pose.keypoints - nwb.pose.keypoints, axis=-1)[:, 0]  # (T, K)
    assert (np.median(dist, axis=0) < 5).all()
    assert ((dist < 10).mean(axis=0) >= 0.85).all()


def test_units_are_binned(data_dir):
    s = io.load(data_dir / "pynapple-units-suite2p/A8604-211122.nwb")
    assert s.spikes.counts.shape == (43502, 3)  # 0 .. 1087.53 s (the epoch) in 25 ms bins
    assert s.spikes.bin_width == 0.025 and s.fps == 40
    assert s.spikes.counts.sum(axis=0).tolist() == [11020, 4690, 5644]
    assert s.spikes.unit_names == ["unit6", "unit191", "unit206"]
    assert s.attrs["epochs"] == [[0.0, 1087.5289]]
    coarse = io.load(data_dir / "pynapple-units-suite2p/A8604-211122.nwb", bin_width=0.1)
    assert coarse.spikes.counts.shape == (10876, 3) and coarse.spikes.counts.sum() == 21354


def _synthetic_nwb(path, with_pose=True, fps=20.0, n=200):
    from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons

    nwb = pynwb.NWBFile(
        session_description="synthetic", identifier="syn1", session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc)
    )
    nwb.subject = pynwb.file.Subject(species="Mus musculus", subject_id="m1")
    beh = nwb.create_processing_module("behavior", "behaviour")
    t_pos = np.arange(0, n / fps, 1 / 60.0)  # 60 Hz position, faster than the frames
    pos = pynwb.behavior.Position(name="Position")
    pos.create_spatial_series(
        name="led",
        data=np.stack([t_pos * 10, t_pos * -2], axis=1),
        timestamps=t_pos,
        reference_frame="arena",
        unit="cm",
    )
    beh.add(pos)
    bts = pynwb.behavior.BehavioralTimeSeries(name="BehavioralTimeSeries")
    bts.create_timeseries(name="speed", data=np.linspace(0, 1, n // 2), rate=fps / 2, unit="m/s")
    beh.add(bts)
    rng = np.random.default_rng(0)
    for _ in range(2):
        nwb.add_unit(spike_times=np.sort(rng.uniform(0, n / fps, 300)))
    if with_pose:
        sk = Skeleton(name="mouse", nodes=["nose", "tail"], edges=np.array([[0, 1]], dtype=np.uint8))
        beh.add(Skeletons(skeletons=[sk]))
        series = [
            PoseEstimationSeries(
                name=k,
                data=rng.normal(size=(n, 2)),
                confidence=rng.uniform(size=n),
                reference_frame="top left",
                rate=fps,
                starting_time=0.0,
            )
            for k in ("nose", "tail")
        ]
        beh.add(PoseEstimation(name="PoseEstimation", pose_estimation_series=series, skeleton=sk))
    nwb.add_trial(start_time=1.0, stop_time=3.0)
    nwb.add_trial(start_time=4.0, stop_time=6.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(str(path), "w") as f:
            f.write(nwb)
    return path, t_pos


def test_pose_units_behaviour_on_one_time_base(tmp_path):
    path, t_pos = _synthetic_nwb(tmp_path / "syn.nwb")
    s = io.load(path)
    assert s.fps == pytest.approx(20.0) and s.attrs["fps_source"] == "file"
    assert s.pose.keypoints.shape == (200, 1, 2, 2) and s.pose.skeleton == [("nose", "tail")]
    assert s.species == "Mus musculus"
    assert s.spikes.counts.shape == (200, 2) and s.spikes.bin_width == pytest.approx(0.05)
    assert s.spikes.counts.sum() == 600
    assert s.behavior.names == ["speed", "led_x", "led_y"]
    assert s.behavior.units == ["m/s", "cm", "cm"]
    # 60 Hz position averaged over each 50 ms frame: frame 10 covers 0.50 .. 0.55 s
    in_frame = (t_pos >= 0.5) & (t_pos < 0.55)
    assert s.behavior.values[10, 1] == pytest.approx(np.mean(t_pos[in_frame] * 10), rel=1e-5)
    # 10 Hz speed interpolated at the 20 Hz frames
    assert s.behavior.values[1, 0] == pytest.approx(0.5 * np.linspace(0, 1, 100)[1], rel=1e-5)
    assert s.trial_bounds().tolist() == [[20, 60], [80, 120]]
    with pytest.raises(ConfigError, match="bin_width"):
        io.load(path, bin_width=0.01)


def test_units_and_behaviour_without_pose(tmp_path):
    path, _ = _synthetic_nwb(tmp_path / "nopose.nwb", with_pose=False)
    s = io.load(path, bin_width=0.1)
    assert s.pose is None and s.fps == pytest.approx(10)
    assert s.spikes.counts.sum() == 600 and s.behavior.values.shape[1] == 3


def test_write_pose_nwb_round_trip(tmp_path, data_dir):
    s = io.load(data_dir / "deepof-dlc-sleap-tables/testDLC_h5_table_madlc.h5", fps=25)
    s.trials = np.array([[0, 40], [40, 100]])
    out = write_pose_nwb(s, tmp_path / "madlc.nwb")
    back = io.load(out)
    assert back.fps == pytest.approx(25) and back.attrs["fps_source"] == "file"
    assert back.pose.animal_names == s.pose.animal_names
    assert back.pose.keypoint_names == s.pose.keypoint_names
    np.testing.assert_array_equal(back.pose.keypoints, s.pose.keypoints)  # NaN included
    np.testing.assert_array_equal(back.pose.confidence, s.pose.confidence)
    assert back.trial_bounds().tolist() == [[0, 40], [40, 100]]
    with pytest.raises(FormatError, match="exists"):
        write_pose_nwb(s, out)


def test_write_pose_nwb_keeps_skeleton_and_single_animal(tmp_path, data_dir):
    s = io.load(data_dir / "deepof-dlc-sleap-tables/testDLC_sleap.slp", fps=25)
    out = write_pose_nwb(s, tmp_path / "sleap.nwb")
    back = io.load(out)
    assert back.pose.skeleton == s.pose.skeleton
    assert back.pose.animal_names == ["track_0"]
    np.testing.assert_array_equal(back.pose.keypoints, s.pose.keypoints)
    assert [p.name for p in tmp_path.iterdir()] == ["sleap.nwb"]  # no temporary file left


def test_bad_nwb_files(tmp_path, data_dir, h):
    src = (data_dir / "pynapple-units-suite2p/A8604-211122.nwb").read_bytes()
    cut = tmp_path / "cut.nwb"
    cut.write_bytes(src[: len(src) // 2])
    with pytest.raises(FormatError) as exc:
        io.load(cut)
    assert "cut.nwb" in h.one_line(exc.value)
    empty = tmp_path / "empty.nwb"
    nwb = pynwb.NWBFile(session_description="x", identifier="x", session_start_time=datetime.now(timezone.utc))
    with pynwb.NWBHDF5IO(str(empty), "w") as f:
        f.write(nwb)
    with pytest.raises(FormatError, match="nothing to import"):
        io.load(empty)
