import math

import numpy as np
import pytest
import torch

from behavenet.models.contrastive.losses import InfoNCE, goodness_of_fit_bits, infonce


def _hand_infonce(ref, pos, neg, sim, tau):
    """Direct transcription of L = 1/n sum_i [-phi(x_i, y+_i) + log sum_j exp phi(x_i, y-_j)]."""
    n = len(ref)
    total = align = uniform = 0.0
    for i in range(n):
        p = sim(ref[i], pos[i]) / tau
        s = sum(math.exp(sim(ref[i], neg[j]) / tau) for j in range(len(neg)))
        align += -p / n
        uniform += math.log(s) / n
    total = align + uniform
    return total, align, uniform


def cos(a, b):
    return float(np.dot(a, b))


def sqeuclid(a, b):
    return -float(np.sum((np.asarray(a) - np.asarray(b)) ** 2))


REF = [[0.6, 0.8], [1.0, 0.0], [0.0, -1.0]]
POS = [[0.8, 0.6], [0.0, 1.0], [0.6, -0.8]]
NEG = [[1.0, 0.0], [-0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]]


@pytest.mark.parametrize("distance,sim", [("cosine", cos), ("euclidean", sqeuclid)])
@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_infonce_matches_hand_computation(distance, sim, tau):
    ref, pos, neg = (torch.tensor(v, dtype=torch.float64) for v in (REF, POS, NEG))
    got = infonce(ref, pos, neg, distance, 1.0 / tau)
    want = _hand_infonce(REF, POS, NEG, sim, tau)
    for g, w in zip(got, want):
        assert float(g) == pytest.approx(w, abs=1e-12)
    crit = InfoNCE(distance, "constant", tau)
    for g, w in zip(crit(ref, pos, neg), want):
        assert float(g) == pytest.approx(w, abs=1e-12)


@pytest.mark.parametrize("distance,sim", [("cosine", cos), ("euclidean", sqeuclid)])
def test_learnable_temperature(distance, sim):
    crit = InfoNCE(distance, "auto", temperature=0.5, min_temperature=0.1).double()
    ref, pos, neg = (torch.tensor(v, dtype=torch.float64) for v in (REF, POS, NEG))
    total, _, _ = crit(ref, pos, neg)
    assert float(total.detach()) == pytest.approx(_hand_infonce(REF, POS, NEG, sim, 0.5)[0], abs=1e-6)
    assert float(crit.temperature) == pytest.approx(0.5)
    total.backward()
    assert crit.log_inverse_temperature.grad is not None and crit.log_inverse_temperature.grad != 0
    with torch.no_grad():  # far below the floor: clamped at min_temperature
        crit.log_inverse_temperature.fill_(math.log(1 / 0.01))
    assert float(crit.temperature) == pytest.approx(0.1)
    total = crit(ref, pos, neg)[0].detach()
    assert float(total) == pytest.approx(_hand_infonce(REF, POS, NEG, sim, 0.1)[0], abs=1e-6)


def test_positive_not_in_denominator_and_stability():
    torch.manual_seed(0)
    ref, pos, neg = torch.randn(5, 3), torch.randn(5, 3), torch.randn(7, 3)
    _, _, u1 = infonce(ref, pos, neg)
    _, _, u2 = infonce(ref, pos * 10, neg)
    assert torch.equal(u1, u2)  # only the alignment term sees the positives
    total, align, uniform = infonce(ref * 1e3, pos * 1e3, neg * 1e3, "euclidean", 10.0)
    assert all(torch.isfinite(v) for v in (total, align, uniform))


def test_goodness_of_fit_of_collapsed_embedding_is_zero():
    n = 64
    same = torch.ones(n, 4) / 2.0
    loss, _, _ = infonce(same, same, same)
    assert float(loss) == pytest.approx(math.log(n), abs=1e-6)
    assert float(goodness_of_fit_bits(loss, n)) == pytest.approx(0.0, abs=1e-6)
    assert goodness_of_fit_bits(0.0, 512, 2) == pytest.approx(math.log2(1024))
    with pytest.raises(ValueError):
        InfoNCE("manhattan")
    with pytest.raises(ValueError):
        InfoNCE(temperature_mode="learned")
