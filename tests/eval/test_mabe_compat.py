"""``official_compat``: the official evaluator's float32 fits (scikit-learn 1.0.2 arithmetic).

The fast float32 path must give the coefficients sklearn computes on the float32 matrix (bit for
bit where sklearn's Cholesky succeeds) and scores within 1e-4 of the literal float32 sklearn path
(``method="reference", precision="float32"``) on several fixtures, including poorly conditioned
embeddings, where float32 fits move the scores most.
"""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.linear_model import Ridge, RidgeClassifier

from behavenet.cli import main
from behavenet.eval._ridge import (
    RidgeTarget,
    _weighted_row_sum32,
    fit_ridge_sklearn32,
)
from behavenet.eval.mabe import evaluate, load_labels, load_split, load_tasks

ALPHAS = [0.1, 0.5, 1.0, 2.0, 5.0]


def _sklearn_fit(X, y, classification, alpha):
    keep = ~np.isnan(y)
    model = RidgeClassifier(class_weight="balanced", alpha=alpha) if classification else Ridge(alpha=alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[keep], y[keep])
    return np.asarray(model.coef_).reshape(-1), np.atleast_1d(model.intercept_)


def _collinear(rng, n, dim, rank, noise, offset):
    """``dim`` columns mixing ``rank`` latent ones, independent noise ``noise`` times smaller."""
    z = rng.standard_normal((n, rank))
    mix = rng.standard_normal((rank, dim))
    return (z @ mix + noise * rng.standard_normal((n, dim)) + offset).astype(np.float32), z


def _max_rel_diff(a, b):
    worst = 0.0
    for (ta, ca), (tb, cb) in zip(a.rows, b.rows):
        assert ta == tb
        for k, va in ca.items():
            if isinstance(va, float):
                vb = cb[k]
                worst = max(worst, abs(va - vb) / max(abs(vb), 1e-300))
    return worst


# ----------------------------------------------------------------------------------------------
# the fits
# ----------------------------------------------------------------------------------------------


def test_weighted_row_sum_is_numpys_float32_reduction_bit_for_bit():
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((5003, 17)) * 3 + 40).astype(np.float32)
    w = rng.random(5003).astype(np.float32)
    rows = np.sort(rng.choice(5003, 4000, replace=False))
    one_shot = np.multiply(X[rows], w[: rows.size, None]).sum(axis=0)
    for chunk in (1, 7, 1000, 10_000):
        got = _weighted_row_sum32(X, rows, rows.size, w[: rows.size], chunk)
        assert got.dtype == np.float32 and np.array_equal(got, one_shot), chunk
    assert np.array_equal(_weighted_row_sum32(X, None, 5003, None, 333), X.sum(axis=0))


@pytest.mark.parametrize("case", ["well", "ill"])
def test_float32_fits_are_sklearns_bits(case):
    rng = np.random.default_rng(1)
    n, dim = 6000, 24
    if case == "well":
        X = (rng.standard_normal((n, dim)) * 2 + 3).astype(np.float32)
    else:  # condition number ~1e6: float32 fits differ from float64 ones in the 3rd digit
        X, _ = _collinear(rng, n, dim, rank=4, noise=3e-2, offset=5.0)
    y_cls = (rng.random(n) < 0.07).astype(np.float32)
    y_cls[rng.random(n) < 0.05] = np.nan
    y_reg = rng.random(n).astype(np.float32)
    rows = np.sort(rng.choice(n, 5000, replace=False))
    targets = [RidgeTarget("c", y_cls, True), RidgeTarget("r", y_reg, False), RidgeTarget("r2", y_reg * 2, False)]
    fits = fit_ridge_sklearn32(X, [rows], targets, ALPHAS, chunk_rows=777)
    Xs = X[rows]
    for fit, t in zip(fits, targets):
        assert fit.solvers == ["cholesky"]
        assert fit.coef[0].dtype == np.float32 and fit.coef[0].shape == (len(ALPHAS), dim, 1)
        for ai, alpha in enumerate(ALPHAS):
            coef, icpt = _sklearn_fit(Xs, t.y[rows], t.classification, alpha)
            assert np.array_equal(fit.coef[0][ai, :, 0], coef), (t.name, alpha)
            assert np.array_equal(fit.intercept[0][ai], icpt), (t.name, alpha)
    if case == "ill":  # the float32 fit is not the float64 one here
        ref64, _ = _sklearn_fit(Xs.astype(np.float64), y_cls[rows], True, 1.0)
        assert np.max(np.abs(fits[0].coef[0][2, :, 0] - ref64)) > 1e-3 * np.max(np.abs(ref64))


def test_cholesky_failure_falls_back_to_the_svd_like_sklearn():
    rng = np.random.default_rng(2)
    z = 10 * rng.standard_normal((2000, 3)) @ rng.standard_normal((3, 32))
    X = (z + 1e-4 * rng.standard_normal((2000, 32)) + 20).astype(np.float32)  # float32-singular Gram
    y = (rng.random(2000) < 0.1).astype(np.float32)
    rows = np.arange(2000)
    (fit,) = fit_ridge_sklearn32(X, [rows], [RidgeTarget("c", y, True)], [0.1, 1e4])
    assert fit.solvers == ["cholesky+svd"]
    small, _ = _sklearn_fit(X, y, True, 0.1)  # sklearn 1.0.2 uses scipy's SVD, newer ones numpy's
    big, big_icpt = _sklearn_fit(X, y, True, 1e4)
    np.testing.assert_allclose(fit.coef[0][0, :, 0], small, rtol=0, atol=0.05 * np.max(np.abs(small)))
    assert np.array_equal(fit.coef[0][1, :, 0], big) and np.array_equal(fit.intercept[0][1], big_icpt)


# ----------------------------------------------------------------------------------------------
# the scores: official_compat against the literal float32 sklearn path, several fixtures
# ----------------------------------------------------------------------------------------------


def _ill_conditioned(fx, seed, dim=40, rank=5, noise=1e-2, offset=8.0):
    """The fixture's labels with an embedding of many near-collinear dimensions carrying them."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((fx.embeddings.shape[1], dim))
    base = fx.embeddings.astype(np.float64) @ mix
    extra, _ = _collinear(rng, base.shape[0], dim, rank, noise, 0.0)
    return (base + 0.3 * extra + offset).astype(np.float32)


@pytest.mark.parametrize(
    "name, kwargs, ill",
    [
        ("mouse", dict(seed=3, scale=0.02), False),  # small scale: the alphas matter
        ("fly", dict(seed=1, species="fly", n_clips=40, clip_len=25, dim=8), False),
        ("long", dict(seed=6, n_clips=60, clip_len=80, dim=12, variable_lengths=True), False),
        ("ill", dict(seed=7, n_clips=60, clip_len=80, dim=6), True),
    ],
)
def test_official_compat_matches_the_literal_float32_path(make_mabe, name, kwargs, ill):
    fx = make_mabe(name, **kwargs)
    labels, split, tasks = load_labels(fx.labels), load_split(fx.split), load_tasks(fx.tasks)
    emb = _ill_conditioned(fx, kwargs["seed"]) if ill else fx.embeddings
    compat = evaluate(emb, labels, split, tasks, official_compat=True)
    literal = evaluate(emb, labels, split, tasks, official_compat=True, method="reference", precision="float32")
    default = evaluate(emb, labels, split, tasks, official_compat=True, precision="float64")
    assert compat.meta["precision"] == "float32" and "scikit-learn 1.0.2" in compat.meta["numerics"]
    assert literal.meta["numerics"].startswith("float32: literal scikit-learn")
    assert [t for t, _ in compat.rows] == [t for t, _ in literal.rows]
    assert _max_rel_diff(compat, literal) <= 1e-4
    if ill:  # here the float64 default is measurably further from the float32 scores
        assert _max_rel_diff(default, literal) > 10 * max(_max_rel_diff(compat, literal), 1e-6)


# ----------------------------------------------------------------------------------------------
# reporting the numerics
# ----------------------------------------------------------------------------------------------


def test_mabe_eval_prints_and_records_the_numerics(mouse_fixture, tmp_path, capsys):
    fx = mouse_fixture
    out = tmp_path / "r.json"
    args = ["mabe-eval", "--submission", str(fx.submission), "--labels", str(fx.labels)]
    args += ["--split", str(fx.split), "--tasks", str(fx.tasks), "--json", str(out), "--quiet"]
    assert main(args) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == "numerics: float64: exact ridge fits from float64 sufficient statistics (behavenet default)"
    assert json.loads(out.read_text())["meta"]["precision"] == "float64"

    assert main(args + ["--official-compat"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("numerics: float32: scikit-learn 1.0.2 float32 arithmetic, as the official evaluator")
    meta = json.loads(out.read_text())["meta"]
    assert meta["precision"] == "float32" and meta["official_compat"] is True and meta["numerics"] == line[10:]

    assert main(args + ["--official-compat", "--precision", "float64"]) == 0  # pooling only
    assert "float64" in capsys.readouterr().out.strip().splitlines()[-1]


def test_submit_names_the_leaderboard_numerics(tmp_path, capsys, monkeypatch):
    import behavenet.api

    rng = np.random.default_rng(0)
    rows = {"a": rng.standard_normal((5, 3)), "b": rng.standard_normal((4, 3))}
    session = SimpleNamespace(trial_names=list(rows), trial_embedding=lambda k: rows[k])
    monkeypatch.setattr(behavenet.api, "load_run", lambda path: SimpleNamespace(embed_files=lambda d: [session]))
    (tmp_path / "map.json").write_text(json.dumps({"b": [0, 4], "a": [4, 9]}))
    args = ["submit", "--run", str(tmp_path), "--data", str(tmp_path / "x.h5"), "--species", "mouse"]
    args += ["--out", str(tmp_path / "s.npy"), "--frame-map", str(tmp_path / "map.json")]
    assert main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].endswith("9 rows x 3 dims, valid")
    assert out[1].startswith("numerics: the MABe22 evaluator scores this file with float32 ridge fits")
    assert "behavenet mabe-eval --official-compat" in out[1]
