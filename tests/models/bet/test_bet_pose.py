"""BeT per animal under train.py (``model.pose_mode=per_animal``, ``model=bet_pose``): observations
and actions from :mod:`behavenet.models.bet.pose`, pooled embeddings of the configured width,
invariance to the animals' order, a whole run through ``behavenet.train.run``, seeds."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from behavenet.data.splits import SplitData
from behavenet.errors import ConfigError
from behavenet.models.bet import pose as pose_ops
from behavenet.models.registry import build_core

A, K = 3, 4
TINY = {"pose_mode": "per_animal", "action_input": "pose", "n_layer": 1, "n_head": 2, "n_embd": 16}
TINY |= {"window": 4, "batch_size": 16, "n_clusters": 4, "dropout": 0.0, "output_dim": 0}


def _pose(seed=0, n=90, animals=A):
    """Seeded keypoints ``(n, animals, K, 2)``: bodies walking with noise, some NaN keypoints, one
    animal missing for a stretch."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    centre = np.stack([np.cos(0.05 * t + np.arange(animals)), np.sin(0.07 * t + 2 * np.arange(animals))], -1) * 20
    body = rng.normal(size=(animals, K, 2)) * 3
    kp = centre[:, :, None, :] + body[None] + 0.3 * rng.normal(size=(n, animals, K, 2))
    kp[rng.random((n, animals, K)) < 0.05] = np.nan
    kp[30:40, 1] = np.nan  # animal 1 missing
    return kp.astype(np.float32)


def _spec(animals=A, heading=None):
    layout = {"animals": animals, "keypoints": K, "dims": 2, "keypoint_names": ["nose", "neck", "hip", "tail"]}
    layout["heading"] = heading
    return {"inputs": {"pose": {"shapes": [[animals * (K * 2 + 4)]]}}, "pose_layout": layout}


def _split(kp, segments=((0, 50), (50, 90)), sid="s0"):
    feats = np.zeros((len(kp), 7), np.float32)  # the data module's pose features: not read per animal
    return SplitData(session_id=sid, inputs={"pose": feats}, segments=np.asarray(segments), keypoints=kp)


def _core(seed=0, **kw):
    torch.manual_seed(seed)
    return build_core("bet", {**TINY, **kw}, _spec())


def test_observations_and_actions_are_pose_modules_per_animal_and_trial():
    kp = _pose()
    core = _core()
    split = _split(kp)
    core.fit_data([split])
    heading = pose_ops.default_heading(K)
    assert core.heading == heading
    scale = pose_ops.pose_scale([kp], heading)
    assert float(core.pose_scale) == pytest.approx(scale, rel=1e-6)
    stream = core.make_dataset([split], "train", seed=0)
    # one sequence per (trial, animal), in that order, each from pose.py on the trial alone
    offset = 0
    for a, b in split.segments:
        obs = pose_ops.pose_observations(kp[a:b], heading, scale)
        act = pose_ops.pose_actions(kp[a:b], heading, scale)
        for i in range(A):
            n = b - a
            np.testing.assert_allclose(stream.obs[offset : offset + n].numpy(), obs[:, i], rtol=1e-6, atol=1e-6)
            valid = np.isfinite(act[:, i]).all(1)
            np.testing.assert_array_equal(stream.valid[offset : offset + n].numpy(), valid)
            got = stream.actions[offset : offset + n].numpy()
            np.testing.assert_allclose(got[valid], act[:, i][valid], rtol=1e-6, atol=1e-6)
            assert not valid[-1]  # the last frame of a trial has no next frame
            offset += n
    assert len(stream.obs) == offset == A * len(kp)
    assert core.obs_dim == K * 2 + 2 + 4 * (A - 1) and core.act_dim == K * 2
    # the k-means saw the valid actions of every animal
    batch = stream.batch(0)
    assert batch["obs"].shape == (16, 4, core.obs_dim) and batch["actions"].shape == (16, 4, K * 2)
    # windows without any valid action (animal 1 missing) are not drawn
    assert all(bool(stream.valid[s : s + 4].any()) for s in stream.starts.tolist())


@pytest.mark.parametrize("width, want", [(128, 32), (8, 8)])
def test_embeddings_have_the_configured_width_and_one_row_per_frame(width, want):
    kp = _pose()
    core = _core(embedding_width=width)
    split = _split(kp)
    core.fit_data([split])
    assert core.embedding_dim == want
    if want < 32:
        with pytest.raises(RuntimeError, match="fit_after_training"):
            core.embed_split(split)
    core.fit_after_training([split])
    z = core.embed_split(split)
    assert z.shape == (len(kp), want) and np.isfinite(z).all()
    # embed() of a trial's keypoints gives that trial's rows; pose features are refused in one line
    np.testing.assert_allclose(core.embed({"pose": kp[50:90]}).numpy(), z[50:90], rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match=r"expected keypoints \(frames, 3, 4, 2\), got shape \(40, 7\)"):
        core.embed(split.inputs["pose"][50:90])
    if want < 32:  # PCA of the training frames: centred, decreasing variance
        assert abs(z.mean(0)).max() < 1e-3 * abs(z).max()
        var = z.var(0)
        assert (np.diff(var) <= 1e-6 * var[0]).all()


def test_pooling_is_invariant_to_the_order_of_the_animals():
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(20, 4, 6)).astype(np.float32)
    present = rng.random((20, 4)) > 0.3
    pooled = pose_ops.pool_animals(hidden, present)
    for perm in ([1, 0, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        np.testing.assert_allclose(
            pose_ops.pool_animals(hidden[:, perm], present[:, perm]), pooled, rtol=1e-6, atol=1e-6
        )
    # absent animals do not count: the mean of frame 0 over the present ones only
    p0 = present[0]
    np.testing.assert_allclose(pooled[0, :6], hidden[0, p0].mean(0), rtol=1e-5)
    np.testing.assert_allclose(pooled[0, 6:], hidden[0, p0].max(0) - hidden[0, p0].min(0), rtol=1e-5)
    # the whole model: relabelling the animals leaves the embedding unchanged
    kp = _pose()
    core = _core(embedding_width=8)
    split = _split(kp)
    core.fit_data([split])
    core.fit_after_training([split])
    z = core.embed_keypoints(kp)
    for perm in ([1, 2, 0], [2, 1, 0], [0, 2, 1]):
        np.testing.assert_allclose(core.embed_keypoints(kp[:, perm]), z, rtol=1e-4, atol=1e-5)


def test_per_animal_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"model\.pose_mode.*not a pose input"):
        build_core("bet", {**TINY, "action_input": "behavior"}, {"inputs": {"behavior": {"shapes": [[2]]}}})
    with pytest.raises(ConfigError, match=r"model\.pose_mode: expected one of joint, per_animal"):
        build_core("bet", {**TINY, "pose_mode": "animals"}, _spec())
    with pytest.raises(ConfigError, match=r"model\.heading"):
        build_core("bet", {**TINY, "heading": ["nose", "paw"]}, _spec())
    with pytest.raises(ConfigError, match=r"model\.goal_input"):
        build_core("bet", {**TINY, "goal_input": "pose"}, _spec())
    core = build_core("bet", {**TINY, "heading": ["tail", "nose"]}, _spec())
    assert core.heading == (3, 0)
    assert build_core("bet", TINY, _spec(heading=[2, 1])).heading == (2, 1)  # the data's heading
    split = SplitData(session_id="s9", inputs={"pose": np.zeros((20, 7), np.float32)})
    with pytest.raises(ConfigError, match="session 's9' carries no keypoints"):
        core.fit_data([split])


def test_train_py_run_writes_pooled_embeddings_and_seeds_reproduce(make_cfg, tmp_path):
    from behavenet.train import run

    fast = ["trainer.enable_progress_bar=false", "logger=none", "trainer.max_steps=6", "trainer.limit_val_batches=1"]
    fast += ["trainer.limit_test_batches=1", "eval=none", "figures=false"]
    data = ["data=synthetic_social", "data.generator.n_sequences=6", "data.generator.sequence_length=60"]
    data += [f"data.cache_dir={tmp_path / 'cache'}", "data.splits='4;1;1;0'"]
    model = ["model=bet_pose", "model.n_layer=1", "model.n_embd=16", "model.n_head=2", "model.window=4"]
    model += ["model.n_clusters=4", "model.batch_size=16", "model.embedding_width=12"]
    outs = []
    # "b" takes the large-session path (features in a temporary file, keypoints kept in memory)
    for name, extra in (("a", []), ("b", ["data.on_disk_threshold_mb=0"])):
        metrics = run(make_cfg([*data, *model, *fast, *extra], tmp_path / name))
        assert metrics["embedding_dim"] == 12
        with h5py.File(tmp_path / name / "embeddings.h5") as f:
            (sid,) = list(f["sessions"])
            z = f["sessions"][sid]["embedding"][:]
        assert z.shape == (6 * 60, 12) and np.isfinite(z).all()
        outs.append(z)
    np.testing.assert_array_equal(outs[0], outs[1])  # the same seed: bit-identical, in memory or on disk
    # the run directory embeds its session file again (the pretrained path keeps the keypoints)
    import behavenet

    (session_file,) = sorted((tmp_path / "cache").rglob("*.h5"))
    again = behavenet.load_pretrained(tmp_path / "a").embed(session_file)
    np.testing.assert_allclose(again.embedding, outs[0], rtol=1e-5, atol=1e-5)
    other = run(make_cfg([*data, *model, *fast, "seed=1"], tmp_path / "c"))
    with h5py.File(tmp_path / "c" / "embeddings.h5") as f:
        z1 = f["sessions"][list(f["sessions"])[0]]["embedding"][:]
    assert other["embedding_dim"] == 12 and not np.allclose(z1, outs[0])


def test_per_animal_rollouts_start_from_the_real_poses_and_write_the_figure(tmp_path):
    from behavenet.models.bet.figures import rollout_pose

    kp = _pose()
    core = _core()
    split = _split(kp)
    core.fit_data([split])
    gen = torch.Generator().manual_seed(0)
    future = rollout_pose(core, kp[:50], 3, 5, 2, core.heading, float(core.pose_scale), generator=gen)
    assert future.shape == (2, 6, A, K, 2)
    np.testing.assert_array_equal(future[:, 0], np.repeat(kp[3][None], 2, 0))
    assert np.isfinite(future[:, 1:, 0]).all() and not np.allclose(future[0, 1:], kp[4:9], equal_nan=True)
    (path,) = core.write_figures([split], tmp_path)
    assert path.name == "rollouts.png" and path.stat().st_size > 0
