"""Generic downstream evaluation of per-frame embeddings: linear probes and kNN decoders.

This applies the MABe22 round-1 recipe to any data set with labels, and is meant to be called
from training code (e.g. at the end of a run or from a validation callback)::

    from behavenet.eval.probes import TaskSpec, evaluate_tasks, plot_task_scores

    results = evaluate_tasks(
        embeddings,                      # (N, D) array or memory map
        clip_ids,                        # (N,) clip id per frame, or {clip: (start, end)}
        [TaskSpec("grooming", frame_labels),                        # binary, per frame
         TaskSpec("behaviour", frame_classes),                      # multi-class, per frame
         TaskSpec("genotype", {clip: g, ...}, level="sequence"),    # one label per clip
         TaskSpec("speed", frame_speed, kind="regression")],
        train_clips, test_clips,
    )
    plot_task_scores(results, "probes.png")

Protocol (the same as :mod:`behavenet.eval.mabe`, shared ridge core in
:mod:`behavenet.eval._ridge`):

* for each seed (default 42, 43, 44) ``train_test_split(train_clips, test_size=0.1,
  random_state=seed)`` keeps 90% of the training clips;
* classification: ``RidgeClassifier(class_weight='balanced', alpha)``, regression:
  ``Ridge(alpha)``, for every alpha of the grid (default 0.1, 0.5, 1, 2, 5; headline alpha 1),
  on the raw embeddings, frames with a missing label (NaN, or -1 / None for classes) dropped;
* the seeds are merged per frame: OR vote for binary tasks (``mean(predictions) > 0``, the MABe
  rule), plurality vote for multi-class tasks (ties go to the class with the highest mean
  decision value), mean for regression;
* metrics on the frames of ``test_clips``: F1 of the positive class (binary), macro F1 over the
  classes present in truth or prediction (multi-class; ill-defined per-class F1 counts as 0),
  MSE (and R^2) for regression; sequence-level tasks also get a pooled clip-level score (mean of
  the merged predictions thresholded at 0.5 / plurality / mean, against the clip's label);
* a kNN decoder (``KNeighborsClassifier`` / ``KNeighborsRegressor``) on a random subsample of
  training frames, scored on (a subsample of) the test frames.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from behavenet.errors import ConfigError, FormatError
from behavenet.utils.files import atomic_path

from ._ridge import (
    DEFAULT_ALPHAS,
    RidgeTarget,
    binary_f1,
    decisions_to_labels,
    fit_ridge_grid,
    macro_f1_from_confusion,
    predict_decisions,
)

__all__ = ["TaskSpec", "evaluate_tasks", "results_table", "plot_task_scores"]


@dataclass
class TaskSpec:
    """A downstream task.

    Parameters
    ----------
    name
        Task name (row of the results).
    labels
        Per-frame labels, shape ``(N,)``, or ``{clip: label}`` for a sequence-level task
        (broadcast to the clip's frames). Missing: NaN; for classification also ``-1`` and
        ``None``. Class labels may be numbers, booleans or strings.
    kind
        ``"classification"`` or ``"regression"``.
    level
        ``"frame"`` or ``"sequence"`` (adds the pooled clip-level score).
    positive
        Binary tasks: the positive class for F1 (default: the larger label, e.g. 1 of {0, 1}).
    """

    name: str
    labels: Any
    kind: str = "classification"
    level: str = "frame"
    positive: Any = None


# ----------------------------------------------------------------------------------------------
# Input normalisation
# ----------------------------------------------------------------------------------------------


def _clip_codes(clip_index: Any, n: int) -> tuple[np.ndarray, list]:
    """Per-frame integer clip code (-1 = no clip) and the clip id of every code."""
    if isinstance(clip_index, Mapping):
        ids = list(clip_index)
        codes = np.full(n, -1, dtype=np.int64)
        for k, c in enumerate(ids):
            s, e = (int(v) for v in clip_index[c])
            if not 0 <= s <= e <= n:
                raise FormatError(None, f"clip_index[{c!r}]", f"({s}, {e}) is outside 0..{n}")
            if (codes[s:e] != -1).any():
                raise FormatError(None, f"clip_index[{c!r}]", "overlaps another clip")
            codes[s:e] = k
        return codes, ids
    arr = np.asarray(clip_index)
    if arr.shape != (n,):
        raise FormatError(None, "clip_index", f"expected shape ({n},), found {arr.shape}")
    ids_arr, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64), list(ids_arr.tolist())


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return True
    return False


def _encode_labels(task: TaskSpec, codes: np.ndarray, ids: list, n: int) -> tuple[np.ndarray, list]:
    """Float label per frame (NaN = missing); classification -> class codes 0..K-1."""
    if isinstance(task.labels, Mapping):
        pos = {c: k for k, c in enumerate(ids)}
        per_clip = [None] * len(ids)
        for c, v in task.labels.items():
            if c not in pos:
                raise FormatError(None, f"{task.name}.labels", f"clip {c!r} is not in clip_index")
            per_clip[pos[c]] = v
        raw = np.empty(n, dtype=object)
        known = codes >= 0
        raw[known] = np.asarray(per_clip, dtype=object)[codes[known]]
        raw[~known] = None
    else:
        raw = np.asarray(task.labels)
        if raw.shape != (n,):
            raise FormatError(None, f"{task.name}.labels", f"expected shape ({n},), found {raw.shape}")
    if task.kind == "regression":
        try:
            y = (
                np.array([np.nan if _is_missing(v) else v for v in raw], dtype=np.float64)
                if raw.dtype == object
                else raw.astype(np.float64)
            )
        except (TypeError, ValueError):
            raise FormatError(None, f"{task.name}.labels", "regression labels must be numbers") from None
        return y, []
    if raw.dtype.kind in "fc":
        missing = np.isnan(raw) | (raw == -1)
    elif raw.dtype.kind in "iub":
        missing = raw == -1 if raw.dtype.kind == "i" else np.zeros(n, bool)
    else:
        missing = np.array([_is_missing(v) or (isinstance(v, (int, np.integer)) and v == -1) for v in raw])
    values = raw[~missing]
    classes = sorted(set(values.tolist()))
    if task.positive is not None and len(classes) == 2 and task.positive in classes:
        classes = [c for c in classes if c != task.positive] + [task.positive]
    lookup = {c: i for i, c in enumerate(classes)}
    y = np.full(n, np.nan)
    y[~missing] = [lookup[v] for v in values.tolist()]
    return y, classes


def _runs(values: np.ndarray) -> list[tuple[int, int, int]]:
    """Contiguous (start, end, value) blocks of equal non-negative values."""
    if values.size == 0:
        return []
    change = np.flatnonzero(np.diff(values)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [values.size]])
    return [(int(s), int(e), int(values[s])) for s, e in zip(starts, ends) if values[s] >= 0]


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------


def _metric_name(kind: str, k: int) -> str:
    if kind == "regression":
        return "mse"
    return "f1" if k <= 2 else "macro_f1"


def _score_confusion(cm: np.ndarray, metric: str) -> float:
    if metric == "f1":
        if cm.shape[0] < 2:
            return 0.0
        tp = int(cm[1, 1])
        return binary_f1(tp, int(cm[:, 1].sum()) - tp, int(cm[1, :].sum()) - tp)
    return macro_f1_from_confusion(cm)


def evaluate_tasks(
    embeddings: np.ndarray,
    clip_index: Any,
    tasks: Sequence[TaskSpec],
    train_clips: Sequence[Hashable],
    test_clips: Sequence[Hashable],
    *,
    seeds: Sequence[int] = (42, 43, 44),
    test_size: float = 0.1,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    headline_alpha: float = 1.0,
    knn_neighbors: int | None = 5,
    knn_max_train: int = 20_000,
    knn_max_test: int | None = 50_000,
    random_state: int = 0,
    chunk_rows: int = 65536,
) -> dict[str, dict[str, Any]]:
    """Linear-probe (and kNN) evaluation of frame embeddings on labelled tasks.

    Parameters
    ----------
    embeddings
        ``(N, D)`` float array (a memory map is fine; the ridge probes stream it).
    clip_index
        Clip id of every frame (``(N,)``), or ``{clip: (start, end)}`` row ranges.
    tasks
        The tasks (see :class:`TaskSpec`).
    train_clips, test_clips
        Clip ids whose frames train / test the probes. The order of ``train_clips`` matters
        (it is what ``train_test_split`` shuffles), as in the MABe protocol.
    seeds, test_size
        One probe per seed, each trained on ``1 - test_size`` of the training clips. With fewer
        than two training clips every seed uses all of them.
    alphas, headline_alpha
        Ridge penalties; ``ridge`` reports ``headline_alpha``.
    knn_neighbors
        ``k`` of the kNN decoder; ``None`` skips it.
    knn_max_train, knn_max_test
        Random subsample sizes (frames) for the kNN decoder (``None``: all test frames).
    random_state
        Seed of the kNN subsamples.
    chunk_rows
        Rows converted to float64 at once by the ridge probes.

    Returns
    -------
    dict
        ``{task: {...}}`` with ``kind``, ``level``, ``metric`` (``f1`` / ``macro_f1`` /
        ``mse``), ``n_classes``, ``n_train_frames``, ``n_test_frames``, ``ridge`` (headline
        alpha, seeds merged), ``ridge_no_ensemble`` (mean single-seed score),
        ``ridge_alpha_<a>`` (every alpha), ``ridge_r2`` (regression), ``ridge_pooled`` and
        ``knn_pooled`` (sequence-level tasks), ``knn``.
    """
    from sklearn.model_selection import train_test_split

    X = embeddings
    if X.ndim != 2:
        raise FormatError(None, "embeddings", f"expected a 2-D array, found shape {X.shape}")
    n = int(X.shape[0])
    alphas = [float(a) for a in alphas]
    if float(headline_alpha) not in alphas:
        raise ConfigError("headline_alpha", f"{headline_alpha} is not one of the alphas {alphas}")
    ha = alphas.index(float(headline_alpha))
    for t in tasks:
        if t.kind not in ("classification", "regression"):
            raise ConfigError(f"{t.name}.kind", f"expected 'classification' or 'regression', got {t.kind!r}")
        if t.level not in ("frame", "sequence"):
            raise ConfigError(f"{t.name}.level", f"expected 'frame' or 'sequence', got {t.level!r}")
    codes, ids = _clip_codes(clip_index, n)
    pos = {c: k for k, c in enumerate(ids)}
    for name, lst in (("train_clips", train_clips), ("test_clips", test_clips)):
        missing = [c for c in lst if c not in pos]
        if missing:
            raise FormatError(None, name, f"clip {missing[0]!r} is not in clip_index")
    train = list(train_clips)
    if len(train) >= 2 and test_size > 0:
        seed_clips = [list(train_test_split(train, test_size=test_size, random_state=s)[0]) for s in seeds]
    else:
        seed_clips = [train for _ in seeds]

    # clip groups by membership across seeds -> contiguous training runs
    member = np.zeros(len(ids), dtype=np.int64)
    for si, clips in enumerate(seed_clips):
        for c in clips:
            member[pos[c]] |= 1 << si
    sigs = sorted({int(m) for m in member if m})
    gid_of_sig = {s: i for i, s in enumerate(sigs)}
    clip_group = np.array([gid_of_sig.get(int(m), -1) for m in member], dtype=np.int64)
    row_group = np.where(codes >= 0, clip_group[np.maximum(codes, 0)], -1)
    train_runs = _runs(row_group)
    fit_groups = [[gid_of_sig[s] for s in sigs if s >> si & 1] for si in range(len(seeds))]
    test_pos = np.full(len(ids), -1, dtype=np.int64)
    for k, c in enumerate(test_clips):
        test_pos[pos[c]] = k
    row_test = np.where(codes >= 0, test_pos[np.maximum(codes, 0)], -1)
    test_runs = _runs(row_test)
    train_rows_mask = row_group >= 0
    test_rows_mask = row_test >= 0

    encoded = [_encode_labels(t, codes, ids, n) for t in tasks]
    results: dict[str, dict[str, Any]] = {}
    fit_tasks, targets = [], []
    for ti, (t, (y, classes)) in enumerate(zip(tasks, encoded)):
        k = len(classes)
        res: dict[str, Any] = {
            "kind": t.kind,
            "level": t.level,
            "metric": _metric_name(t.kind, k),
            "n_classes": k if t.kind == "classification" else None,
            "n_train_frames": int((~np.isnan(y[train_rows_mask])).sum()),
            "n_test_frames": int((~np.isnan(y[test_rows_mask])).sum()),
        }
        results[t.name] = res
        ok = res["n_train_frames"] > 0 and res["n_test_frames"] > 0
        if ok:
            for clips in seed_clips:
                rows = np.isin(codes, [pos[c] for c in clips])
                if np.isnan(y[rows]).all():
                    ok = False
        if not ok:
            res["error"] = "no labelled frame in the training or test clips"
            continue
        fit_tasks.append(ti)
        targets.append(RidgeTarget(t.name, y, t.kind == "classification"))

    if targets:
        fits = fit_ridge_grid(X, train_runs, fit_groups, targets, alphas, chunk_rows=chunk_rows)
        _score_ridge(X, fits, fit_tasks, tasks, encoded, test_runs, len(test_clips), alphas, ha, results, chunk_rows)
    if knn_neighbors:
        rng = np.random.default_rng(random_state)
        for ti in fit_tasks:
            _score_knn(
                X,
                tasks[ti],
                encoded[ti],
                train_rows_mask,
                row_test,
                len(test_clips),
                knn_neighbors,
                knn_max_train,
                knn_max_test,
                rng,
                results[tasks[ti].name],
            )
    return results


def _merge(preds: np.ndarray, scores: np.ndarray | None, kind: str, k: int) -> np.ndarray:
    """Merge per-seed predictions ``(seeds, rows, alphas)`` into ``(rows, alphas)``."""
    if kind == "regression":
        return np.mean(preds, axis=0)
    if k <= 2:
        return (np.mean(preds, axis=0) > 0).astype(np.int64)  # OR vote on codes {0, 1}
    votes = (preds[..., None] == np.arange(k)).sum(axis=0)  # (rows, alphas, k)
    best = votes == votes.max(axis=-1, keepdims=True)
    return np.argmax(np.where(best, scores, -np.inf), axis=-1)


def _class_scores(dec: np.ndarray, classes: np.ndarray, k: int) -> np.ndarray:
    """Per-class decision values ``(rows, alphas, k)``; classes absent from the fit get -inf."""
    out = np.full(dec.shape[:2] + (k,), -np.inf)
    c = classes.astype(np.int64)
    if dec.shape[-1] == 0:
        out[..., c[0]] = 0.0
    elif dec.shape[-1] == 1:
        out[..., c[1]] = dec[..., 0]
        out[..., c[0]] = -dec[..., 0]
    else:
        out[..., c] = dec
    return out


def _clip_vote(counts: np.ndarray, metric: str) -> np.ndarray:
    """Clip label from per-class frame counts: binary -> mean >= 0.5 (MABe), else plurality."""
    if metric == "f1":
        return (counts[:, 1] / counts.sum(axis=1) >= 0.5).astype(np.int64)
    return np.argmax(counts, axis=1)


def _pooled_classification(clip_true: np.ndarray, clip_pred: np.ndarray, metric: str) -> float:
    has = clip_true.sum(axis=1) > 0
    truth = _clip_vote(clip_true[has], metric)
    pred = _clip_vote(clip_pred[has], metric)
    k = clip_true.shape[1]
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (truth, pred), 1)
    return _score_confusion(cm, metric)


def _score_ridge(
    X: np.ndarray,
    fits: list,
    fit_tasks: list[int],
    tasks: Sequence[TaskSpec],
    encoded: list,
    test_runs: list,
    n_test_clips: int,
    alphas: list[float],
    ha: int,
    results: dict,
    chunk_rows: int,
) -> None:
    n_seeds = len(fits[0].coef)
    n_a = len(alphas)
    acc = []
    for ti in fit_tasks:
        t = tasks[ti]
        k = len(encoded[ti][1])
        st: dict[str, Any] = {}
        if t.kind == "classification":
            kk = max(k, 2)
            st["cm"] = np.zeros((n_a, kk, kk), dtype=np.int64)
            st["cm_seed"] = np.zeros((n_seeds, kk, kk), dtype=np.int64)
            st["clip_true"] = np.zeros((n_test_clips, kk), dtype=np.int64)
            st["clip_pred"] = np.zeros((n_test_clips, kk), dtype=np.int64)
        else:
            st.update(
                sse=np.zeros(n_a),
                sse_seed=np.zeros(n_seeds),
                sy=0.0,
                syy=0.0,
                n=0,
                clip_true=np.zeros(n_test_clips),
                clip_pred=np.zeros(n_test_clips),
                clip_n=np.zeros(n_test_clips, dtype=np.int64),
            )
        acc.append(st)
    for a, b, clip_k, dec in predict_decisions(X, test_runs, fits, chunk_rows=chunk_rows):
        for fi, ti in enumerate(fit_tasks):
            t, (y, classes) = tasks[ti], encoded[ti]
            yb = y[a:b]
            valid = ~np.isnan(yb)
            if not valid.any():
                continue
            yv = yb[valid]
            st = acc[fi]
            if t.kind == "classification":
                k = max(len(classes), 2)
                preds = np.stack(
                    [decisions_to_labels(dec[fi][s][valid], fits[fi].classes[s]) for s in range(n_seeds)]
                ).astype(np.int64)
                scores = None
                if len(classes) > 2:
                    scores = np.mean(
                        [_class_scores(dec[fi][s][valid], fits[fi].classes[s], k) for s in range(n_seeds)], axis=0
                    )
                merged = _merge(preds, scores, t.kind, len(classes))
                yi = yv.astype(np.int64)
                for ai in range(len(alphas)):
                    np.add.at(st["cm"][ai], (yi, merged[:, ai]), 1)
                for s in range(n_seeds):
                    np.add.at(st["cm_seed"][s], (yi, preds[s, :, ha]), 1)
                st["clip_true"][clip_k] += np.bincount(yi, minlength=k)
                st["clip_pred"][clip_k] += np.bincount(merged[:, ha], minlength=k)
            else:
                preds = np.stack([dec[fi][s][valid][..., 0] for s in range(n_seeds)])
                merged = np.mean(preds, axis=0)
                st["sse"] += np.sum((yv[:, None] - merged) ** 2, axis=0)
                st["sse_seed"] += np.sum((yv[None, :] - preds[:, :, ha]) ** 2, axis=1)
                st["sy"] += float(yv.sum())
                st["syy"] += float((yv**2).sum())
                st["n"] += yv.size
                st["clip_true"][clip_k] += yv.sum()
                st["clip_pred"][clip_k] += merged[:, ha].sum()
                st["clip_n"][clip_k] += yv.size
    for fi, ti in enumerate(fit_tasks):
        t, res, st = tasks[ti], results[tasks[ti].name], acc[fi]
        metric = res["metric"]
        if t.kind == "classification":
            per_alpha = [_score_confusion(st["cm"][ai], metric) for ai in range(len(alphas))]
            res["ridge_no_ensemble"] = float(np.mean([_score_confusion(c, metric) for c in st["cm_seed"]]))
            if t.level == "sequence":
                res["ridge_pooled"] = _pooled_classification(st["clip_true"], st["clip_pred"], metric)
        else:
            per_alpha = [float(v / st["n"]) for v in st["sse"]]
            res["ridge_no_ensemble"] = float(np.mean(st["sse_seed"] / st["n"]))
            sst = st["syy"] - st["sy"] ** 2 / st["n"]
            res["ridge_r2"] = float(1.0 - st["sse"][ha] / sst) if sst > 0 else float("nan")
            if t.level == "sequence":
                has = st["clip_n"] > 0
                res["ridge_pooled"] = float(
                    np.mean((st["clip_true"][has] / st["clip_n"][has] - st["clip_pred"][has] / st["clip_n"][has]) ** 2)
                )
        res["ridge"] = per_alpha[ha]
        for a, v in zip(alphas, per_alpha):
            res[f"ridge_alpha_{a:g}"] = v


def _score_knn(
    X: np.ndarray,
    task: TaskSpec,
    enc: tuple[np.ndarray, list],
    train_rows_mask: np.ndarray,
    row_test: np.ndarray,
    n_test_clips: int,
    k: int,
    max_train: int,
    max_test: int | None,
    rng: np.random.Generator,
    res: dict,
) -> None:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    y, classes = enc
    tr = np.flatnonzero(train_rows_mask & ~np.isnan(y))
    te = np.flatnonzero((row_test >= 0) & ~np.isnan(y))
    if tr.size > max_train:
        tr = np.sort(rng.choice(tr, max_train, replace=False))
    if max_test is not None and te.size > max_test:
        te = np.sort(rng.choice(te, max_test, replace=False))
    Xtr = np.asarray(X[tr], dtype=np.float64)
    Xte = np.asarray(X[te], dtype=np.float64)
    nn = min(k, tr.size)
    metric = res["metric"]
    if task.kind == "classification":
        model = KNeighborsClassifier(n_neighbors=nn).fit(Xtr, y[tr].astype(np.int64))
        pred = model.predict(Xte).astype(np.int64)
        kk = max(len(classes), 2)
        truth = y[te].astype(np.int64)
        cm = np.zeros((kk, kk), dtype=np.int64)
        np.add.at(cm, (truth, pred), 1)
        res["knn"] = _score_confusion(cm, metric)
        if task.level == "sequence":
            clip = row_test[te]
            ct = np.zeros((n_test_clips, kk), dtype=np.int64)
            cp = np.zeros((n_test_clips, kk), dtype=np.int64)
            np.add.at(ct, (clip, truth), 1)
            np.add.at(cp, (clip, pred), 1)
            res["knn_pooled"] = _pooled_classification(ct, cp, metric)
    else:
        model = KNeighborsRegressor(n_neighbors=nn).fit(Xtr, y[tr])
        pred = model.predict(Xte)
        res["knn"] = float(np.mean((y[te] - pred) ** 2))
        if task.level == "sequence":
            clip = row_test[te]
            cnt = np.bincount(clip, minlength=n_test_clips)
            has = cnt > 0
            mt = np.bincount(clip, weights=y[te], minlength=n_test_clips)[has] / cnt[has]
            mp = np.bincount(clip, weights=pred, minlength=n_test_clips)[has] / cnt[has]
            res["knn_pooled"] = float(np.mean((mt - mp) ** 2))
    res["knn_train_frames"] = int(tr.size)
    res["knn_test_frames"] = int(te.size)


# ----------------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------------


def results_table(results: Mapping[str, Mapping[str, Any]]):  # noqa: ANN201 - pandas lazily
    """The results of :func:`evaluate_tasks` as a :class:`pandas.DataFrame` (one row per task)."""
    import pandas as pd

    return pd.DataFrame.from_dict({k: dict(v) for k, v in results.items()}, orient="index")


def plot_task_scores(
    results: Mapping[str, Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    title: str | None = None,
) -> str:
    """Bar plot of the ridge (headline alpha) and kNN scores of every task; saves a PNG.

    Classification tasks (F1, higher is better) and regression tasks (MSE, lower is better) get
    separate panels. Draws on matplotlib's Agg canvas without touching pyplot's global state;
    the file is written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups = [
        ("F1 (higher is better)", [k for k, v in results.items() if v.get("metric") in ("f1", "macro_f1")]),
        ("MSE (lower is better)", [k for k, v in results.items() if v.get("metric") == "mse"]),
    ]
    groups = [(label, names) for label, names in groups if names]
    if not groups:
        raise ConfigError("results", "no task to plot")
    # a bare Figure on the Agg canvas: no pyplot state, safe inside training code
    fig = Figure(figsize=(max(4, 1.1 * sum(len(g[1]) for g in groups) + 2), 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(groups), squeeze=False)
    series = [("ridge", "ridge (alpha 1)"), ("ridge_pooled", "ridge pooled"), ("knn", "kNN")]
    for ax, (label, names) in zip(axes[0], groups):
        present = [(key, lab) for key, lab in series if any(key in results[n] for n in names)]
        width = 0.8 / max(len(present), 1)
        x = np.arange(len(names))
        for j, (key, lab) in enumerate(present):
            vals = [results[n].get(key, np.nan) for n in names]
            ax.bar(x + (j - (len(present) - 1) / 2) * width, vals, width, label=lab)
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=45, ha="right")
        ax.set_ylabel(label)
        if label.startswith("F1"):
            ax.set_ylim(0, 1)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    name = os.fspath(path)
    with atomic_path(name, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return name
