"""``behavenet convert``: every bundled real file converts and validates; errors are one line."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from behavenet.data.reader import open_session

# input (under data/), extra CLI arguments, expected (frames, animals, keypoints, fps, modalities)
REAL = [
    (
        "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.csv",
        ["--video", "dlc-openfield/m3v1mp4.mp4"],
        (2330, 1, 4, 30.0, ["pose", "video"]),
    ),
    (
        "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.nwb",
        ["--video", "dlc-openfield/m3v1mp4.mp4"],
        (2330, 1, 4, 30.0, ["pose", "video"]),
    ),
    ("dlc-openfield/CollectedData_Pranav.csv", [], (116, 1, 4, 1.0, ["pose"])),
    ("dlc-openfield/CollectedData_Pranav.h5", [], (116, 1, 4, 1.0, ["pose"])),
    ("dlc-openfield/m3v1mp4.mp4", [], (2330, None, None, 30.0, ["video"])),
    ("dlc-reaching-labels/CollectedData_Mackenzie.csv", [], (55, 1, 5, 1.0, ["pose"])),
    ("dlc-reaching-labels/CollectedData_Mackenzie.h5", [], (55, 1, 5, 1.0, ["pose"])),
    ("lightning-pose-mirror-mouse/CollectedData.csv", [], (90, 1, 17, 1.0, ["pose"])),
    ("lightning-pose-mirror-mouse/test_vid.mp4", [], (994, None, None, 250.0, ["video"])),
    ("deepof-dlc-sleap-tables/testDLC_csv_table.csv", ["--fps", "25"], (97, 1, 14, 25.0, ["pose"])),
    ("deepof-dlc-sleap-tables/testDLC_csv_table_madlc.csv", ["--fps", "25"], (97, 2, 14, 25.0, ["pose"])),
    ("deepof-dlc-sleap-tables/testDLC_h5_table.h5", ["--fps", "25"], (100, 1, 14, 25.0, ["pose"])),
    ("deepof-dlc-sleap-tables/testDLC_h5_table_madlc.h5", ["--fps", "25"], (100, 2, 14, 25.0, ["pose"])),
    ("deepof-dlc-sleap-tables/testDLC_h5_table_multi.h5", ["--fps", "25"], (100, 2, 14, 25.0, ["pose"])),
    ("deepof-dlc-sleap-tables/testDLC_sleap.slp", ["--fps", "25"], (101, 1, 14, 25.0, ["pose"])),
    ("deepof-dlc-sleap-tables/testDLC_sleap.analysis.h5", ["--fps", "25"], (101, 1, 14, 25.0, ["pose"])),
    ("sleap-flies-clip/clip.slp", [], (1500, 2, 13, 25.0, ["pose", "video"])),
    ("sleap-flies-clip/clip.predictions.slp", [], (1500, 2, 2, 25.0, ["pose", "video"])),
    ("sleap-flies-clip/clip.mp4", [], (1500, None, None, 25.0, ["video"])),
    ("pynapple-units-suite2p/A8604-211122.nwb", [], (43502, None, None, 40.0, ["spikes"])),
    ("pynapple-units-suite2p", ["--fps", "30"], (2000, None, None, 30.0, ["calcium"])),
    ("nelpy-linear-track", ["--bin-width", "0.1"], (19826, None, None, 10.0, ["spikes", "behavior"])),
]


@pytest.mark.parametrize("rel,extra,expected", REAL, ids=[r[0] for r in REAL])
def test_convert_every_real_file(tmp_path, data_dir, h, capsys, rel, extra, expected):
    out = tmp_path / "session.h5"
    args = [data_dir / rel, out] + [data_dir / a if a.startswith(("dlc-", "sleap-")) else a for a in extra]
    assert h.run_cli("convert", *args) == 0
    stdout = capsys.readouterr().out
    assert f"wrote {out}: {expected[0]} frames @ {expected[3]:g} fps" in stdout
    h.assert_valid(out)
    n, animals, keypoints, fps, modalities = expected
    with open_session(out) as s:
        assert s.n_frames == n and s.fps == pytest.approx(fps)
        assert s.modalities == modalities
        if animals is not None:
            assert s.shape("pose")[1:3] == (animals, keypoints)
    assert h.leftovers(tmp_path) == []


def test_list_sources(h, capsys):
    assert h.run_cli("convert", "--list-sources") == 0
    out = capsys.readouterr().out
    for name in ("dlc", "sleap", "nwb", "mabe", "calms21", "behavenet-v1", "video", "suite2p", "trodes"):
        assert f"\n{name} " in "\n" + out


def test_options_reach_the_loader(tmp_path, data_dir, h):
    out = tmp_path / "pred.h5"
    assert (
        h.run_cli(
            "convert",
            data_dir / "sleap-flies-clip/clip.predictions.slp",
            out,
            "--instances",
            "predicted",
            "-o",
            "video_index=0",
            "--session-id",
            "flies 1",
            "--species",
            "Drosophila melanogaster",
        )
        == 0
    )
    with open_session(out) as s:
        assert s.session_id == "flies_1" and s.species == "Drosophila melanogaster"
    out2 = tmp_path / "multi.h5"
    assert (
        h.run_cli(
            "convert",
            data_dir / "deepof-dlc-sleap-tables/testDLC_h5_table_multi.h5",
            out2,
            "--no-split-animals",
            "--threshold",
            "0.99",
            "--fps",
            "25",
        )
        == 0
    )
    with open_session(out2) as s:
        assert s.shape("pose") == (100, 1, 28, 2)
        kp, conf = s.read("pose"), s.read("pose_confidence")
        assert np.isnan(kp[conf < 0.99]).all() and np.isfinite(kp[conf >= 0.99]).all()


def test_several_inputs_become_trials(tmp_path, data_dir, h, capsys):
    out = tmp_path / "joined.h5"
    a = data_dir / "deepof-dlc-sleap-tables/testDLC_h5_table.h5"
    b = data_dir / "deepof-dlc-sleap-tables/testDLC_csv_table.csv"
    assert h.run_cli("convert", a, b, out, "--fps", "25") == 0
    assert "2 trials" in capsys.readouterr().out
    with open_session(out) as s:
        assert s.trials.tolist() == [[0, 100], [100, 197]]
        assert s.trial_names == ["testDLC_h5_table", "testDLC_csv_table"]
    bad = tmp_path / "bad.h5"
    assert (
        h.run_cli("convert", a, data_dir / "deepof-dlc-sleap-tables/testDLC_h5_table_madlc.h5", bad, "--fps", "25") == 2
    )
    assert "animals differ" in h.error_line(capsys)
    assert not bad.exists() and h.leftovers(tmp_path) == []


def test_errors_leave_nothing_behind(tmp_path, data_dir, h, capsys):
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x00\x01garbage" * 50)
    out = tmp_path / "out.h5"
    assert h.run_cli("convert", junk, out) == 2
    line = h.error_line(capsys)
    assert line.startswith("behavenet convert: error: ") and "unknown format" in line
    # truncated inputs of several kinds
    for rel in (
        "dlc-openfield/CollectedData_Pranav.h5",
        "sleap-flies-clip/clip.slp",
        "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.csv",
    ):
        src = (data_dir / rel).read_bytes()
        cut = tmp_path / ("cut_" + os.path.basename(rel))
        cut.write_bytes(src[: len(src) // 2])
        assert h.run_cli("convert", cut, out, "--source", "sleap" if rel.endswith(".slp") else "dlc") == 2
        assert "cut_" in h.error_line(capsys)
    # a video shorter than the pose
    short = h.make_video(tmp_path / "short.mp4", n_frames=10)
    assert (
        h.run_cli("convert", data_dir / "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.csv", out, "--video", short)
        == 2
    )
    assert "shorter than the pose" in h.error_line(capsys)
    # bad option syntax, unknown source, option a loader does not take
    assert h.run_cli("convert", junk, out, "-o", "novalue") == 2
    assert "KEY=VALUE" in h.error_line(capsys)
    assert h.run_cli("convert", junk, out, "--source", "nope") == 2
    assert "unknown source" in h.error_line(capsys)
    assert h.run_cli("convert", data_dir / "dlc-openfield/CollectedData_Pranav.csv", out, "--bin-width", "0.1") == 2
    assert "bin_width" in h.error_line(capsys)
    assert not out.exists() and h.leftovers(tmp_path) == []


def test_existing_output_needs_overwrite(tmp_path, data_dir, h, capsys):
    src = data_dir / "dlc-openfield/CollectedData_Pranav.csv"
    out = tmp_path / "labels.h5"
    assert h.run_cli("convert", src, out, "-q") == 0
    before = out.read_bytes()
    assert h.run_cli("convert", src, out) == 2
    assert "exists" in h.error_line(capsys) and out.read_bytes() == before
    assert h.run_cli("convert", src, out, "--overwrite", "--species", "mouse") == 0
    with h5py.File(out) as f:
        assert f.attrs["species"] == "mouse"


def test_convert_in_a_subprocess(tmp_path, data_dir):
    out = tmp_path / "reach.h5"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "behavenet.cli",
            "convert",
            str(data_dir / "dlc-reaching-labels/CollectedData_Mackenzie.h5"),
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "55 frames" in proc.stdout
    from behavenet.cli import main

    assert main(["validate", str(out)]) == 0
    proc = subprocess.run(
        [sys.executable, "-m", "behavenet.cli", "convert", str(tmp_path / "nope.csv"), str(tmp_path / "x.h5")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "file not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_options_may_come_before_the_output(tmp_path, data_dir, h, capsys):
    pred = data_dir / "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.csv"
    video = data_dir / "dlc-openfield/m3v1mp4.mp4"
    out = tmp_path / "between.h5"
    assert h.run_cli("convert", pred, "--video", video, out) == 0
    assert f"wrote {out}: 2330 frames @ 30 fps" in capsys.readouterr().out
    with open_session(out) as s:
        assert s.modalities == ["pose", "video"]
    # options first, between several inputs, and flags with values anywhere
    a = data_dir / "deepof-dlc-sleap-tables/testDLC_h5_table.h5"
    b = data_dir / "deepof-dlc-sleap-tables/testDLC_csv_table.csv"
    joined = tmp_path / "joined.h5"
    assert h.run_cli("convert", "--fps", "25", a, "--session-id", "ab", b, "-q", joined) == 0
    with open_session(joined) as s:
        assert s.trials.tolist() == [[0, 100], [100, 197]] and s.session_id == "ab" and s.fps == 25
    # an unknown option is still refused by argparse (exit status 2), nothing written
    with pytest.raises(SystemExit) as exc:
        h.run_cli("convert", b, "--bogus", tmp_path / "x.h5")
    assert exc.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_output_folder_must_exist_and_name_end_in_h5(tmp_path, data_dir, h, capsys):
    src = data_dir / "dlc-openfield/CollectedData_Pranav.csv"
    missing = tmp_path / "no_such_dir" / "deeper"
    assert h.run_cli("convert", src, missing / "out.h5") == 2
    assert h.error_line(capsys) == f"behavenet convert: error: {missing}: output directory does not exist"
    assert not (tmp_path / "no_such_dir").exists()
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    assert h.run_cli("convert", src, a_file / "out.h5") == 2
    assert h.error_line(capsys) == f"behavenet convert: error: {a_file}: output directory is not a folder"
    for name, got in (("out.csv", "not '.csv'"), ("out", "it has none"), ("out.h5.tmp", "not '.tmp'")):
        out = tmp_path / name
        assert h.run_cli("convert", src, out) == 2
        assert h.error_line(capsys) == (
            f"behavenet convert: error: {out}: expected an output name ending in .h5 "
            f"or .hdf5 (a session file is HDF5); {got}"
        )
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]
    # the same check in Python; .hdf5 and upper case are fine
    from behavenet import io
    from behavenet.errors import FormatError

    with pytest.raises(FormatError, match=r"out\.csv: expected an output name ending in \.h5 or \.hdf5"):
        io.convert(src, tmp_path / "out.csv")
    assert h.run_cli("convert", src, tmp_path / "labels.hdf5", "-q") == 0
    assert h.run_cli("convert", src, tmp_path / "LABELS.H5", "-q") == 0
    h.assert_valid(tmp_path / "labels.hdf5")
