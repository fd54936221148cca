import numpy as np
import pytest
import torch

from behavenet.data.splits import SplitData
from behavenet.data.windows import valid_centers
from behavenet.errors import ConfigError
from behavenet.models.contrastive.core import ContrastiveStream
from behavenet.models.contrastive.samplers import (
    ContrastiveSampler,
    NearestNeighbourIndex,
    SessionFrames,
    auto_conditional,
)

SEGMENTS = np.array([[0, 120], [130, 260], [260, 300]])  # a gap 120..130 and adjacent trials


def session(seed=0, n=300, left=5, right=5, with_nan=False, classes=3, segments=SEGMENTS, dim=2):
    rng = np.random.default_rng(seed)
    y = np.cumsum(rng.normal(size=(n, dim)) * 0.1, axis=0)
    if with_nan:
        y[40:45] = np.nan
    disc = rng.integers(0, classes, n)
    disc[::17] = -1  # unlabelled frames
    return SessionFrames(n, segments, left, right, continuous=y, discrete=disc)


def _segment_of(frames, segments):
    out = np.full(len(frames), -1)
    for i, (a, b) in enumerate(segments):
        out[(frames >= a) & (frames < b)] = i
    return out


def test_time_positives_at_offset_inside_the_same_trial():
    s = session()
    sampler = ContrastiveSampler([s], "time", time_offsets=10)
    b = sampler.sample(500, np.random.default_rng(0))
    ref, pos = b["ref"][0], b["pos"][0]
    assert np.array_equal(pos, ref + 10)
    assert np.array_equal(_segment_of(ref, SEGMENTS), _segment_of(pos, SEGMENTS))
    valid = set(valid_centers(SEGMENTS, 5, 5).tolist())
    assert set(ref.tolist()) <= valid and set(pos.tolist()) <= valid and set(b["neg"][0].tolist()) <= valid
    multi = ContrastiveSampler([s], "time", time_offsets=[2, 7]).sample(400, np.random.default_rng(1))
    assert set(np.unique(multi["pos"][0] - multi["ref"][0]).tolist()) == {2, 7}


def test_time_delta_positive_is_nearest_neighbour_of_query():
    s = session(with_nan=True)
    sampler = ContrastiveSampler([s], "time_delta", time_offsets=3)
    b = sampler.sample(200, np.random.default_rng(0), return_queries=True)
    cand = s.centers[np.isfinite(s.continuous[s.centers]).all(1)]
    d = ((b["query"][:, None, :] - s.continuous[cand][None]) ** 2).sum(-1)
    best = d.min(1)
    got = ((b["query"] - s.continuous[b["pos"][0]]) ** 2).sum(-1)
    assert np.allclose(got, best)
    assert np.isfinite(s.continuous[b["ref"][0]]).all() and np.isfinite(s.continuous[b["pos"][0]]).all()
    # the label-change pool: only pairs 3 frames apart inside one trial, no NaN, no zero padding
    deltas = sampler._deltas
    expected = []
    for a, e in SEGMENTS:
        for t in range(a + 3, e):
            dd = s.continuous[t] - s.continuous[t - 3]
            if np.isfinite(dd).all():
                expected.append(dd)
    assert len(deltas) == len(expected)
    assert np.allclose(np.sort(deltas, axis=0), np.sort(np.array(expected), axis=0))
    assert not np.any(np.all(deltas == 0, axis=1))


def test_delta_queries_and_positives():
    s = session()
    sampler = ContrastiveSampler([s], "delta", delta=0.05)
    b = sampler.sample(4000, np.random.default_rng(0), return_queries=True)
    noise = b["query"] - s.continuous[b["ref"][0]]
    assert abs(noise.std() - 0.05) < 0.005
    d = ((b["query"][:, None, :] - s.continuous[s.centers][None]) ** 2).sum(-1).min(1)
    assert np.allclose(((b["query"] - s.continuous[b["pos"][0]]) ** 2).sum(-1), d)
    with pytest.raises(ConfigError):
        ContrastiveSampler([s], "delta")


@pytest.mark.parametrize("prior", ["empirical", "balanced"])
def test_discrete_positives_share_the_class(prior):
    rng = np.random.default_rng(0)
    n = 300
    disc = np.where(rng.random(n) < 0.8, 0, rng.integers(1, 3, n))  # imbalanced
    disc[::17] = -1
    s = SessionFrames(n, SEGMENTS, 5, 5, discrete=disc)
    sampler = ContrastiveSampler([s], "discrete", prior=prior)
    b = sampler.sample(3000, rng)
    ref, pos = b["ref"][0], b["pos"][0]
    assert np.array_equal(disc[ref], disc[pos])
    assert (disc[ref] >= 0).all() and (disc[b["neg"][0]] >= 0).all()
    freq = np.bincount(disc[ref], minlength=3) / len(ref)
    if prior == "balanced":
        assert np.allclose(freq, 1 / 3, atol=0.05)
    else:
        assert freq[0] > 0.7


def test_mixed_is_time_delta_within_the_class():
    s = session()
    sampler = ContrastiveSampler([s], "mixed", time_offsets=2)
    b = sampler.sample(300, np.random.default_rng(0), return_queries=True)
    ref, pos = b["ref"][0], b["pos"][0]
    assert np.array_equal(s.discrete[ref], s.discrete[pos])
    for i in range(len(ref)):
        same = s.centers[(s.discrete[s.centers] == s.discrete[ref[i]])]
        d = ((s.continuous[same] - b["query"][i]) ** 2).sum(-1)
        assert np.isclose(((s.continuous[pos[i]] - b["query"][i]) ** 2).sum(), d.min())


def test_hybrid_adds_time_positives():
    s = session()
    b = ContrastiveSampler([s], "time_delta", time_offsets=4, hybrid=True).sample(100, np.random.default_rng(0))
    assert np.array_equal(b["pos_time"], b["ref"] + 4)
    assert np.array_equal(_segment_of(b["ref"][0], SEGMENTS), _segment_of(b["pos_time"][0], SEGMENTS))


def test_multi_session_continuous_alignment_order():
    sessions = [session(seed=0), session(seed=1, n=250, segments=np.array([[0, 250]]))]
    sampler = ContrastiveSampler(sessions, "time_delta", time_offsets=2)
    n = 64
    b = sampler.sample(n, np.random.default_rng(0), return_queries=True)
    assert b["ref"].shape == (2, n) and b["neg"].shape == (2, n)
    assert [len(p) for p in b["pos"]] == [n, n]  # queries dealt evenly
    # reassemble (session, frame) of every positive in reference order
    sess = np.concatenate([np.full(len(p), s) for s, p in enumerate(b["pos"])])[b["pos_order"]]
    frame = np.concatenate(b["pos"])[b["pos_order"]]
    assert set(sess.tolist()) == {0, 1}
    for i in range(2 * n):
        s = sessions[sess[i]]
        d = ((s.continuous[s.centers] - b["query"][i]) ** 2).sum(-1).min()
        assert np.isclose(((s.continuous[frame[i]] - b["query"][i]) ** 2).sum(), d)


def test_multi_session_discrete_and_time_refused():
    sessions = [session(seed=0), session(seed=1, classes=2)]  # class 2 only in session 0
    b = ContrastiveSampler(sessions, "discrete").sample(200, np.random.default_rng(0))
    ref_cls = np.concatenate([sessions[s].discrete[b["ref"][s]] for s in range(2)])
    sess = np.concatenate([np.full(len(p), s) for s, p in enumerate(b["pos"])])[b["pos_order"]]
    frame = np.concatenate(b["pos"])[b["pos_order"]]
    pos_cls = np.array([sessions[s].discrete[f] for s, f in zip(sess, frame)])
    assert np.array_equal(ref_cls, pos_cls)
    assert (sess[ref_cls == 2] == 0).all()
    with pytest.raises(ConfigError) as err:
        ContrastiveSampler(sessions, "time")
    assert "\n" not in str(err.value)


def test_sampling_is_reproducible_and_worker_independent():
    s = session()
    sampler = ContrastiveSampler([s], "time_delta", time_offsets=3)
    a = sampler.sample(50, np.random.default_rng(7))
    b = sampler.sample(50, np.random.default_rng(7))
    for k in ("ref", "neg"):
        assert np.array_equal(a[k], b[k])
    assert np.array_equal(a["pos"][0], b["pos"][0])
    stream = ContrastiveStream(sampler, 32, seed=3, n_batches=4)
    first, second = list(stream), list(stream)
    assert len(first) == len(stream) == 4
    for x, y in zip(first, second):
        assert torch.equal(x["ref"], y["ref"]) and torch.equal(x["pos"][0], y["pos"][0])
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2)
    for x, y in zip(first, list(loader)):
        assert torch.equal(x["ref"], y["ref"]) and torch.equal(x["neg"], y["neg"])


def test_nn_backends_agree_and_errors():
    rng = np.random.default_rng(0)
    pts, q = rng.normal(size=(500, 3)), rng.normal(size=(100, 3))
    assert np.array_equal(NearestNeighbourIndex(pts, "kdtree").query(q), NearestNeighbourIndex(pts, "cdist").query(q))
    assert auto_conditional(True, False) == "time_delta" and auto_conditional(False, True) == "discrete"
    assert auto_conditional(True, True) == "mixed" and auto_conditional(False, False) == "time"
    short = SessionFrames(8, [[0, 8]], 5, 5)
    with pytest.raises(ConfigError) as err:
        ContrastiveSampler([short], "time")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError):
        ContrastiveSampler([session()], "time_delta", time_offsets=0)
    no_labels = SessionFrames(100, [[0, 100]], 0, 1)
    with pytest.raises(ConfigError):
        ContrastiveSampler([no_labels], "discrete")


def test_session_frames_from_split_uses_declared_kinds():
    x = np.zeros((50, 3), np.float32)
    split = SplitData(
        "s",
        {"spikes": x},
        labels={"a": np.arange(50.0)[:, None], "b": np.arange(50) % 2},
        label_kinds={"a": "continuous", "b": "discrete"},
    )
    sf = SessionFrames.from_split(split, 0, 1)
    assert sf.continuous.shape == (50, 1) and sf.discrete.shape == (50,)
