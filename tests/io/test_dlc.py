"""DeepLabCut tables: real single/multi-animal predictions, training labels, layouts and errors."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from behavenet import io
from behavenet.errors import DependencyError, FormatError
from behavenet.io.dlc import read_dlc_table

DEEPOF = "deepof-dlc-sleap-tables"
DEEPOF_PARTS = [
    "Nose",
    "Left_ear",
    "Right_ear",
    "Spine_1",
    "Center",
    "Spine_2",
    "Tail_base",
    "Tail_1",
    "Tail_2",
    "Tail_tip",
    "Left_bhip",
    "Right_bhip",
    "Left_fhip",
    "Right_fhip",
]


def test_openfield_predictions_with_video(data_dir):
    s = io.load(
        data_dir / "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.csv", video=data_dir / "dlc-openfield/m3v1mp4.mp4"
    )
    assert s.pose.keypoints.shape == (2330, 1, 4, 2)
    assert s.pose.keypoint_names == ["snout", "leftear", "rightear", "tailbase"]
    assert s.pose.confidence.shape == (2330, 1, 4)
    assert s.fps == pytest.approx(30.0) and s.attrs["fps_source"] == "video"
    assert s.video.n_frames == 2330 and s.video.path.endswith("m3v1mp4.mp4")
    assert s.attrs["scorer"] == "DLC_resnet50_openfieldOct30shuffle1_6000"
    assert s.source_software == "DeepLabCut"
    # first row of the file, likelihood -> confidence
    np.testing.assert_allclose(s.pose.keypoints[0, 0, 0], [76.67398834228516, 88.24728393554688], rtol=1e-6)
    assert s.pose.confidence[0, 0, 0] == pytest.approx(0.9622884392738342)


def test_threshold_masks_keypoints_and_keeps_confidence(data_dir):
    path = data_dir / "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.csv"
    raw = io.load(path, fps=30)
    s = io.load(path, fps=30, threshold=0.9)
    low = raw.pose.confidence < 0.9
    assert low.any() and not low.all()
    assert np.isnan(s.pose.keypoints[low]).all()
    np.testing.assert_array_equal(s.pose.keypoints[~low], raw.pose.keypoints[~low])
    np.testing.assert_array_equal(s.pose.confidence, raw.pose.confidence)
    assert s.attrs["confidence_threshold"] == 0.9
    with pytest.raises(FormatError, match="threshold"):
        io.load(path, threshold=2)


def test_training_labels_openfield_h5_equals_csv(data_dir):
    a = io.load(data_dir / "dlc-openfield/CollectedData_Pranav.h5")
    b = io.load(data_dir / "dlc-openfield/CollectedData_Pranav.csv")
    assert a.pose.keypoints.shape == (116, 1, 4, 2)
    np.testing.assert_array_equal(a.pose.keypoints, b.pose.keypoints)
    assert a.pose.confidence is None and b.pose.confidence is None
    assert a.attrs["kind"] == "training-labels" and a.attrs["scorer"] == "Pranav"
    assert a.attrs["image_paths"][:2] == ["labeled-data/m4s1/img0000.png", "labeled-data/m4s1/img0001.png"]
    assert a.attrs["image_paths"] == b.attrs["image_paths"]
    assert a.trial_names == ["labeled-data/m4s1"]
    assert not np.isnan(a.pose.keypoints).any()


def test_reaching_labels_have_15_percent_nan(data_dir):
    a = io.load(data_dir / "dlc-reaching-labels/CollectedData_Mackenzie.h5")
    b = io.load(data_dir / "dlc-reaching-labels/CollectedData_Mackenzie.csv")
    assert a.pose.keypoints.shape == (55, 1, 5, 2)
    assert a.pose.keypoint_names == ["Hand", "Finger1", "Tongue", "Joystick1", "Joystick2"]
    assert np.isnan(a.pose.keypoints).mean() == pytest.approx(0.153, abs=0.001)
    np.testing.assert_array_equal(a.pose.keypoints, b.pose.keypoints)


def test_lightning_pose_labels_without_likelihood(data_dir):
    s = io.load(data_dir / "lightning-pose-mirror-mouse/CollectedData.csv")
    assert s.pose.keypoints.shape == (90, 1, 17, 2)
    assert s.pose.confidence is None
    assert s.pose.keypoint_names[0] == "paw1LH_top" and s.pose.keypoint_names[-1].endswith("_bot")
    assert "obs_top" in s.pose.keypoint_names and "obsHigh_bot" in s.pose.keypoint_names
    assert np.isnan(s.pose.keypoints).mean() == pytest.approx(0.088, abs=0.001)
    assert s.attrs["scorer"] == "rick" and s.pose.animal_names == ["animal0"]  # views are not animals


def test_multi_animal_h5_and_csv(data_dir):
    h5 = io.load(data_dir / DEEPOF / "testDLC_h5_table_madlc.h5")
    csv = io.load(data_dir / DEEPOF / "testDLC_csv_table_madlc.csv")
    assert h5.pose.keypoints.shape == (100, 2, 14, 2) and csv.pose.keypoints.shape == (97, 2, 14, 2)
    assert h5.pose.animal_names == csv.pose.animal_names == ["mouse_black_tail", "mouse_white_tail"]
    assert h5.pose.keypoint_names == csv.pose.keypoint_names == DEEPOF_PARTS
    # the CSV holds the first 97 rows of the same table: identical values there
    np.testing.assert_array_equal(h5.pose.keypoints[:97], csv.pose.keypoints)
    np.testing.assert_array_equal(h5.pose.confidence[:97], csv.pose.confidence)
    # pandas-mangled scorer names (name.1, name.2, ...) are cleaned
    assert csv.attrs["scorer"] == h5.attrs["scorer"] == "DLC_dlcrnetms5_20220525_CSDS_KET_SI_TRIALJune03shuffle1_200000"
    # (0, 0, likelihood 0) marks an absent detection
    assert h5.attrs["zero_entries_as_missing"] > 0 and np.isnan(h5.pose.keypoints).mean() == pytest.approx(0.25)
    kept = io.load(data_dir / DEEPOF / "testDLC_h5_table_madlc.h5", zero_missing=False)
    assert not np.isnan(kept.pose.keypoints).any()


def test_single_animal_deepof_h5_and_csv(data_dir):
    """These two are different clips of the same project: same layout, different values."""
    h5 = io.load(data_dir / DEEPOF / "testDLC_h5_table.h5")
    csv = io.load(data_dir / DEEPOF / "testDLC_csv_table.csv")
    assert h5.pose.keypoints.shape == (100, 1, 14, 2) and csv.pose.keypoints.shape == (97, 1, 14, 2)
    assert h5.pose.keypoint_names == csv.pose.keypoint_names == DEEPOF_PARTS
    assert h5.attrs["scorer"] == csv.attrs["scorer"]


def test_prefixed_multi_animal(data_dir):
    path = data_dir / DEEPOF / "testDLC_h5_table_multi.h5"
    s = io.load(path)  # detected: every part is B_* or W_* with the same list
    assert s.pose.keypoints.shape == (100, 2, 14, 2)
    assert s.pose.animal_names == ["B", "W"]
    assert s.pose.keypoint_names[:3] == ["Nose", "Left_ear", "Right_ear"]
    assert s.attrs["layout"] == "prefixed multi-animal"
    flat = io.load(path, split_prefix=False)
    assert flat.pose.keypoints.shape == (100, 1, 28, 2) and flat.pose.keypoint_names[0] == "B_Nose"
    np.testing.assert_array_equal(flat.pose.keypoints[:, 0, 14:], s.pose.keypoints[:, 1])
    with pytest.raises(FormatError, match="split_prefix"):
        io.load(data_dir / DEEPOF / "testDLC_h5_table.h5", split_prefix=True)


@pytest.mark.parametrize("name", ["testDLC_h5_table.h5", "testDLC_h5_table_madlc.h5", "testDLC_h5_table_multi.h5"])
def test_h5py_reader_matches_pandas(data_dir, name):
    pytest.importorskip("tables")
    path = data_dir / DEEPOF / name
    a, b = read_dlc_table(path, engine="h5py"), read_dlc_table(path, engine="pandas")
    assert a.columns == b.columns and a.level_names == b.level_names
    np.testing.assert_array_equal(a.values, b.values)
    assert [str(i) for i in a.index] == [str(i) for i in b.index]


@pytest.mark.parametrize(
    "rel", ["dlc-openfield/CollectedData_Pranav.h5", "dlc-reaching-labels/CollectedData_Mackenzie.h5"]
)
def test_h5py_reader_matches_pandas_table_format(data_dir, rel):
    pytest.importorskip("tables")
    a, b = read_dlc_table(data_dir / rel, engine="h5py"), read_dlc_table(data_dir / rel, engine="pandas")
    assert a.columns == b.columns
    np.testing.assert_array_equal(a.values, b.values)
    assert a.index == b.index


def test_pandas_engine_without_pytables_is_dependency_error(data_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "tables", None)  # import tables -> ImportError
    with pytest.raises(DependencyError, match=r"behavenet\[dlc\]"):
        io.load(data_dir / DEEPOF / "testDLC_h5_table.h5", engine="pandas")
    # the default reader needs no PyTables
    assert io.load(data_dir / DEEPOF / "testDLC_h5_table.h5").pose.keypoints.shape == (100, 1, 14, 2)


def _csv(path, header, rows):
    path.write_text("\n".join(",".join(r) for r in header + rows) + "\n")
    return path


def test_mangled_scorer_and_multi_column_index(tmp_path):
    header = [
        ["scorer", "", "", "Unnamed: 3_level_0", "me.1", "me", "me"],
        ["bodyparts", "", "", "nose", "nose", "tail", "tail"],
        ["coords", "", "", "x", "y", "x", "y"],
    ]
    rows = [
        ["labeled-data", "vid1", "img001.png", "1", "2", "3", "4"],
        ["labeled-data", "vid1", "img007.png", "5", "", "7", "8"],
        ["labeled-data", "vid2", "img002.png", "9", "10", "11", "12"],
    ]
    s = io.load(_csv(tmp_path / "CollectedData_me.csv", header, rows))
    assert s.attrs["scorer"] == "me"
    assert s.attrs["image_paths"] == [
        "labeled-data/vid1/img001.png",
        "labeled-data/vid1/img007.png",
        "labeled-data/vid2/img002.png",
    ]
    assert s.trial_names == ["labeled-data/vid1", "labeled-data/vid2"]
    assert s.trial_bounds().tolist() == [[0, 2], [2, 3]]
    assert np.isnan(s.pose.keypoints[1, 0, 0, 1]) and s.pose.keypoints[2, 0, 1, 1] == 12


def test_prediction_rows_are_placed_at_their_frame(tmp_path):
    header = [["scorer", "net", "net", "net"], ["bodyparts", "a", "a", "a"], ["coords", "x", "y", "likelihood"]]
    rows = [["0", "1", "1", "0.9"], ["1", "2", "2", "0.9"], ["4", "5", "5", "0.8"]]
    s = io.load(_csv(tmp_path / "pred.csv", header, rows), fps=10)
    assert s.pose.keypoints.shape == (5, 1, 1, 2)
    assert np.isnan(s.pose.keypoints[2:4]).all() and s.pose.keypoints[4, 0, 0, 0] == 5


def test_bad_csvs_are_one_line_errors(tmp_path, data_dir, h):
    src = (data_dir / "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.csv").read_text()
    cut = tmp_path / "cut.csv"
    cut.write_text(src[: len(src) // 2 - 7])  # cut mid-row
    with pytest.raises(FormatError) as exc:
        io.load(cut)
    assert "truncated" in h.one_line(exc.value)
    header = [["scorer", "net", "net"], ["bodyparts", "a", "a"], ["coords", "x", "y"]]
    bad = _csv(tmp_path / "bad.csv", header, [["0", "1", "oops"]])
    with pytest.raises(FormatError) as exc:
        io.load(bad, source="dlc")
    msg = h.one_line(exc.value)
    assert "row 4, column 3" in msg and "'oops'" in msg
    nocoords = _csv(tmp_path / "nocoords.csv", header[:2], [["0", "1", "2"]])
    with pytest.raises(FormatError, match="coords"):
        io.load(nocoords, source="dlc")


def test_all_nan_animal_is_an_error(tmp_path, h):
    header = [
        ["scorer", "n", "n", "n", "n", "n", "n", "n", "n"],
        ["individuals", "m1", "m1", "m1", "m1", "m2", "m2", "m2", "m2"],
        ["bodyparts", "a", "a", "b", "b", "a", "a", "b", "b"],
        ["coords", "x", "y", "x", "y", "x", "y", "x", "y"],
    ]
    rows = [[str(i), "1", "2", "3", "4", "", "", "", ""] for i in range(3)]
    path = _csv(tmp_path / "ma.csv", header, rows)
    with pytest.raises(FormatError) as exc:
        io.load(path)
    msg = h.one_line(exc.value)
    assert "'m2'" in msg and "all NaN" in msg
    out = tmp_path / "out" / "ma.h5"
    with pytest.raises(FormatError, match="all NaN"):
        io.convert(path, out)
    assert not out.exists() and (not out.parent.exists() or h.leftovers(out.parent) == [])
    s = io.load(path, drop_empty_animals=True)
    assert s.pose.animal_names == ["m1"] and s.attrs["dropped_animals"] == ["m2"]


def test_label_folder_joins_files_and_checks_skeletons(tmp_path, data_dir, h):
    good = tmp_path / "labeled-data"
    for name in ("m4s1", "m4s2"):
        (good / name).mkdir(parents=True)
        shutil.copy(data_dir / "dlc-openfield/CollectedData_Pranav.h5", good / name / "CollectedData_Pranav.h5")
        shutil.copy(data_dir / "dlc-openfield/CollectedData_Pranav.csv", good / name / "CollectedData_Pranav.csv")
    assert io.infer_source(good) == "dlc"
    s = io.load(good)
    assert s.pose.keypoints.shape == (232, 1, 4, 2)
    assert s.trial_bounds().tolist() == [[0, 116], [116, 232]]
    assert s.trial_names == ["m4s1/CollectedData_Pranav", "m4s2/CollectedData_Pranav"]
    shutil.copy(data_dir / "dlc-reaching-labels/CollectedData_Mackenzie.h5", good / "m4s2" / "CollectedData_Pranav.h5")
    with pytest.raises(FormatError) as exc:
        io.load(good)
    msg = h.one_line(exc.value)
    assert "skeleton differs" in msg and "Hand" in msg and "snout" in msg


def test_several_files_joined_by_load(data_dir, h):
    a = data_dir / DEEPOF / "testDLC_h5_table.h5"
    b = data_dir / DEEPOF / "testDLC_csv_table.csv"
    s = io.load([a, b], fps=25)
    assert s.pose.keypoints.shape == (197, 1, 14, 2)
    assert s.trial_names == ["testDLC_h5_table", "testDLC_csv_table"]
    with pytest.raises(FormatError) as exc:
        io.load([a, data_dir / DEEPOF / "testDLC_h5_table_madlc.h5"], fps=25)
    assert "animals differ" in h.one_line(exc.value)
    with pytest.raises(FormatError) as exc:
        io.load([a, data_dir / "dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.csv"], fps=25)
    assert "skeleton differs" in h.one_line(exc.value)
