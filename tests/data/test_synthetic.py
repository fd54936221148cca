"""Synthetic generators: shapes, seeding and the known ground truth they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from behavenet.data.format import validate_file
from behavenet.data.synthetic import SyntheticDataModule, multimodal, place_cells, social


def test_place_cells_seeded_and_tuned():
    a, b, c = (
        place_cells(seed=1, n_frames=3000, n_neurons=30),
        place_cells(seed=1, n_frames=3000, n_neurons=30),
        place_cells(seed=2, n_frames=3000, n_neurons=30),
    )
    np.testing.assert_array_equal(a.spikes.counts, b.spikes.counts)
    assert not np.array_equal(a.spikes.counts, c.spikes.counts)
    z = a.behavior.values
    assert z.shape == (3000, 2) and z.min() >= -1 and z.max() <= 1
    # spikes carry the latent: a linear readout of smoothed counts explains much of it
    from scipy.ndimage import gaussian_filter1d
    from sklearn.linear_model import LinearRegression

    x = gaussian_filter1d(a.spikes.counts.astype(float), 5, axis=0)
    feats = np.c_[x, x**2]
    assert LinearRegression().fit(feats, z).score(feats, z) > 0.5


def test_multimodal_images_follow_shared_latent():
    s = multimodal(seed=0, n_trials=6, trial_length=30, n_neurons=20, image_size=24)
    assert s.video.frames.shape == (180, 24, 24, 1) and s.video.frames.dtype == np.uint8
    assert s.trials.shape == (6, 2)
    angle = s.behavior.values[:, 3]
    np.testing.assert_allclose(angle, 120 * s.behavior.values[:, 0], rtol=1e-5)
    # identical latents give identical images; rotation changes the image
    f = s.video.frames[..., 0].astype(float)
    i, j = np.argmin(angle), np.argmax(angle)
    assert np.abs(f[i] - f[j]).mean() > 5


def test_social_labels_match_geometry():
    s = social(seed=0, n_sequences=4, sequence_length=200, n_animals=3)
    kp = s.pose.keypoints
    assert kp.shape == (800, 3, 7, 2)
    centre = kp.mean(axis=2)
    d = np.linalg.norm(centre[:, 0] - centre[:, 1], axis=1)
    contact = s.frame_labels["contact"].codes
    assert 0.05 < contact.mean() < 0.6
    # labels use body positions; keypoint centroids sit within 0.7 of them
    assert (d[contact == 1] < 5.0 + 0.7).all() and d[contact == 0].min() >= 5.0 - 0.7
    approach = s.frame_labels["approach"].codes
    assert 0.05 < approach.mean() < 0.6
    assert s.sequence_labels["condition"].values.shape == (4,)
    cond = s.sequence_labels["condition"].values
    speed = np.linalg.norm(np.diff(centre[:, 0], axis=0), axis=1)
    per_seq = [speed[k * 200 : (k + 1) * 200 - 1].mean() for k in range(4)]
    assert set(cond) == {0, 1}  # seed 0 has both conditions
    assert np.mean([p for p, c in zip(per_seq, cond) if c == 1]) > np.mean([p for p, c in zip(per_seq, cond) if c == 0])


def test_synthetic_datamodule_generates_once(tmp_path):
    dm = SyntheticDataModule(
        "social",
        generator={"n_sequences": 10, "sequence_length": 60, "seed": 0},
        cache_dir=str(tmp_path),
        input="pose",
        labels=["contact", "condition", "day"],
        splits="4;1;1;1",
    )
    dm.setup()
    path = Path(dm.files[0])
    assert path.exists() and validate_file(path)["n_trials"] == 10
    mtime = path.stat().st_mtime
    dm2 = SyntheticDataModule(
        "social", generator={"n_sequences": 10, "sequence_length": 60, "seed": 0}, cache_dir=str(tmp_path), input="pose"
    )
    dm2.setup()
    assert path.stat().st_mtime == mtime
    assert dm.spec["labels"]["day"]["kind"] == "continuous"


def test_make_synthetic_script(tmp_path):
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "pc.h5"
    res = subprocess.run(
        [
            sys.executable,
            str(root / "scripts/make_synthetic.py"),
            "place_cells",
            str(out),
            "--set",
            "n_frames=500",
            "--set",
            "n_neurons=10",
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert validate_file(out)["n_frames"] == 500
    again = subprocess.run(
        [sys.executable, str(root / "scripts/make_synthetic.py"), "place_cells", str(out)],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert again.stderr.strip() == (
        f"make_synthetic.py: error: {out}: output file exists; pass overwrite=True (--overwrite) to replace it"
    )
