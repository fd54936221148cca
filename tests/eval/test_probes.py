"""Generic linear probes / kNN decoders against a direct sklearn computation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.metrics import f1_score, mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from behavenet.errors import ConfigError, FormatError
from behavenet.eval._ridge import DEFAULT_ALPHAS, RidgeTarget, fit_ridge_grid, predict_decisions
from behavenet.eval.probes import TaskSpec, evaluate_tasks, plot_task_scores, results_table

SEEDS = (42, 43, 44)


def _data(seed=0, n_clips=30, clip_len=60, dim=5, scale=0.1):
    rng = np.random.default_rng(seed)
    n = n_clips * clip_len
    clip = np.repeat(np.array([f"clip{i:02d}" for i in rng.permutation(n_clips)]), clip_len)
    beh3 = rng.integers(0, 3, n)  # multi-class per frame
    binary = (rng.random(n) < 0.15).astype(float)
    genotype = {c: int(rng.random() < 0.5) for c in np.unique(clip)}
    speed = rng.normal(size=n)
    age = {c: float(rng.random()) for c in np.unique(clip)}
    W = rng.normal(size=(6, dim))
    seq = np.array([genotype[c] for c in clip]) - 0.5
    ag = np.array([age[c] for c in clip])
    X = rng.normal(size=(n, dim)) + np.stack([beh3 == 0, beh3 == 1, binary, seq, speed, ag], 1) @ W
    X = (scale * (X + 2)).astype(np.float32)
    binary[rng.random(n) < 0.05] = np.nan
    beh3 = beh3.astype(float)
    beh3[rng.random(n) < 0.05] = -1  # -1 = missing class label
    clips = list(dict.fromkeys(clip))
    train, test = clips[:20], clips[20:]
    return X, clip, dict(binary=binary, beh3=beh3, genotype=genotype, speed=speed, age=age), train, test


def _frames(clip, clips):
    return np.isin(clip, clips)


def _direct(X, clip, y, train, test, kind, seq=False, alphas=DEFAULT_ALPHAS, headline=1.0):
    """Literal sklearn: fit per seed/alpha, merge, score."""
    y = np.asarray(y, dtype=float)
    missing = np.isnan(y) | ((y == -1) if kind == "classification" else False)
    classes = np.unique(y[~missing])
    te = _frames(clip, test) & ~missing
    Xte = X[te].astype(np.float64)
    yte = y[te]
    out = {}
    for a in alphas:
        preds, decs = [], []
        for s in SEEDS:
            tr_clips, _ = train_test_split(list(train), test_size=0.1, random_state=s)
            tr = _frames(clip, tr_clips) & ~missing
            m = RidgeClassifier(class_weight="balanced", alpha=a) if kind == "classification" else Ridge(alpha=a)
            m.fit(X[tr].astype(np.float64), y[tr])
            preds.append(m.predict(Xte))
            if kind == "classification" and classes.size > 2:
                d = np.full((Xte.shape[0], classes.size), -np.inf)
                d[:, np.searchsorted(classes, m.classes_)] = m.decision_function(Xte)
                decs.append(d)
        preds = np.array(preds)
        if kind == "regression":
            merged = preds.mean(0)
            score = mean_squared_error(yte, merged)
        elif classes.size <= 2:
            merged = (preds.mean(0) > 0).astype(float)
            score = f1_score(yte, merged, zero_division=0.0)
        else:
            votes = np.stack([(preds == c).sum(0) for c in classes], 1)
            mean_dec = np.mean(decs, axis=0)
            merged = classes[np.argmax(np.where(votes == votes.max(1, keepdims=True), mean_dec, -np.inf), 1)]
            score = f1_score(yte, merged, average="macro", zero_division=0.0)
        out[a] = score
        if a == headline:
            out["merged"] = merged
            if kind == "regression":
                out["no_ens"] = np.mean([mean_squared_error(yte, p) for p in preds])
            elif classes.size <= 2:
                out["no_ens"] = np.mean([f1_score(yte, p, zero_division=0.0) for p in preds])
            else:
                out["no_ens"] = np.mean([f1_score(yte, p, average="macro", zero_division=0.0) for p in preds])
            if seq:
                cl = clip[te]
                t_, p_ = [], []
                for c in test:
                    sel = cl == c
                    if not sel.any():
                        continue
                    if kind == "regression":
                        t_.append(yte[sel].mean())
                        p_.append(merged[sel].mean())
                    else:
                        t_.append(int(yte[sel].mean() >= 0.5))
                        p_.append(int(merged[sel].mean() >= 0.5))
                out["pooled"] = (
                    mean_squared_error(t_, p_) if kind == "regression" else f1_score(t_, p_, zero_division=0.0)
                )
    return out


@pytest.fixture(scope="module")
def data():
    return _data()


def test_ridge_matches_direct_sklearn(data):
    X, clip, lab, train, test = data
    gen_frames = np.array([lab["genotype"][c] for c in clip], dtype=float)
    age_frames = np.array([lab["age"][c] for c in clip])
    tasks = [
        TaskSpec("binary", lab["binary"]),
        TaskSpec("beh3", lab["beh3"]),
        TaskSpec("genotype", lab["genotype"], level="sequence"),
        TaskSpec("speed", lab["speed"], kind="regression"),
        TaskSpec("age", lab["age"], kind="regression", level="sequence"),
    ]
    res = evaluate_tasks(X, clip, tasks, train, test, knn_neighbors=None)
    cases = {
        "binary": (lab["binary"], "classification", False),
        "beh3": (lab["beh3"], "classification", False),
        "genotype": (gen_frames, "classification", True),
        "speed": (lab["speed"], "regression", False),
        "age": (age_frames, "regression", True),
    }
    for name, (y, kind, seq) in cases.items():
        ref = _direct(X, clip, y, train, test, kind, seq)
        r = res[name]
        assert r["ridge"] == pytest.approx(ref[1.0], abs=1e-9), name
        assert r["ridge_no_ensemble"] == pytest.approx(ref["no_ens"], abs=1e-9), name
        for a in DEFAULT_ALPHAS:
            assert r[f"ridge_alpha_{a:g}"] == pytest.approx(ref[a], abs=1e-9), (name, a)
        if seq:
            assert r["ridge_pooled"] == pytest.approx(ref["pooled"], abs=1e-9), name
        else:
            assert "ridge_pooled" not in r
    assert res["beh3"]["metric"] == "macro_f1" and res["beh3"]["n_classes"] == 3
    assert res["binary"]["metric"] == "f1" and res["speed"]["metric"] == "mse"
    assert len({round(res["speed"][f"ridge_alpha_{a:g}"], 12) for a in DEFAULT_ALPHAS}) > 1
    assert 0 < res["beh3"]["ridge"] <= 1 and "ridge_r2" in res["speed"]
    yv = lab["speed"][_frames(clip, test)]
    assert res["speed"]["ridge_r2"] == pytest.approx(1 - res["speed"]["ridge"] / yv.var(), abs=1e-9)


def test_knn_matches_sklearn(data):
    X, clip, lab, train, test = data
    res = evaluate_tasks(
        X,
        clip,
        [TaskSpec("beh3", lab["beh3"]), TaskSpec("speed", lab["speed"], kind="regression")],
        train,
        test,
        knn_neighbors=7,
        knn_max_train=10**9,
        knn_max_test=None,
    )
    y = lab["beh3"]
    tr = _frames(clip, train) & (y != -1)
    te = _frames(clip, test) & (y != -1)
    pred = KNeighborsClassifier(7).fit(X[tr].astype(np.float64), y[tr]).predict(X[te].astype(np.float64))
    assert res["beh3"]["knn"] == pytest.approx(f1_score(y[te], pred, average="macro"), abs=1e-12)
    s = lab["speed"]
    tr, te = _frames(clip, train), _frames(clip, test)
    pred = KNeighborsRegressor(7).fit(X[tr].astype(np.float64), s[tr]).predict(X[te].astype(np.float64))
    assert res["speed"]["knn"] == pytest.approx(mean_squared_error(s[te], pred), abs=1e-12)
    # subsampling is bounded and seeded
    a = evaluate_tasks(X, clip, [TaskSpec("beh3", y)], train, test, knn_max_train=300, knn_max_test=200, random_state=3)
    b = evaluate_tasks(X, clip, [TaskSpec("beh3", y)], train, test, knn_max_train=300, knn_max_test=200, random_state=3)
    assert a["beh3"]["knn_train_frames"] == 300 and a["beh3"]["knn_test_frames"] == 200
    assert a["beh3"]["knn"] == b["beh3"]["knn"]


def test_label_encodings_and_clip_bounds(data):
    X, clip, lab, train, test = data
    # contiguous layout so that clip bounds can describe it
    order = np.argsort(clip, kind="stable")
    Xs, cs = X[order], clip[order]
    bounds = {}
    for c in np.unique(cs):
        idx = np.flatnonzero(cs == c)
        bounds[c] = (int(idx[0]), int(idx[-1]) + 1)
    names = np.array(["rest", "walk", "groom"], dtype=object)[np.where(lab["beh3"] < 0, 0, lab["beh3"]).astype(int)]
    names[lab["beh3"] < 0] = None
    by_array = evaluate_tasks(Xs, cs, [TaskSpec("b", lab["beh3"][order])], train, test, knn_neighbors=None)
    by_bounds = evaluate_tasks(Xs, bounds, [TaskSpec("b", lab["beh3"][order])], train, test, knn_neighbors=None)
    by_names = evaluate_tasks(Xs, bounds, [TaskSpec("b", names[order])], train, test, knn_neighbors=None)
    for key in ("ridge", "ridge_no_ensemble"):
        assert by_array["b"][key] == by_bounds["b"][key]
        assert by_names["b"][key] == pytest.approx(by_array["b"][key], abs=1e-12)
    # binary with an explicit positive class: F1 of the other class
    yb = lab["binary"]
    pos0 = evaluate_tasks(X, clip, [TaskSpec("b", yb, positive=0.0)], train, test, knn_neighbors=None)
    ref = _direct(X, clip, yb, train, test, "classification")
    assert pos0["b"]["ridge"] != pytest.approx(ref[1.0])
    # booleans work as binary labels
    boolean = evaluate_tasks(X, clip, [TaskSpec("b", lab["speed"] > 0)], train, test, knn_neighbors=None)
    assert boolean["b"]["n_classes"] == 2


def test_missing_task_and_bad_inputs(data):
    X, clip, lab, train, test = data
    empty = np.full(len(clip), np.nan)
    res = evaluate_tasks(
        X, clip, [TaskSpec("none", empty), TaskSpec("binary", lab["binary"])], train, test, knn_neighbors=None
    )
    assert "error" in res["none"] and "ridge" not in res["none"]
    assert "ridge" in res["binary"]
    with pytest.raises(FormatError, match="not in clip_index"):
        evaluate_tasks(X, clip, [TaskSpec("binary", lab["binary"])], train, ["nope"])
    with pytest.raises(ConfigError):
        evaluate_tasks(X, clip, [TaskSpec("binary", lab["binary"], kind="ordinal")], train, test)
    with pytest.raises(FormatError, match="expected shape"):
        evaluate_tasks(X, clip, [TaskSpec("binary", lab["binary"][:10])], train, test)


def test_table_and_plot(data, tmp_path):
    X, clip, lab, train, test = data
    res = evaluate_tasks(
        X,
        clip,
        [
            TaskSpec("binary", lab["binary"]),
            TaskSpec("genotype", lab["genotype"], level="sequence"),
            TaskSpec("speed", lab["speed"], kind="regression"),
        ],
        train,
        test,
        knn_max_train=500,
    )
    table = results_table(res)
    assert list(table.index) == ["binary", "genotype", "speed"]
    assert {"ridge", "knn", "metric"} <= set(table.columns)
    out = plot_task_scores(res, tmp_path / "scores.png", title="probes")
    data_ = open(out, "rb").read()
    assert data_[:8] == b"\x89PNG\r\n\x1a\n" and len(data_) > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["scores.png"]


def test_ridge_core_batches_and_chunks_agree():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(900, 4)).astype(np.float32)
    ys = [(rng.random(900) < p).astype(np.float32) for p in (0.1, 0.5, 0.9)]
    ys[0][:50] = np.nan
    targets = [RidgeTarget(f"t{i}", y, True) for i, y in enumerate(ys)]
    targets.append(RidgeTarget("r", rng.normal(size=900).astype(np.float32), False))
    runs = [(0, 300, 0), (300, 600, 1), (650, 800, 0)]
    groups = [[0], [0, 1]]
    a = fit_ridge_grid(X, runs, groups, targets)
    b = fit_ridge_grid(X, runs, groups, targets, chunk_rows=17, max_stats_bytes=1)  # one target per batch
    for fa, fb in zip(a, b):
        for ca, cb in zip(fa.coef, fb.coef):
            np.testing.assert_allclose(ca, cb, rtol=1e-10, atol=1e-12)
    out = list(predict_decisions(X, [(800, 900, 0)], a, chunk_rows=30))
    assert [(s, e) for s, e, _, _ in out] == [(800, 830), (830, 860), (860, 890), (890, 900)]
