"""SLEAP tracks broken into fragments (issue 13, stumble 10): `--max-animals N` packs them into N
animals, and `convert` says how many tracks there were."""

from __future__ import annotations

import numpy as np
import pytest

from behavenet import io
from behavenet.errors import ConfigError

from .conftest import DATA, run_cli

sio = pytest.importorskip("sleap_io")

CLIP = DATA / "sleap-flies-clip/clip.slp"


@pytest.fixture(scope="module")
def fragmented(tmp_path_factory):
    """The real two-fly clip (1,500 frames, proofread identities) with each fly's track broken
    into fragments, as a tracker that loses identities leaves them: 14 + 13 = 27 tracks, and each
    fly undetected for 3 frames where its track breaks. Returns (path, original fly per frame
    and fragment)."""
    if not CLIP.exists():
        pytest.skip("data/sleap-flies-clip is not in this checkout")
    labels = sio.load_slp(str(CLIP), open_videos=False)
    female, male = labels.tracks
    cuts = {
        id(female): [0, 60, 170, 240, 390, 455, 600, 700, 810, 925, 1010, 1150, 1260, 1390, 1500],
        id(male): [0, 110, 200, 330, 420, 530, 650, 760, 880, 990, 1100, 1230, 1340, 1500],
    }
    new_tracks, fly_of = [], {}
    pieces = {}
    for track in (female, male):
        edges = cuts[id(track)]
        pieces[id(track)] = []
        for a, b in zip(edges[:-1], edges[1:]):
            t = sio.Track(name=f"track_{len(new_tracks)}")
            new_tracks.append(t)
            fly_of[t.name] = track.name
            pieces[id(track)].append((a, b, t))
    for lf in labels.labeled_frames:
        keep = []
        for inst in lf.instances:
            for a, b, t in pieces[id(inst.track)]:
                if a <= lf.frame_idx < b:
                    if a > 0 and lf.frame_idx < a + 3:
                        break  # lost for 3 frames where the identity broke
                    inst.track = t
                    keep.append(inst)
                    break
        lf.instances = keep
    labels.tracks = new_tracks
    out = tmp_path_factory.mktemp("fragments") / "clip_fragments.slp"
    sio.save_slp(labels, str(out))
    return out, fly_of


def test_fragments_become_one_animal_each_without_packing(fragmented, capsys, tmp_path):
    path, _ = fragmented
    assert run_cli("convert", path, tmp_path / "s.h5", "--fps", "25") == 0
    out = capsys.readouterr().out.strip()
    assert out == (
        f"wrote {tmp_path / 's.h5'}: 1500 frames @ 25 fps, pose 27 animal(s) x 13 keypoints (27 SLEAP tracks, "
        "each in 7% of frames on average: fragments of broken identities? --max-animals N packs them)"
    )
    kp = io.load(tmp_path / "s.h5").pose.keypoints
    assert np.isnan(kp).all(axis=(2, 3)).mean() > 0.9


def test_max_animals_packs_fragments_into_the_two_flies(fragmented, capsys, tmp_path):
    path, fly_of = fragmented
    assert run_cli("convert", path, tmp_path / "s.h5", "--fps", "25", "--max-animals", "2") == 0
    out = capsys.readouterr().out.strip()
    assert out == (
        f"wrote {tmp_path / 's.h5'}: 1500 frames @ 25 fps, pose 2 animal(s) x 13 keypoints "
        "(27 SLEAP tracks packed into 2 animals)"
    )
    packed = io.load(tmp_path / "s.h5").pose
    assert packed.animal_names == ["animal0", "animal1"]
    present = np.isfinite(packed.keypoints).any(axis=(2, 3))
    assert present.sum() == 3000 - 3 * (13 + 12)  # every instance kept
    # each slot holds one fly throughout: compare with the proofread file
    truth = sio.load_slp(str(CLIP), open_videos=False)
    true_kp = truth.numpy()  # (frames, 2 tracks, 13 nodes, 2)
    rows = present[:, 0]
    match = [np.allclose(packed.keypoints[rows, 0], true_kp[rows, k], equal_nan=True) for k in (0, 1)]
    assert sum(match) == 1
    other = 1 - match.index(True)
    rows = present[:, 1]
    assert np.allclose(packed.keypoints[rows, 1], true_kp[rows, other], equal_nan=True)


def test_max_animals_drops_what_does_not_fit(fragmented, caplog):
    path, _ = fragmented
    s = io.load(path, fps=25, max_animals=1)
    assert s.pose.animal_names == ["animal0"] and s.attrs["sleap_packed_into"] == 1
    assert s.attrs["sleap_tracks"] == 27 and s.attrs["sleap_dropped_instances"] > 1000
    assert any("were dropped (max_animals=1)" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConfigError, match="max_animals: expected an integer >= 1, got 0"):
        io.load(path, fps=25, max_animals=0)


def test_proofread_file_reports_its_tracks(capsys, tmp_path):
    if not CLIP.exists():
        pytest.skip("data/sleap-flies-clip is not in this checkout")
    assert run_cli("convert", CLIP, tmp_path / "s.h5", "--max-animals", "2") == 0
    assert "pose 2 animal(s) x 13 keypoints (2 SLEAP tracks)," in capsys.readouterr().out


def test_analysis_file_fragments_are_packed_too(fragmented, tmp_path):
    import h5py

    path, _ = fragmented
    arr = sio.load_slp(str(path), open_videos=False).numpy()  # (1500, 27, 13, 2)
    assert arr.shape == (1500, 27, 13, 2)
    h5 = tmp_path / "fragments.analysis.h5"
    with h5py.File(h5, "w") as f:
        f["tracks"] = arr.transpose(1, 3, 2, 0)  # (tracks, xy, nodes, frames)
        f["node_names"] = np.array(
            [n.encode() for n in sio.load_slp(str(CLIP), open_videos=False).skeletons[0].node_names]
        )
    s = io.load(h5, fps=25, max_animals=2)
    assert s.pose.animal_names == ["animal0", "animal1"] and s.attrs["sleap_tracks"] == 27
    assert s.attrs["sleap_dropped_instances"] == 0
    assert np.isfinite(s.pose.keypoints).any(axis=(2, 3)).sum() == 3000 - 3 * (13 + 12)
