"""The Behavior Transformer: losses with known values, the tokenizer, sampling, pose actions,
seeds, save/load, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from behavenet import BehaviorTransformer
from behavenet.errors import ConfigError
from behavenet.models.bet import pose as pose_ops
from behavenet.models.bet.losses import focal_loss, nearest_bin, offset_loss
from behavenet.models.estimator import EstimatorInputError
from behavenet.models.registry import build_core

TINY = dict(n_layer=1, n_head=2, n_embd=16, window=4, batch_size=32, dropout=0.0, seed=0)


# ------------------------------------------------------------------ losses


def test_focal_loss_hand_computed():
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(4.0), 0.0]])  # p = (1/4, 3/4), (4/5, 1/5)
    target = torch.tensor([1, 0])
    p = torch.tensor([0.75, 0.8])
    want = (-((1 - p) ** 2) * torch.log(p)).mean()
    assert torch.allclose(focal_loss(logits, target, 2.0), want)
    # gamma 0 is the cross-entropy
    assert torch.allclose(focal_loss(logits, target, 0.0), torch.nn.functional.cross_entropy(logits, target))
    # a mask keeps positions out: only the first counts
    got = focal_loss(logits, target, 2.0, mask=torch.tensor([True, False]))
    assert torch.allclose(got, -(0.25**2) * torch.log(torch.tensor(0.75)))


def test_offset_loss_uses_the_true_bin_only():
    offsets = torch.tensor([[[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]]])  # (1, K=3, A=2)
    residual = torch.tensor([[11.0, 18.0]])
    # bin 1: errors (10 - 11)^2 = 1 and (20 - 18)^2 = 4 -> mean 2.5; bins 0 and 2 never enter
    assert offset_loss(offsets, torch.tensor([1]), residual).item() == pytest.approx(2.5)
    offsets.requires_grad_(True)
    offset_loss(offsets, torch.tensor([1]), residual).backward()
    assert offsets.grad[0, 0].abs().sum() == 0 and offsets.grad[0, 2].abs().sum() == 0
    assert offsets.grad[0, 1].abs().sum() > 0
    masked = offset_loss(offsets.detach(), torch.tensor([1]), residual, mask=torch.tensor([False]))
    assert masked.item() == 0.0


def test_nearest_bin():
    centers = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]])
    acts = torch.tensor([[0.1, -0.1], [0.9, 1.2], [-0.8, 1.7]])
    assert nearest_bin(acts, centers).tolist() == [0, 1, 2]


# ------------------------------------------------------------------ a toy with known modes


def _two_mode_toy(seed=0, n=64, t=12):
    """Observation noise only; the action is +1 or -1 (each half the time) plus small noise."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(0, 0.1, size=(n, t, 2)).astype(np.float32)
    sign = np.where(rng.random((n, t, 1)) < 0.5, -1.0, 1.0)
    acts = (sign * np.array([1.0, 0.5]) + rng.normal(0, 0.01, size=(n, t, 2))).astype(np.float32)
    return obs, acts


@pytest.fixture(scope="module")
def toy_model():
    torch.set_num_threads(1)
    obs, acts = _two_mode_toy()
    bet = BehaviorTransformer(
        n_clusters=2, max_iterations=250, learning_rate=3e-3, lr_schedule="constant", warmup_steps=0, **TINY
    )
    return bet.fit(obs, acts), obs, acts


def test_sampling_reproduces_a_two_mode_distribution(toy_model):
    bet, obs, _ = toy_model
    centers = np.sort(bet.cluster_centers_[:, 0])
    assert centers == pytest.approx([-1.0, 1.0], abs=0.05)  # the k-means bins are the two modes
    samples = bet.sample(obs[:8], n_samples=200, seed=1)
    assert samples.shape == (200, 8, 12, 2)
    share = (samples[..., 0] > 0).mean()
    assert 0.4 < share < 0.6  # both modes, about half each, not their average
    assert np.abs(np.abs(samples[..., 0]) - 1.0).max() < 0.2  # nothing drawn near the mean 0
    probs = bet.bin_probabilities(obs[:4])
    assert probs.shape == (4, 12, 2) and np.allclose(probs.sum(-1), 1, atol=1e-5)
    assert np.all((probs > 0.3) & (probs < 0.7))
    # temperature -> 0 takes the most likely bin (one mode per frame)
    cold = bet.sample(obs[:1], n_samples=50, temperature=1e-4, seed=2)  # (50, 1, 12, 2)
    p1 = bet.bin_probabilities(obs[:1])[0]  # (12, 2)
    best = bet.cluster_centers_[p1.argmax(-1), 0]
    clear = np.abs(p1[:, 0] - p1[:, 1]) > 0.01
    assert clear.any()
    assert np.all(np.sign(cold[:, 0, clear, 0]) == np.sign(best[clear]))


def test_sample_next_and_shapes(toy_model):
    bet, obs, _ = toy_model
    nxt = bet.sample_next(obs[:5, :7], n_samples=3)
    assert nxt.shape == (3, 5, 2)
    assert bet.transform(obs).shape == (64, 12, 16)
    assert bet.transform(obs[0]).shape == (12, 16)
    ragged = bet.sample([obs[0], obs[1, :5]], n_samples=2)
    assert [r.shape for r in ragged] == [(2, 12, 2), (2, 5, 2)]


def test_centres_survive_save_and_load(toy_model, tmp_path):
    bet, obs, _ = toy_model
    bet.save(tmp_path / "bet.pt")
    again = BehaviorTransformer.load(tmp_path / "bet.pt")
    np.testing.assert_array_equal(again.cluster_centers_, bet.cluster_centers_)
    assert np.abs(again.cluster_centers_).sum() > 0
    np.testing.assert_array_equal(again.transform(obs[:3]), bet.transform(obs[:3]))
    np.testing.assert_array_equal(again.sample(obs[:3], 4, seed=5), bet.sample(obs[:3], 4, seed=5))
    state = torch.load(tmp_path / "bet.pt", weights_only=True)
    assert "tokenizer.centers" in state["state_dict"]


def test_seeds_reproduce():
    obs, acts = _two_mode_toy(n=16)
    kw = dict(TINY, dropout=0.1, n_clusters=3, max_iterations=6)
    a = BehaviorTransformer(**kw).fit(obs, acts)
    b = BehaviorTransformer(**kw).fit(obs, acts)
    np.testing.assert_array_equal(a.history_, b.history_)
    np.testing.assert_array_equal(a.transform(obs), b.transform(obs))
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    c = BehaviorTransformer(**dict(kw, seed=1)).fit(obs, acts)
    assert not np.array_equal(a.transform(obs), c.transform(obs))


def test_dropout_rate_scale_and_seed():
    from behavenet.models.bet.core import _dropout

    x = torch.ones(7, 13, 1001)  # an odd count: the last 64-bit word is only partly used
    torch.manual_seed(3)
    y = _dropout(x, 0.3)
    assert y.shape == x.shape and y.dtype == x.dtype
    kept = y != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    n, p = x.numel(), round(0.3 * 65536) / 65536  # the rate rounded to 1/65536
    assert abs((~kept).float().mean().item() - p) < 5 * math.sqrt(p * (1 - p) / n)
    torch.manual_seed(3)
    assert torch.equal(_dropout(x, 0.3), y)
    assert not torch.equal(_dropout(x, 0.3), y)  # a fresh draw
    assert _dropout(x, 0.3, training=False) is x and _dropout(x, 0.0) is x
    # every 16-bit lane of a 64-bit word is uniform (a sign bit stuck at 0 would keep a quarter)
    lanes = (_dropout(torch.ones(4 * 50_000), 0.5) == 0).float().view(-1, 4).mean(0)
    assert ((lanes - 0.5).abs() < 0.01).all(), lanes
    g = torch.ones(5, 6, requires_grad=True)
    torch.manual_seed(0)
    out = _dropout(g, 0.5)
    out.sum().backward()
    assert torch.equal(g.grad, out.detach())  # d(out)/dx is the scaled mask


def test_cpu_linear_matches_nn_linear():
    from behavenet.models.bet.core import _Linear

    torch.manual_seed(0)
    ours, ref = _Linear(7, 5), torch.nn.Linear(7, 5)
    ref.load_state_dict(ours.state_dict())  # the same parameters under the same keys
    x = torch.randn(3, 4, 7, requires_grad=True)
    y, y_ref = ours(x), ref(x)
    assert torch.allclose(y, y_ref, atol=1e-6)  # equal to the bit with MKL (checked), close with any BLAS
    w = torch.randn_like(y)
    (y * w).sum().backward()
    grads = [x.grad.clone(), ours.weight.grad, ours.bias.grad]
    x.grad = None
    (y_ref * w).sum().backward()
    for a, b in zip(grads, [x.grad, ref.weight.grad, ref.bias.grad]):
        assert torch.allclose(a, b, atol=1e-5)
    no_bias = _Linear(7, 5, bias=False)
    assert torch.equal(no_bias(x), x @ no_bias.weight.T)


def test_nan_actions_are_masked_and_lists_of_lengths():
    obs, acts = _two_mode_toy(n=10)
    acts[0, 3] = np.nan
    obs_list = [obs[i, : 6 + i] for i in range(10)]
    act_list = [acts[i, : 6 + i] for i in range(10)]
    bet = BehaviorTransformer(n_clusters=2, max_iterations=3, **TINY).fit(obs_list, act_list)
    assert np.isfinite(bet.history_).all() and np.isfinite(bet.cluster_centers_).all()


def test_goal_conditioning():
    rng = np.random.default_rng(0)
    goals = rng.choice([-1.0, 1.0], size=(40, 1)).astype(np.float32)
    obs = rng.normal(0, 0.1, size=(40, 10, 2)).astype(np.float32)
    acts = np.repeat(goals[:, None], 10, 1) + rng.normal(0, 0.01, size=(40, 10, 1)).astype(np.float32)
    bet = BehaviorTransformer(
        n_clusters=2, max_iterations=150, learning_rate=3e-3, lr_schedule="constant", warmup_steps=0, **TINY
    )
    bet.fit(obs, acts, goals=goals)
    s = bet.sample(obs[:6], n_samples=20, goals=goals[:6])
    assert np.all(np.sign(s[..., 0]).mean(axis=(0, 2)) == pytest.approx(goals[:6, 0], abs=0.2))
    with pytest.raises(EstimatorInputError, match="goals: the model was fitted with goals"):
        bet.sample(obs[:2])


# ------------------------------------------------------------------ pose


def test_pose_actions_invert_back_to_poses():
    rng = np.random.default_rng(0)
    pose = np.cumsum(rng.normal(size=(20, 3, 5, 2)), 0).astype(np.float32)
    heading = (4, 0)
    acts = pose_ops.pose_actions(pose, heading, scale=2.5)
    assert acts.shape == (20, 3, 10) and np.isnan(acts[-1]).all()
    rebuilt = pose_ops.apply_actions(pose[:-1], acts[:-1], heading, scale=2.5)
    np.testing.assert_allclose(rebuilt, pose[1:], atol=1e-4)
    # egocentric: rotating and shifting the whole scene leaves the actions unchanged
    th = 0.7
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]], np.float32)
    moved = pose @ rot.T + np.float32(5.0)
    np.testing.assert_allclose(
        pose_ops.pose_actions(moved, heading)[:-1], pose_ops.pose_actions(pose, heading)[:-1], atol=1e-3
    )
    obs = pose_ops.pose_observations(pose, heading)
    assert obs.shape == (20, 3, 5 * 2 + 2 + 4 * 2)
    np.testing.assert_allclose(pose_ops.pose_observations(moved, heading), obs, atol=1e-3)


def _walkers(seed=0, t=80, a=2, k=4):
    rng = np.random.default_rng(seed)
    centre = np.cumsum(rng.normal(0, 0.3, size=(t, a, 1, 2)), 0)
    body = np.array([[1.0, 0.0], [0.3, 0.2], [0.3, -0.2], [-1.0, 0.0]])[:k]
    return (centre + body + rng.normal(0, 0.02, size=(t, a, k, 2))).astype(np.float32)


def test_fit_pose_transform_rollout_with_nans(tmp_path):
    pose = _walkers()
    pose[10, 0, 1] = np.nan
    pose[20:23, 1] = np.nan  # an animal missing for three frames
    bet = BehaviorTransformer(n_clusters=4, max_iterations=5, embedding_width=20, **TINY).fit_pose(pose)
    z = bet.transform(pose)
    assert z.shape == (80, 20) and np.isfinite(z).all()
    wide = BehaviorTransformer(n_clusters=4, max_iterations=5, **TINY).fit_pose(pose)
    assert wide.transform(pose).shape == (80, 32)  # [mean, max - min] of 16-wide states, narrower than 128
    future = bet.rollout_pose(pose, start=30, n_steps=6, n_samples=2)
    assert future.shape == (2, 7, 2, 4, 2) and np.isfinite(future).all()
    np.testing.assert_array_equal(future[:, 0], np.repeat(pose[30][None], 2, 0))
    again = bet.plot_rollouts(pose, start=30, n_steps=4, path=tmp_path / "rollouts.png", n_samples=2)
    assert again.shape == (2, 5, 2, 4, 2) and (tmp_path / "rollouts.png").stat().st_size > 1000
    bet.save(tmp_path / "pose.pt")
    np.testing.assert_array_equal(BehaviorTransformer.load(tmp_path / "pose.pt").transform(pose), z)


# ------------------------------------------------------------------ errors


def test_errors_are_one_line_and_name_the_argument():
    obs, acts = _two_mode_toy(n=4)
    with pytest.raises(EstimatorInputError, match=r"^actions: got 3 sequences, obs has 4$"):
        BehaviorTransformer(**TINY).fit(obs, acts[:3])
    with pytest.raises(EstimatorInputError, match=r"^obs: expected \(sequences, time, dim\)"):
        BehaviorTransformer(**TINY).fit(obs[0, 0], acts)
    with pytest.raises(EstimatorInputError, match="^obs: contains NaN"):
        bad = obs.copy()
        bad[0, 0, 0] = np.nan
        BehaviorTransformer(**TINY).fit(bad, acts)
    with pytest.raises(EstimatorInputError, match="^n_embd: expected a multiple of n_head=2"):
        BehaviorTransformer(**dict(TINY, n_embd=15)).fit(obs, acts)
    with pytest.raises(EstimatorInputError, match="^obs: no sequence holds window=40"):
        BehaviorTransformer(**dict(TINY, window=40)).fit(obs, acts)
    with pytest.raises(EstimatorInputError, match="^n_clusters: the training data hold"):
        BehaviorTransformer(**dict(TINY, n_clusters=500)).fit(obs, acts)
    with pytest.raises(EstimatorInputError, match="^pose: expected keypoints"):
        BehaviorTransformer(**TINY).fit_pose(np.zeros((10, 3)))
    with pytest.raises(ConfigError, match="model.action_mode"):
        build_core("bet", {"action_mode": "jump"}, {"inputs": {"behavior": {"shapes": [[2]]}}})
    with pytest.raises(
        ConfigError, match=r"model.action_input: the data offer no input 'behavior' .*data.inputs=\[spikes,behavior\]"
    ):
        build_core("bet", {}, {"inputs": {"spikes": {"shapes": [[3]]}}})


def test_train_py_core_derives_displacements_and_masks_trial_ends():
    from behavenet.data.splits import SplitData

    x = np.arange(12, dtype=np.float32).reshape(6, 2) ** 2
    split = SplitData("s", {"behavior": x}, segments=np.array([[0, 3], [3, 6]]))
    core = build_core("bet", {"window": 2}, {"inputs": {"behavior": {"shapes": [[2]]}}})
    acts, valid = core.split_actions(split)
    np.testing.assert_array_equal(valid, [True, True, False, True, True, False])
    np.testing.assert_array_equal(acts[0], x[1] - x[0])
    np.testing.assert_array_equal(acts[2], [0, 0])
    assert core._window_starts(split).tolist() == [0, 1, 3, 4]


def test_rollout_generates_from_its_own_actions_and_writes_the_figure(tmp_path):
    """Known answer: one bin and a zeroed head make every sampled action the k-means centre (the
    mean displacement), so the closed-loop rollout continues the ramp the trial starts with,
    even where the real trajectory turns."""
    from behavenet.data.splits import SplitData
    from behavenet.models.bet.figures import rollout

    t = np.arange(30, dtype=np.float32)
    x = np.stack([t, 2 * t], 1)
    x[20:] = x[19]  # the real animal stops at frame 19
    split = SplitData("s", {"behavior": x}, segments=np.array([[0, 30]]), trial_index=np.zeros(30, np.int64))
    core = build_core("bet", {"window": 3, "n_clusters": 1}, {"inputs": {"behavior": {"shapes": [[2]]}}})
    core.fit_data([split])
    torch.nn.init.zeros_(core.head.weight)
    torch.nn.init.zeros_(core.head.bias)
    centre = core.tokenizer.centers[0].numpy()
    np.testing.assert_allclose(centre, [19 / 29, 38 / 29], rtol=1e-5)
    res = rollout(core, {"behavior": x}, n_samples=2, horizon=25)
    assert res["closed_loop"] and res["start"] == 2 and res["samples"].shape == (2, 25, 2)
    expected = x[2] + (np.arange(25)[:, None] - 2) * centre
    expected[:2] = x[:2]
    np.testing.assert_allclose(res["samples"][0], expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(res["real"], x[:25])
    files = core.write_figures([split], tmp_path)
    assert [f.name for f in files] == ["rollouts.png"] and files[0].stat().st_size > 1000
