"""Bad arrays given to the estimators' ``fit`` (and ``load``): a BehavenetError with one line
naming the argument and what was expected, raised before any training, and no file written."""

from __future__ import annotations

import numpy as np
import pytest

from behavenet.errors import BehavenetError

from .conftest import assert_one_line

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 5)).astype(np.float32)
Y = RNG.normal(size=(200, 1)).astype(np.float32)


def _contrastive():
    from behavenet import ContrastiveEmbedding

    return ContrastiveEmbedding(max_iterations=2, batch_size=16, output_dimension=2, model_architecture="offset5")


def _fit_error(est, *args) -> BehavenetError:
    with pytest.raises(BehavenetError) as exc:
        est.fit(*args)
    assert not hasattr(est, "model_")
    return exc.value


def test_contrastive_nan_input():
    x = X.copy()
    x[17, 2] = np.nan
    assert_one_line(_fit_error(_contrastive(), x, Y), "X", "NaN")


def test_contrastive_labels_shorter_than_input():
    assert_one_line(_fit_error(_contrastive(), X, Y[:150]), "200", "150")


def test_contrastive_text_input():
    assert_one_line(_fit_error(_contrastive(), np.array([["a", "b"]] * 50)), "X", "numeric")


def test_contrastive_empty_input():
    assert_one_line(_fit_error(_contrastive(), np.zeros((0, 5), np.float32)), "X", "at least one frame", "(0, 5)")


def test_contrastive_batch_larger_than_the_data_is_cut_to_the_frames(caplog):
    """Not an error (a short recording with the default batch must train): one warning, and the
    batches hold the 196 frames that can be the centre of a 5-frame window, not 5000."""
    from behavenet import ContrastiveEmbedding

    est = ContrastiveEmbedding(max_iterations=2, batch_size=5000, model_architecture="offset5")
    with caplog.at_level("WARNING"):
        est.fit(X, Y)
    assert "model.batch_size 5000 is more than the 196 training frames" in caplog.text
    assert est.transform(X).shape[0] == len(X)


def test_mmgpvae_unknown_modality():
    from behavenet import MMGPVAE

    est = MMGPVAE(likelihoods={"neural": "poisson"}, max_epochs=1)
    err = _fit_error(est, {"behaviour": RNG.normal(size=(3, 20, 2))})
    assert_one_line(err, "behaviour")


def test_mmgpvae_trials_of_different_counts():
    from behavenet import MMGPVAE

    est = MMGPVAE(likelihoods={"neural": "poisson", "behavior": "gaussian"}, max_epochs=1)
    data = {"neural": RNG.poisson(1.0, (4, 20, 3)).astype(float), "behavior": RNG.normal(size=(3, 20, 2))}
    assert_one_line(_fit_error(est, data), "4", "3")


def test_bet_actions_of_other_length():
    from behavenet import BehaviorTransformer

    est = BehaviorTransformer(n_clusters=2, window=4, max_iterations=1)
    obs = RNG.normal(size=(2, 30, 3)).astype(np.float32)
    act = RNG.normal(size=(2, 25, 2)).astype(np.float32)
    assert_one_line(_fit_error(est, obs, act), "30", "25")


def test_bet_infinite_actions():
    from behavenet import BehaviorTransformer

    est = BehaviorTransformer(n_clusters=2, window=4, max_iterations=1)
    obs = RNG.normal(size=(2, 30, 3)).astype(np.float32)
    act = RNG.normal(size=(2, 30, 2)).astype(np.float32)
    act[1, 3, 0] = np.inf
    assert_one_line(_fit_error(est, obs, act), "actions")


@pytest.mark.parametrize(
    "content", [b"", b"not a model", b"PK\x03\x04" + b"\x00" * 64], ids=["empty", "text", "zip-stub"]
)
def test_load_not_a_model_file(tmp_path, content):
    from behavenet import ContrastiveEmbedding

    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(BehavenetError) as exc:
        ContrastiveEmbedding.load(path)
    assert_one_line(exc.value, str(path))
