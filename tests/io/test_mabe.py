"""MABe22 mice/flies .npy, CalMS21 .json and AIcrowd MABe 2021 .npy (synthetic files built from the
documented structure, /work/shared/reference/mabe.md section 1), and the restricted unpickler."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from behavenet import io
from behavenet.errors import FormatError

MOUSE_TASKS = ["lights", "chases"]


def _mouse_file(path, n_seq=3, T=60, with_labels=True, seed=0):
    rng = np.random.default_rng(seed)
    seqs = {}
    for s in range(n_seq):
        kp = rng.uniform(1, 850, size=(T, 3, 12, 2)).astype(np.float32)
        kp[5, 1, 3] = 0  # a missing keypoint, stored as (0, 0)
        entry = {"keypoints": kp}
        if with_labels:
            lights = np.full(T, float(s % 2))
            chases = (rng.uniform(size=T) > 0.8).astype(np.float64)
            chases[:4] = np.nan  # unlabelled frames
            entry["annotations"] = np.stack([lights, chases]).astype(np.float32)
        seqs[f"{'ABCDEFGHIJKLMNOPQRST'[s]}{s:019d}"] = entry
    data = {"sequences": seqs}
    if with_labels:
        data["vocabulary"] = MOUSE_TASKS
    np.save(path, data, allow_pickle=True)
    return path, seqs


def test_mouse_triplets(tmp_path, h):
    path, seqs = _mouse_file(tmp_path / "mouse_triplet_train.npy")
    assert io.infer_source(path) == "mabe"
    s = io.load(path)
    ids = list(seqs)
    assert s.trial_names == ids  # file order kept
    assert s.trial_bounds().tolist() == [[0, 60], [60, 120], [120, 180]]
    assert s.pose.keypoints.shape == (180, 3, 12, 2)
    assert s.pose.keypoint_names[:3] == ["nose", "left_ear", "right_ear"] and s.pose.keypoint_names[-1] == "tail_tip"
    assert s.pose.animal_names == ["mouse0", "mouse1", "mouse2"]
    assert s.fps == 30 and s.species == "mouse" and s.attrs["fps_source"] == "format default"
    assert np.isnan(s.pose.keypoints[5, 1, 3]).all() and np.isnan(s.pose.keypoints[65, 1, 3]).all()
    np.testing.assert_array_equal(
        s.pose.keypoints[60:120][~np.isnan(s.pose.keypoints[60:120])],
        seqs[ids[1]]["keypoints"][seqs[ids[1]]["keypoints"] != 0],
    )
    # lights is constant per sequence -> sequence label; chases varies -> frame label
    lights = s.sequence_labels["lights"]
    assert lights.kind == "discrete" and lights.values.tolist() == [0, 1, 0]
    assert lights.vocabulary == ["not_lights", "lights"]
    chases = s.frame_labels["chases"]
    assert chases.vocabulary == ["not_chases", "chases"]
    assert (chases.codes[:4] == -1).all() and (chases.codes[60:64] == -1).all()
    expected = seqs[ids[2]]["annotations"][1]
    np.testing.assert_array_equal(chases.codes[120:], np.where(np.isnan(expected), -1, expected))
    out = io.convert(path, tmp_path / "mice.h5")
    h.assert_valid(out)


def test_mouse_test_file_without_labels_and_subset(tmp_path):
    path, seqs = _mouse_file(tmp_path / "mouse_triplet_test.npy", n_seq=4, with_labels=False)
    s = io.load(path, sequences=2)
    assert s.trial_names == list(seqs)[:2] and s.pose.keypoints.shape == (120, 3, 12, 2)
    assert not s.frame_labels and not s.sequence_labels
    s = io.load(path, sequences=[list(seqs)[3]])
    assert s.trial_names == [list(seqs)[3]]
    with pytest.raises(FormatError, match="no sequence 'nope'"):
        io.load(path, sequences=["nope"])


def test_flies_with_nan_padding(tmp_path):
    rng = np.random.default_rng(1)
    vocab = [f"kp{i}_name" for i in range(24)]
    seqs = {}
    for s, n_flies in enumerate((9, 10)):
        kp = rng.normal(size=(45, 11, 24, 2)).astype(np.float32) * 10
        kp[:, n_flies:] = np.nan  # padding to 11 flies
        seqs[f"fly{s:017d}"] = {
            "keypoints": kp,
            "annotations": np.stack(
                [np.full(45, np.nan), rng.integers(0, 2, 45).astype(float), np.full(45, 1.0)]
            ).astype(np.float32),
        }
    path = tmp_path / "fly_group_train.npy"
    np.save(
        path,
        {"keypoint_vocabulary": vocab, "vocabulary": ["female", "perframe_chase", "control"], "sequences": seqs},
        allow_pickle=True,
    )
    s = io.load(path)
    assert s.fps == 150 and s.species == "fly" and s.pose.units == "mm"
    assert s.pose.keypoint_names == vocab
    assert s.pose.keypoints.shape == (90, 10, 24, 2)  # slot 10 is padding everywhere: dropped
    assert s.attrs["dropped_padding_animals"] == ["fly10"]
    assert np.isnan(s.pose.keypoints[:45, 9]).all() and np.isfinite(s.pose.keypoints[45:, 9]).all()
    assert "perframe_chase" in s.frame_labels
    assert s.sequence_labels["control"].values.tolist() == [1, 1]
    assert s.sequence_labels["female"].values.tolist() == [-1, -1]  # never labelled
    keep = io.load(path, drop_padding=False)
    assert keep.pose.keypoints.shape[1] == 11


def _calms21(path, T=(30, 20)):
    rng = np.random.default_rng(2)
    data = {}
    for g, ann_id in (("annotator-id_0", 0), ("annotator-id_1", 1)):
        data[g] = {}
        for k, n in enumerate(T):
            name = f"task1/train/mouse{k:03d}_{g}"
            kp = rng.uniform(0, 1000, size=(n, 2, 2, 7))
            vocab = (
                {"attack": 0, "investigation": 1, "mount": 2, "other": 3}
                if ann_id == 0
                else {"other": 0, "approach": 1}
            )
            data[g][name] = {
                "keypoints": kp.tolist(),
                "scores": rng.uniform(size=(n, 2, 7)).tolist(),
                "annotations": rng.integers(0, len(vocab), n).tolist(),
                "metadata": {"annotator-id": ann_id, "vocab": vocab},
            }
    path.write_text(json.dumps(data))
    return path, data


def test_calms21_json(tmp_path, h):
    path, data = _calms21(tmp_path / "calms21_task1_train.json")
    assert io.infer_source(path) == "calms21"
    s = io.load(path)
    assert s.pose.keypoints.shape == (100, 2, 7, 2)
    assert s.pose.animal_names == ["resident", "intruder"]
    assert s.pose.keypoint_names == ["nose", "left_ear", "right_ear", "neck", "left_hip", "right_hip", "tail"]
    first = data["annotator-id_0"]["task1/train/mouse000_annotator-id_0"]
    kp = np.asarray(first["keypoints"])
    # (T, mouse, xy, keypoint) -> (T, mouse, keypoint, xy)
    assert s.pose.keypoints[3, 1, 5].tolist() == pytest.approx([kp[3, 1, 0, 5], kp[3, 1, 1, 5]])
    assert s.pose.confidence[3, 1, 5] == pytest.approx(first["scores"][3][1][5])
    assert s.trial_names[0] == "task1/train/mouse000_annotator-id_0" and len(s.trial_names) == 4
    lab = s.frame_labels["behavior"]
    assert lab.vocabulary == ["attack", "investigation", "mount", "other", "approach"]
    second_group = data["annotator-id_1"]["task1/train/mouse000_annotator-id_1"]["annotations"]
    mapped = [["other", "approach"][c] for c in second_group]
    assert [lab.vocabulary[c] for c in lab.codes[50:80]] == mapped
    assert s.sequence_labels["annotator"].values.tolist() == [0, 0, 1, 1]
    assert s.fps == 30
    only = io.load(path, annotator="annotator-id_1")
    assert only.n_frames == 50
    h.assert_valid(io.convert(path, tmp_path / "calms.h5"))


def test_aicrowd_mabe2021_npy(tmp_path):
    rng = np.random.default_rng(3)
    seqs = {
        f"{i:05d}abc": {
            "keypoints": rng.uniform(1, 1000, size=(25, 2, 2, 7)),
            "annotations": rng.integers(0, 4, 25),
            "annotator_id": i % 2,
        }
        for i in range(3)
    }
    path = tmp_path / "task1_train_data.npy"
    np.save(
        path,
        {"vocabulary": {"attack": 0, "investigation": 1, "mount": 2, "other": 3}, "sequences": seqs},
        allow_pickle=True,
    )
    s = io.load(path)
    assert s.pose.keypoints.shape == (75, 2, 7, 2) and s.pose.animal_names == ["resident", "intruder"]
    assert s.frame_labels["behavior"].vocabulary == ["attack", "investigation", "mount", "other"]
    np.testing.assert_array_equal(s.frame_labels["behavior"].codes[25:50], seqs["00001abc"]["annotations"])
    assert s.sequence_labels["annotator"].values.tolist() == [0, 1, 0]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # would create the marker file when unpickled


def test_pickle_that_runs_code_is_refused(tmp_path, h):
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.npy"
    np.save(
        path, {"sequences": {"a": {"keypoints": np.zeros((2, 3, 12, 2))}}, "x": _Evil(str(marker))}, allow_pickle=True
    )
    assert io.infer_source(path) == "mabe"
    with pytest.raises(FormatError) as exc:
        io.load(path)
    msg = h.one_line(exc.value)
    assert "refusing" in msg and "open" in msg
    assert not marker.exists()
    out = tmp_path / "out.h5"
    assert h.run_cli("convert", path, out) == 2
    assert not marker.exists() and not out.exists() and h.leftovers(tmp_path) == []


def test_pickle_with_os_system_is_refused(tmp_path):
    marker = tmp_path / "ran.txt"
    payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    path = tmp_path / "evil2.npy"
    header = np.lib.format.header_data_from_array_1_0(np.empty((), dtype=object))
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(payload)
    with pytest.raises(FormatError, match="refusing"):
        io.load(path, source="mabe")
    assert not marker.exists()
    from behavenet.io._pickle import safe_loads

    with pytest.raises(FormatError, match="refusing"):
        safe_loads(pickle.dumps(_Evil(str(marker))))
    assert not marker.exists()


def test_bad_mabe_files(tmp_path, h):
    path, _ = _mouse_file(tmp_path / "m.npy")
    cut = tmp_path / "cut.npy"
    cut.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(FormatError) as exc:
        io.load(cut)
    assert "cut.npy" in h.one_line(exc.value)
    other = tmp_path / "other.npy"
    np.save(other, {"frame_number_map": {}}, allow_pickle=True)
    with pytest.raises(FormatError, match="'sequences'"):
        io.load(other)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"annotator-id_0": {"seq": {"keypoints": [[[1, 2')
    with pytest.raises(FormatError, match="not valid JSON"):
        io.load(bad_json, source="calms21")
    ragged = tmp_path / "ragged.npy"
    np.save(
        ragged,
        {
            "sequences": {
                "a": {"keypoints": np.zeros((5, 3, 12, 2)) + 1},
                "b": {"keypoints": np.zeros((5, 2, 12, 2)) + 1},
            }
        },
        allow_pickle=True,
    )
    with pytest.raises(FormatError, match="different"):
        io.load(ragged)


def test_npy_format_version_3_is_read(tmp_path, h):
    """np.save writes version 3.0 headers for utf-8 field names; the importer reads them too."""
    path, seqs = _mouse_file(tmp_path / "v1.npy")
    data = np.load(path, allow_pickle=True)
    v3 = tmp_path / "mouse_v3.npy"
    with open(v3, "wb") as f:
        np.lib.format.write_array(f, data, version=(3, 0), allow_pickle=True)
    assert open(v3, "rb").read(8)[6:8] == b"\x03\x00"
    assert io.infer_source(v3) == "mabe"
    s = io.load(v3)
    assert s.trial_names == list(seqs) and s.pose.keypoints.shape == (180, 3, 12, 2)
