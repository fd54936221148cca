"""Bad inputs to ``behavenet convert`` (every importer): one line, exit 2, no output file."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from .conftest import assert_rejected

ROOT = Path(__file__).resolve().parents[2]
DLC_CSV = ROOT / "data" / "dlc-openfield" / "m3v1mp4_DLC_predictions_from_ethome.csv"
DLC_VIDEO = ROOT / "data" / "dlc-openfield" / "m3v1mp4.mp4"


def _dlc_lines(n=40) -> list[str]:
    return DLC_CSV.read_text().splitlines()[:n]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def convert_rejected(capsys, tmp_path, inputs, parts, *options):
    out = tmp_path / "out" / "session.h5"
    out.parent.mkdir(exist_ok=True)
    return assert_rejected(capsys, "convert", [*map(str, inputs), *options, out], parts, outputs=[out])


# ---- DeepLabCut -------------------------------------------------------------------------------


def test_dlc_csv_header_cut(capsys, tmp_path):
    src = _write(tmp_path / "cut_DLC.csv", "\n".join(_dlc_lines()[:2]) + "\n")
    convert_rejected(capsys, tmp_path, [src], [str(src)])


def test_dlc_csv_text_in_coordinates(capsys, tmp_path):
    lines = _dlc_lines()
    row = lines[10].split(",")
    row[1] = "oops"
    lines[10] = ",".join(row)
    src = _write(tmp_path / "text_DLC.csv", "\n".join(lines) + "\n")
    convert_rejected(capsys, tmp_path, [src], [str(src), "oops"])


def test_dlc_csv_ragged_row(capsys, tmp_path):
    lines = _dlc_lines()
    lines[12] = ",".join(lines[12].split(",")[:5])
    src = _write(tmp_path / "ragged_DLC.csv", "\n".join(lines) + "\n")
    convert_rejected(capsys, tmp_path, [src], [str(src), "line 13", "expected 13 fields like the header, found 5"])


def test_dlc_csv_empty(capsys, tmp_path):
    src = _write(tmp_path / "empty_DLC.csv", "")
    convert_rejected(capsys, tmp_path, [src], [str(src)])


def test_dlc_pose_longer_than_video(capsys, tmp_path):
    lines = DLC_CSV.read_text().splitlines()
    extra = [f"{int(ln.split(',', 1)[0]) + 2330},{ln.split(',', 1)[1]}" for ln in lines[3:203]]
    src = _write(tmp_path / "long_DLC.csv", "\n".join(lines + extra) + "\n")
    convert_rejected(capsys, tmp_path, [src], ["2530", "2330"], "--video", DLC_VIDEO)


def test_dlc_threshold_out_of_range(capsys, tmp_path):
    src = _write(tmp_path / "thr_DLC.csv", "\n".join(_dlc_lines(40)) + "\n")
    convert_rejected(capsys, tmp_path, [src], ["threshold"], "--threshold", "7")


# ---- SLEAP, NWB, video: files that are not what their suffix says -----------------------------


def test_sleap_slp_not_a_sleap_file(capsys, tmp_path):
    src = tmp_path / "clip.slp"
    src.write_bytes(b"\x00garbage" * 100)
    convert_rejected(capsys, tmp_path, [src], [str(src)])


def test_sleap_analysis_h5_missing_tracks(capsys, tmp_path):
    src = tmp_path / "clip.analysis.h5"
    with h5py.File(src, "w") as f:
        f["node_names"] = np.array([b"head", b"thorax"])
        f["track_names"] = np.array([b"a"])
    convert_rejected(capsys, tmp_path, [src], [str(src)], "--source", "sleap")


def test_nwb_not_an_nwb_file(capsys, tmp_path):
    src = tmp_path / "rec.nwb"
    src.write_bytes(b"not hdf5 at all" * 50)
    convert_rejected(capsys, tmp_path, [src], [str(src)])


def test_nwb_hdf5_without_nwb_content(capsys, tmp_path):
    src = tmp_path / "plain.nwb"
    with h5py.File(src, "w") as f:
        f["x"] = np.zeros(3)
    convert_rejected(capsys, tmp_path, [src], [str(src)])


def test_video_corrupt(capsys, tmp_path):
    src = tmp_path / "movie.mp4"
    src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 2000)
    convert_rejected(capsys, tmp_path, [src], [str(src)])


# ---- MABe .npy, suite2p, Trodes, BehaveNet v1 ---------------------------------------------------


def test_mabe_npy_wrong_keys(capsys, tmp_path):
    src = tmp_path / "user_train.npy"
    np.save(src, np.array({"nothing": 1}, dtype=object), allow_pickle=True)
    convert_rejected(capsys, tmp_path, [src], [str(src)], "--source", "mabe")


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_mabe_npy_pickle_that_runs_code_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "evil.npy"
    arr = np.empty((), dtype=object)
    arr[()] = {"sequences": _Boom()}
    with open(src, "wb") as fh:
        np.lib.format.write_array(fh, arr, allow_pickle=True)
    assert b"system" in src.read_bytes()
    convert_rejected(capsys, tmp_path, [src], [str(src)], "--source", "mabe")
    assert not (tmp_path / "PWNED").exists()


def test_mabe_npy_plain_numeric_array(capsys, tmp_path):
    src = tmp_path / "numbers.npy"
    np.save(src, np.zeros((10, 3)))
    convert_rejected(capsys, tmp_path, [src], [str(src)], "--source", "mabe")


def test_suite2p_folder_without_f(capsys, tmp_path):
    folder = tmp_path / "suite2p" / "plane0"
    folder.mkdir(parents=True)
    np.save(folder / "iscell.npy", np.ones((3, 2)))
    convert_rejected(capsys, tmp_path, [folder], [str(folder), "F.npy"], "--source", "suite2p", "--fps", "30")


def test_suite2p_iscell_length_mismatch(capsys, tmp_path):
    folder = tmp_path / "plane0"
    folder.mkdir()
    np.save(folder / "F.npy", np.ones((4, 50), np.float32))
    np.save(folder / "iscell.npy", np.ones((3, 2)))
    convert_rejected(capsys, tmp_path, [folder], ["iscell"], "--source", "suite2p", "--fps", "30")


def test_trodes_position_file_garbled(capsys, tmp_path):
    src = tmp_path / "rec.videoPositionTracking"
    src.write_bytes(b"<Start settings>\nnonsense\n" + bytes(range(256)))
    convert_rejected(capsys, tmp_path, [src], [str(src)], "--fps", "30")


def test_behavenet_v1_trial_shapes_disagree(capsys, tmp_path):
    src = tmp_path / "v1.hdf5"
    with h5py.File(src, "w") as f:
        f.create_dataset("neural/trial_0000", data=np.zeros((20, 4), np.float32))
        f.create_dataset("neural/trial_0001", data=np.zeros((20, 5), np.float32))
    convert_rejected(capsys, tmp_path, [src], [str(src)], "--source", "behavenet-v1", "--fps", "30")


# ---- the command itself -----------------------------------------------------------------------


def test_input_missing(capsys, tmp_path):
    convert_rejected(capsys, tmp_path, [tmp_path / "nope_DLC.csv"], [str(tmp_path / "nope_DLC.csv"), "not found"])


def test_unknown_suffix(capsys, tmp_path):
    src = _write(tmp_path / "tracks.xyz", "1 2 3\n")
    convert_rejected(capsys, tmp_path, [src], [str(src)])


def test_unknown_source(capsys, tmp_path):
    src = _write(tmp_path / "a_DLC.csv", "\n".join(_dlc_lines()) + "\n")
    convert_rejected(
        capsys,
        tmp_path,
        [src],
        ["source", "unknown source 'deeplabcutt'", "known sources: "],
        "--source",
        "deeplabcutt",
    )


def test_negative_fps(capsys, tmp_path):
    src = _write(tmp_path / "a_DLC.csv", "\n".join(_dlc_lines()) + "\n")
    convert_rejected(capsys, tmp_path, [src], ["fps"], "--fps", "-5")


def test_output_folder_missing(capsys, tmp_path):
    src = _write(tmp_path / "a_DLC.csv", "\n".join(_dlc_lines()) + "\n")
    out = tmp_path / "no" / "such" / "s.h5"
    assert_rejected(capsys, "convert", [src, out], [str(out.parent), "does not exist"], outputs=[out])


def test_output_exists_is_kept(capsys, tmp_path):
    src = _write(tmp_path / "a_DLC.csv", "\n".join(_dlc_lines()) + "\n")
    out = tmp_path / "s.h5"
    out.write_bytes(b"precious")
    assert_rejected(capsys, "convert", [src, out], [str(out), "--overwrite"])
    assert out.read_bytes() == b"precious"


def test_option_without_value(capsys, tmp_path):
    src = _write(tmp_path / "a_DLC.csv", "\n".join(_dlc_lines()) + "\n")
    convert_rejected(capsys, tmp_path, [src], ["--option", "expected KEY=VALUE"], "--option", "instances")


@pytest.mark.parametrize(
    "payload", [pickle.dumps([1, 2]), b"\x93NUMPY\x01\x00garbage"], ids=["pickle-not-npy", "npy-header-garbled"]
)
def test_npy_header_garbled(capsys, tmp_path, payload):
    src = tmp_path / "garbled.npy"
    src.write_bytes(payload)
    convert_rejected(capsys, tmp_path, [src], [str(src)], "--source", "mabe")
