"""The loader registry: names, content sniffing, options, custom loaders."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from behavenet import io
from behavenet.data.format import Pose, Session
from behavenet.errors import ConfigError, FormatError
from behavenet.io import _registry

REAL = {
    "deepof-dlc-sleap-tables/testDLC_csv_table.csv": "dlc",
    "deepof-dlc-sleap-tables/testDLC_csv_table_madlc.csv": "dlc",
    "deepof-dlc-sleap-tables/testDLC_h5_table.h5": "dlc",
    "deepof-dlc-sleap-tables/testDLC_h5_table_madlc.h5": "dlc",
    "deepof-dlc-sleap-tables/testDLC_h5_table_multi.h5": "dlc",
    "deepof-dlc-sleap-tables/testDLC_sleap.analysis.h5": "sleap",
    "deepof-dlc-sleap-tables/testDLC_sleap.slp": "sleap",
    "dlc-openfield/CollectedData_Pranav.csv": "dlc",
    "dlc-openfield/CollectedData_Pranav.h5": "dlc",
    "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.csv": "dlc",
    "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.nwb": "nwb",
    "dlc-openfield/m3v1mp4.mp4": "video",
    "dlc-reaching-labels/CollectedData_Mackenzie.csv": "dlc",
    "dlc-reaching-labels/CollectedData_Mackenzie.h5": "dlc",
    "lightning-pose-mirror-mouse/CollectedData.csv": "dlc",
    "lightning-pose-mirror-mouse/test_vid.mp4": "video",
    "sleap-flies-clip/clip.slp": "sleap",
    "sleap-flies-clip/clip.predictions.slp": "sleap",
    "sleap-flies-clip/clip.mp4": "video",
    "pynapple-units-suite2p/A8604-211122.nwb": "nwb",
    "pynapple-units-suite2p": "suite2p",
    "pynapple-units-suite2p/F.npy": "suite2p",
    "nelpy-linear-track": "trodes",
}


def test_sources_are_registered():
    names = io.list_sources()
    for name in ("dlc", "sleap", "nwb", "mabe", "calms21", "behavenet-v1", "video", "suite2p", "trodes", "behavenet"):
        assert name in names
    assert names == sorted(names)
    assert io.get_loader("DeepLabCut").name == "dlc"  # aliases, any case
    assert io.get_loader("lightning_pose").name == "dlc"
    with pytest.raises(ConfigError, match="unknown source 'nope'.*known sources"):
        io.get_loader("nope")


@pytest.mark.parametrize("rel,source", sorted(REAL.items()))
def test_infer_source_of_real_files(data_dir, rel, source):
    assert io.infer_source(data_dir / rel) == source


def test_sniffing_uses_content_not_suffix(tmp_path, data_dir):
    csv = tmp_path / "predictions.txt"
    shutil.copy(data_dir / "dlc-openfield/CollectedData_Pranav.csv", csv)
    assert io.infer_source(csv) == "dlc"
    slp = tmp_path / "labels.h5"  # a .slp under another name
    shutil.copy(data_dir / "deepof-dlc-sleap-tables/testDLC_sleap.slp", slp)
    assert io.infer_source(slp) == "sleap"
    nwb = tmp_path / "session.h5"
    shutil.copy(data_dir / "pynapple-units-suite2p/A8604-211122.nwb", nwb)
    assert io.infer_source(nwb) == "nwb"
    mp4 = tmp_path / "movie.bin"
    shutil.copy(data_dir / "lightning-pose-mirror-mouse/test_vid.mp4", mp4)
    assert io.infer_source(mp4) == "video"
    dlc_h5 = tmp_path / "table.hdf5"
    shutil.copy(data_dir / "deepof-dlc-sleap-tables/testDLC_h5_table.h5", dlc_h5)
    assert io.infer_source(dlc_h5) == "dlc"


def test_unknown_format_is_one_line_error(tmp_path, h):
    junk = tmp_path / "notes.csv"
    junk.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(FormatError) as exc:
        io.infer_source(junk)
    msg = h.one_line(exc.value)
    assert "unknown format" in msg and "notes.csv" in msg and "dlc" in msg
    with pytest.raises(FormatError, match="file not found"):
        io.infer_source(tmp_path / "missing.csv")
    with pytest.raises(FormatError, match="unknown format"):
        io.load(junk)


def test_unknown_option_is_rejected(data_dir, h):
    with pytest.raises(ConfigError) as exc:
        io.load(data_dir / "dlc-openfield/CollectedData_Pranav.csv", bin_width=0.1)
    msg = h.one_line(exc.value)
    assert "bin_width" in msg and "'dlc' loader" in msg


def test_custom_loader_registration(tmp_path):
    marker = b"MYFORMAT\n"

    @io.register_loader(
        "myformat", suffixes=(".my",), sniff=lambda p: p.read_bytes().startswith(marker), description="test format"
    )
    def load_my(path, *, fps=10.0, scale=1.0):
        kp = np.arange(20, dtype=np.float32).reshape(5, 2, 2) * scale
        return Session(session_id=path.stem, fps=fps, pose=Pose(keypoints=kp, keypoint_names=["a", "b"]))

    try:
        f = tmp_path / "rec.dat"
        f.write_bytes(marker + b"payload")
        assert "myformat" in io.list_sources()
        assert io.infer_source(f) == "myformat"
        s = io.load(f, scale=2.0)
        assert s.pose.keypoints.shape == (5, 1, 2, 2) and s.pose.keypoints.max() == 38
        assert s.attrs["source"] == "myformat"
        out = io.convert(f, tmp_path / "rec.h5")
        assert out.exists()
    finally:
        _registry._LOADERS.pop("myformat", None)
    assert "myformat" not in io.list_sources()


def test_loader_crash_on_bad_content_becomes_one_line(tmp_path, h):
    """Content a loader does not expect never surfaces as a traceback."""
    bad = tmp_path / "bad.slp"
    import h5py

    with h5py.File(bad, "w") as f:  # looks like SLEAP to the sniffer, is not
        f.create_dataset("metadata", data=1)
        f.create_dataset("frames", data=[1, 2])
        f.create_dataset("points", data=[1, 2])
    with pytest.raises(FormatError) as exc:
        io.load(bad)
    assert "bad.slp" in h.one_line(exc.value)


@pytest.mark.parametrize(
    "module,rel,extra",
    [
        ("sleap_io", "sleap-flies-clip/clip.slp", "sleap"),
        ("pynwb", "pynapple-units-suite2p/A8604-211122.nwb", "nwb"),
        ("av", "dlc-openfield/m3v1mp4.mp4", "video"),
    ],
)
def test_missing_optional_dependency_is_one_line(data_dir, monkeypatch, h, module, rel, extra):
    import sys

    from behavenet.errors import DependencyError

    monkeypatch.setitem(sys.modules, module, None)  # import -> ImportError
    with pytest.raises(DependencyError) as exc:
        io.load(data_dir / rel)
    assert f"behavenet[{extra}]" in h.one_line(exc.value)


@pytest.mark.parametrize(
    "rel,source,expected",
    [
        ("dlc-openfield/CollectedData_Pranav.csv", "sleap", "not a SLEAP file"),
        ("sleap-flies-clip/clip.slp", "dlc", "not a DeepLabCut table"),
        ("pynapple-units-suite2p/F.npy", "mabe", "not a MABe file"),
        ("dlc-openfield/m3v1mp4.mp4", "nwb", "not an NWB file"),
        ("pynapple-units-suite2p/A8604-211122.nwb", "video", "not a video file"),
        ("dlc-openfield/CollectedData_Pranav.h5", "behavenet-v1", "not a BehaveNet v1 file"),
        ("dlc-openfield", "suite2p", "not suite2p output"),
    ],
)
def test_each_loader_validates_its_input(data_dir, h, rel, source, expected):
    with pytest.raises(FormatError) as exc:
        io.load(data_dir / rel, source=source)
    msg = h.one_line(exc.value)
    assert expected in msg and str(data_dir / rel) in msg


# --------------------------------------------------------------------------- truncated HDF5 inputs
TRUNCATED = [
    ("sleap-flies-clip/clip.slp", "sleap"),
    ("sleap-flies-clip/clip.predictions.slp", "sleap"),
    ("dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.nwb", "nwb"),
    ("deepof-dlc-sleap-tables/testDLC_h5_table.h5", "dlc"),
    ("dlc-openfield/CollectedData_Pranav.h5", "dlc"),
    ("deepof-dlc-sleap-tables/testDLC_sleap.analysis.h5", "sleap"),
]


def _cut(data_dir, tmp_path, rel, n=100_000, name=None):
    src = (data_dir / rel).read_bytes()
    n = min(n, len(src) // 2)
    cut = tmp_path / (name or "cut_" + rel.split("/")[-1])
    cut.write_bytes(src[:n])
    return cut, n, len(src)


@pytest.mark.parametrize("rel,source", TRUNCATED, ids=[r for r, _ in TRUNCATED])
def test_truncated_hdf5_is_reported_as_truncated(tmp_path, data_dir, h, rel, source):
    cut, n, full = _cut(data_dir, tmp_path, rel)
    expected = (
        f"{cut}: not a readable HDF5 file (truncated or corrupt?): the file has {n} bytes, its HDF5 header says {full}"
    )
    with pytest.raises(FormatError) as exc:  # detected source
        io.infer_source(cut)
    assert h.one_line(exc.value) == expected
    for src in (None, source, "behavenet", "dlc"):  # explicit source, right or wrong: same message
        with pytest.raises(FormatError) as exc:
            io.load(cut, source=src)
        assert h.one_line(exc.value) == expected, src


@pytest.mark.parametrize("rel,source", TRUNCATED[:3] + TRUNCATED[3:4], ids=[r for r, _ in TRUNCATED[:4]])
def test_truncated_hdf5_cli(tmp_path, data_dir, h, capsys, rel, source):
    cut, _, _ = _cut(data_dir, tmp_path, rel)
    out = tmp_path / "out.h5"
    for extra in ([], ["--source", source]):
        assert h.run_cli("convert", cut, out, *extra) == 2
        line = h.error_line(capsys)
        assert line.startswith(f"behavenet convert: error: {cut}: not a readable HDF5 file (truncated or corrupt?)")
        assert "unknown format" not in line and "not a SLEAP file" not in line
    assert not out.exists() and h.leftovers(tmp_path) == []


def test_hdf5_signature_or_suffix_decides_not_the_name(tmp_path, data_dir, h):
    # a truncated .slp under a neutral name: the HDF5 signature says what it is
    cut, n, full = _cut(data_dir, tmp_path, "sleap-flies-clip/clip.slp", name="recording.dat")
    with pytest.raises(FormatError, match=f"not a readable HDF5 file .*{n} bytes, its HDF5 header says {full}"):
        io.infer_source(cut)
    # an .nwb / .slp that is not HDF5 at all (an empty file, text)
    empty = tmp_path / "empty.slp"
    empty.write_bytes(b"")
    text = tmp_path / "notes.nwb"
    text.write_text("hello\n")
    for p in (empty, text):
        with pytest.raises(FormatError) as exc:
            io.load(p)
        msg = h.one_line(exc.value)
        assert msg.startswith(f"{p}: not a readable HDF5 file (truncated or corrupt?)"), msg
    # content sniffing is unchanged for other inputs: a DLC table named .txt is still found
    csv_as_txt = tmp_path / "table.txt"
    shutil.copy(data_dir / "dlc-openfield/CollectedData_Pranav.csv", csv_as_txt)
    assert io.infer_source(csv_as_txt) == "dlc"
    # and a non-HDF5 input with a wrong --source keeps its "not a ..." message
    with pytest.raises(FormatError, match="not a SLEAP file"):
        io.load(data_dir / "dlc-openfield/CollectedData_Pranav.csv", source="sleap")
