from __future__ import annotations

import numpy as np
import pytest
import torch

from behavenet.data.transforms import PoseAugment, ZScore, egocentric, pose_features


def test_zscore_uses_fit_statistics():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    z = ZScore.fit(x[:5])
    out = z(x)
    np.testing.assert_allclose(out[:5].mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(z.inverse(out), x, atol=1e-5)
    const = ZScore.fit(np.ones((4, 1)))
    assert const.std[0] == 1.0


def test_egocentric_rotates_heading_onto_x():
    # animal facing +y: tail at (0,0), nose at (0,2); after alignment nose is on +x
    kp = np.array([[[[0, 0], [0, 2], [1, 1]]]], dtype=np.float32)  # (1, 1, 3, 2)
    ego, origin, angle = egocentric(kp, center=0, heading=(0, 1))
    np.testing.assert_allclose(origin[0, 0], [0, 0])
    np.testing.assert_allclose(angle[0, 0], np.pi / 2, atol=1e-6)
    np.testing.assert_allclose(ego[0, 0, 1], [2, 0], atol=1e-6)
    np.testing.assert_allclose(ego[0, 0, 2], [1, -1], atol=1e-6)


def test_egocentric_is_invariant_to_global_rotation_and_shift():
    rng = np.random.default_rng(0)
    kp = rng.normal(size=(5, 2, 4, 2)).astype(np.float32)
    th = 0.7
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]], np.float32)
    moved = kp @ rot.T + np.array([3.0, -2.0], np.float32)
    a = egocentric(kp, "centroid", (0, 1))[0]
    b = egocentric(moved, "centroid", (0, 1))[0]
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_pose_features_layout_and_nan_fill():
    kp = np.zeros((3, 2, 4, 2), np.float32)
    kp[1, 0, 2] = np.nan
    f = pose_features(kp, heading=None)
    assert f.shape == (3, 2 * (4 * 2 + 2 + 2))
    assert np.isfinite(f).all()
    flat = pose_features(kp, egocentric_frame=False)
    assert flat.shape == (3, 16)


def test_pose_augment_reflection_and_rotation_are_seeded():
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]).repeat(4, 1, 1)
    aug = PoseAugment(rotation=np.pi, reflection=0.5)
    a = aug(x, torch.Generator().manual_seed(0))
    b = aug(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    # distances are preserved by rotation/reflection
    torch.testing.assert_close(torch.linalg.norm(a, dim=-1), torch.linalg.norm(x, dim=-1))
    flip = PoseAugment(reflection=1.0)(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(flip[..., 0], -x[..., 0])


def test_pairwise_distances_appended():
    from behavenet.data.transforms import pairwise_distances

    kp = np.zeros((2, 3, 1, 2), np.float32)
    kp[:, 1, 0] = [3.0, 4.0]
    kp[:, 2, 0] = [0.0, 1.0]
    d = pairwise_distances(kp)
    np.testing.assert_allclose(d[0], [5.0, 1.0, np.sqrt(9 + 9)], rtol=1e-6)
    f = pose_features(kp, pairwise=True)
    assert f.shape == (2, 3 * (2 + 2 + 2) + 3)
    np.testing.assert_allclose(f[:, -3:], d)


def test_pose_features_of_a_real_multi_animal_file_warn_nothing(tmp_path):
    """Issue 13, stumble 8: a multi-animal DeepLabCut table (animals missing in some frames) gave a
    "Mean of empty slice" RuntimeWarning from the centroid and the z-scoring on every run."""
    import warnings
    from pathlib import Path

    from behavenet import io
    from behavenet.data import PoseDataModule

    src = Path(__file__).resolve().parents[2] / "data/deepof-dlc-sleap-tables/testDLC_h5_table_madlc.h5"
    if not src.exists():
        pytest.skip("data/deepof-dlc-sleap-tables is not in this checkout")
    session = io.convert(str(src), str(tmp_path / "madlc.h5"), fps=30)
    dm = PoseDataModule(files=str(session), splits="3;1;1;0")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        dm.setup()
    feats = dm.full_data[0].inputs["pose"]
    assert feats.shape == (100, 2 * (14 * 2 + 4) + 1)
    assert np.isfinite(feats).all()  # missing keypoints are filled in the features
    kp = np.asarray(dm.readers[0].read("pose"))
    assert np.isnan(kp).all(axis=(2, 3)).any()  # some frames miss an animal entirely
