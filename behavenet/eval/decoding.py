"""Decoders that read behaviour out of an embedding: kNN and linear, regression and classification.

These are the decoders behind ``metrics.json`` (held-out position decoding on the demo) and the
``decoding`` section of every run. Fit on training frames, score on held-out frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, r2_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor


@dataclass
class DecodingResult:
    """Scores of one decoder on held-out data."""

    kind: str  # "regression" | "classification"
    decoder: str  # "knn" | "linear"
    r2: float | None = None
    median_abs_error: float | None = None
    accuracy: float | None = None
    f1_macro: float | None = None

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        out = {}
        for key in ("r2", "median_abs_error", "accuracy", "f1_macro"):
            val = getattr(self, key)
            if val is not None:
                out[f"{prefix}{key}"] = float(val)
        return out


def _as2d(y):
    y = np.asarray(y)
    return y.reshape(len(y), -1)


def knn_regression(train_x, train_y, test_x, test_y, n_neighbors: int = 25, metric: str = "cosine") -> DecodingResult:
    """kNN regression (distance-weighted mean of neighbours' labels); R² and median |error|.

    ``median_abs_error`` is the median over frames of the Euclidean norm of the error vector
    (for a 1-D label, the absolute error), in label units.
    """
    train_y, test_y = _as2d(train_y).astype(np.float64), _as2d(test_y).astype(np.float64)
    k = int(min(n_neighbors, len(train_x)))
    model = KNeighborsRegressor(n_neighbors=k, metric=metric, weights="uniform")
    model.fit(np.asarray(train_x), train_y)
    pred = _as2d(model.predict(np.asarray(test_x)))
    err = np.linalg.norm(pred - test_y, axis=1)
    return DecodingResult("regression", "knn", r2=float(r2_score(test_y, pred)), median_abs_error=float(np.median(err)))


def linear_regression(train_x, train_y, test_x, test_y, alpha: float = 1e-3) -> DecodingResult:
    """Ridge regression decoder (small ``alpha``); R² and median |error| on the test frames."""
    train_y, test_y = _as2d(train_y).astype(np.float64), _as2d(test_y).astype(np.float64)
    model = Ridge(alpha=alpha).fit(np.asarray(train_x, dtype=np.float64), train_y)
    pred = _as2d(model.predict(np.asarray(test_x, dtype=np.float64)))
    err = np.linalg.norm(pred - test_y, axis=1)
    return DecodingResult(
        "regression", "linear", r2=float(r2_score(test_y, pred)), median_abs_error=float(np.median(err))
    )


def knn_classification(
    train_x, train_y, test_x, test_y, n_neighbors: int = 25, metric: str = "cosine"
) -> DecodingResult:
    """kNN classifier; accuracy and macro F1. Labels ``< 0`` (unlabelled) are ignored."""
    train_x, train_y, test_x, test_y = _drop_unlabelled(train_x, train_y, test_x, test_y)
    k = int(min(n_neighbors, len(train_x)))
    model = KNeighborsClassifier(n_neighbors=k, metric=metric).fit(train_x, train_y)
    pred = model.predict(test_x)
    return DecodingResult(
        "classification",
        "knn",
        accuracy=float(accuracy_score(test_y, pred)),
        f1_macro=float(f1_score(test_y, pred, average="macro")),
    )


def linear_classification(train_x, train_y, test_x, test_y, C: float = 1.0) -> DecodingResult:
    """Logistic-regression decoder; accuracy and macro F1. Labels ``< 0`` are ignored."""
    train_x, train_y, test_x, test_y = _drop_unlabelled(train_x, train_y, test_x, test_y)
    model = LogisticRegression(C=C, max_iter=1000).fit(train_x, train_y)
    pred = model.predict(test_x)
    return DecodingResult(
        "classification",
        "linear",
        accuracy=float(accuracy_score(test_y, pred)),
        f1_macro=float(f1_score(test_y, pred, average="macro")),
    )


def _drop_unlabelled(train_x, train_y, test_x, test_y):
    train_y, test_y = np.asarray(train_y).reshape(-1), np.asarray(test_y).reshape(-1)
    keep_tr, keep_te = train_y >= 0, test_y >= 0
    return (np.asarray(train_x)[keep_tr], train_y[keep_tr], np.asarray(test_x)[keep_te], test_y[keep_te])


def decode(train_x, train_y, test_x, test_y, kind: str, decoder: str = "knn", **kwargs) -> DecodingResult:
    """Dispatch on ``kind`` ("continuous"/"regression" or "discrete"/"classification")."""
    regression = kind in ("continuous", "regression")
    if decoder == "knn":
        fn = knn_regression if regression else knn_classification
    elif decoder == "linear":
        fn = linear_regression if regression else linear_classification
    else:
        raise ValueError(f"unknown decoder {decoder!r}; use 'knn' or 'linear'")
    return fn(train_x, train_y, test_x, test_y, **kwargs)
