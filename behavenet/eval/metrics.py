"""Embedding-quality metrics: consistency across runs or sessions, goodness of fit, latent R².

* :func:`consistency_score`: R² of a linear map from one embedding to another, for every ordered
  pair of runs (same frames) or of sessions (different frames, compared after averaging the
  embedding within label bins). In-sample as in CEBRA's paper, or held out.
* :func:`goodness_of_fit_bits` / :func:`goodness_of_fit_history` / :func:`goodness_of_fit_score`:
  InfoNCE expressed in bits above a collapsed embedding.
* :func:`latent_r2`: linear R² from an embedding to a ground-truth latent (synthetic data),
  in-sample or held out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from behavenet.errors import BehavenetError

__all__ = [
    "ConsistencyResult",
    "MetricInputError",
    "bin_embedding",
    "consistency_score",
    "goodness_of_fit_bits",
    "goodness_of_fit_history",
    "goodness_of_fit_score",
    "infonce_to_goodness_of_fit",
    "latent_r2",
]


class MetricInputError(BehavenetError, ValueError):
    """Bad arguments to a metric (one-line message naming the argument)."""


def _value_error(what: str, message: str) -> MetricInputError:
    return MetricInputError(f"{what}: {' '.join(message.split())}")


def _as2d(x, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise _value_error(what, f"expected a (T, D) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise _value_error(what, "contains NaN or infinite values")
    return arr


# ---------------------------------------------------------------------- goodness of fit
def goodness_of_fit_bits(loss, batch_size: int, n_sessions: int = 1):
    """InfoNCE -> bits: ``(log(batch_size * n_sessions) - loss) * log2(e)``.

    0 bits is the loss of an embedding that maps every frame to the same point. The formula is
    :func:`behavenet.models.contrastive.losses.goodness_of_fit_bits`; this entry point checks its
    arguments (a one-line :class:`MetricInputError`) and computes in float64 numpy (floats, lists,
    arrays and CPU tensors are accepted).
    """
    from behavenet.models.contrastive.losses import goodness_of_fit_bits as bits  # imports torch

    if batch_size < 1 or n_sessions < 1:
        raise _value_error("batch_size", f"batch_size and n_sessions must be >= 1, got {batch_size}, {n_sessions}")
    return bits(np.asarray(loss, dtype=np.float64), batch_size, n_sessions)


infonce_to_goodness_of_fit = goodness_of_fit_bits


def goodness_of_fit_history(estimator) -> np.ndarray:
    """Per-step goodness of fit (bits) of a fitted ``ContrastiveEmbedding``'s training loss."""
    hist = np.asarray(estimator.history_, dtype=np.float64)
    if getattr(estimator.model_, "hybrid", False):
        hist = hist / 2  # two InfoNCE terms
    return goodness_of_fit_bits(hist, int(estimator.batch_size), int(estimator.num_sessions_))


def goodness_of_fit_score(estimator, X, *y, num_batches: int = 100, seed: int = 12345) -> float:
    """Goodness of fit (bits) of a fitted ``ContrastiveEmbedding`` on data ``X`` (and labels)."""
    return estimator.goodness_of_fit_score(X, *y, num_batches=num_batches, seed=seed)


# ---------------------------------------------------------------------- latent R²
def _split_rows(n: int, test_fraction: float, split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < test_fraction < 1:
        raise _value_error("test_fraction", f"expected a number in (0, 1), got {test_fraction}")
    n_test = max(1, int(round(n * test_fraction)))
    if n - n_test < 2:
        raise _value_error("test_fraction", f"too few rows ({n}) for a held-out split")
    if split == "contiguous":
        idx = np.arange(n)
        return idx[: n - n_test], idx[n - n_test :]
    if split == "random":
        perm = np.random.default_rng(seed).permutation(n)
        return np.sort(perm[n_test:]), np.sort(perm[:n_test])
    raise _value_error("split", f"expected 'contiguous' or 'random', got {split!r}")


def latent_r2(
    embedding, latent, held_out: bool = False, test_fraction: float = 0.2, split: str = "contiguous", seed: int = 0
) -> dict:
    """Linear R² from an embedding ``(T, D)`` to a ground-truth latent ``(T, k)``.

    ``held_out=False``: fit and score on all rows (the in-sample score CEBRA reports for its
    synthetic experiment). ``held_out=True``: fit on the first ``1 - test_fraction`` rows
    (``split="contiguous"``, for time series) or a random subset (``"random"``, for i.i.d.
    samples) and score on the rest. Returns ``{"r2", "r2_per_dim"}``.
    """
    emb = _as2d(embedding, "embedding")
    lat = _as2d(latent, "latent")
    if len(emb) != len(lat):
        raise _value_error("latent", f"has {len(lat)} rows, the embedding has {len(emb)}")
    if held_out:
        tr, te = _split_rows(len(emb), test_fraction, split, seed)
    else:
        tr = te = np.arange(len(emb))
    reg = LinearRegression().fit(emb[tr], lat[tr])
    pred = reg.predict(emb[te])
    per_dim = r2_score(lat[te], pred, multioutput="raw_values")
    return {"r2": float(np.mean(per_dim)), "r2_per_dim": [float(v) for v in per_dim]}


# ---------------------------------------------------------------------- consistency
@dataclass
class ConsistencyResult:
    """Pairwise consistency. ``matrix[i, j]``: R² predicting embedding ``j`` from ``i``
    (NaN on the diagonal and for pairs without enough shared bins)."""

    matrix: np.ndarray
    between: str
    held_out: bool
    n_bins_used: dict = field(default_factory=dict)

    @property
    def pairs(self) -> list[tuple[int, int, float]]:
        n = len(self.matrix)
        return [
            (i, j, float(self.matrix[i, j]))
            for i in range(n)
            for j in range(n)
            if i != j and np.isfinite(self.matrix[i, j])
        ]

    @property
    def mean(self) -> float:
        vals = [v for _, _, v in self.pairs]
        return float(np.mean(vals)) if vals else float("nan")

    def as_dict(self) -> dict:
        return {
            "between": self.between,
            "held_out": self.held_out,
            "mean": self.mean,
            "matrix": self.matrix.tolist(),
            "n_bins_used": {f"{i}-{j}": n for (i, j), n in self.n_bins_used.items()},
        }


def bin_embedding(
    embedding, labels, edges: list[np.ndarray] | None = None, n_bins: int = 100, label_kind: str = "continuous"
) -> tuple[np.ndarray, np.ndarray]:
    """Average an embedding within label bins.

    Continuous labels ``(T,)`` or ``(T, k)`` are digitised on a grid (``edges`` per dimension,
    or ``n_bins`` equal bins over the data's range); discrete labels use their classes as bins
    (negative classes are ignored). Returns ``(bin_ids, means)``: the ids of the non-empty bins
    and the ``(n_nonempty, D)`` mean embedding of each.
    """
    emb = _as2d(embedding, "embedding")
    if label_kind == "discrete":
        lab = np.asarray(labels).reshape(len(emb))
        keep = lab >= 0
        ids = lab[keep].astype(np.int64)
        emb = emb[keep]
    elif label_kind == "continuous":
        lab = _as2d(labels, "labels")
        if len(lab) != len(emb):
            raise _value_error("labels", f"has {len(lab)} rows, the embedding has {len(emb)}")
        if edges is None:
            edges = [np.linspace(lab[:, d].min(), lab[:, d].max(), n_bins + 1) for d in range(lab.shape[1])]
        ids = np.zeros(len(lab), dtype=np.int64)
        for d, e in enumerate(edges):
            nb = len(e) - 1
            b = np.clip(np.searchsorted(e, lab[:, d], side="right") - 1, 0, nb - 1)
            ids = ids * nb + b
    else:
        raise _value_error("label_kind", f"expected 'continuous' or 'discrete', got {label_kind!r}")
    if len(emb) != len(ids):
        raise _value_error("labels", f"has {len(ids)} rows, the embedding has {len(emb)}")
    uniq, inverse = np.unique(ids, return_inverse=True)
    sums = np.zeros((len(uniq), emb.shape[1]))
    np.add.at(sums, inverse, emb)
    counts = np.bincount(inverse, minlength=len(uniq))
    return uniq, sums / counts[:, None]


def _pair_r2(x: np.ndarray, y: np.ndarray, held_out: bool, test_fraction: float, rng) -> float:
    if held_out:
        n = len(x)
        n_test = max(1, int(round(n * test_fraction)))
        if n - n_test < 2:
            return float("nan")
        perm = rng.permutation(n)
        tr, te = perm[n_test:], perm[:n_test]
    else:
        tr = te = np.arange(len(x))
    reg = LinearRegression().fit(x[tr], y[tr])
    return float(r2_score(y[te], reg.predict(x[te])))


def consistency_score(
    embeddings: list,
    between: str = "runs",
    labels: list | None = None,
    n_bins: int = 100,
    label_kind: str = "continuous",
    held_out: bool = False,
    test_fraction: float = 0.2,
    min_bins: int = 5,
    seed: int = 0,
) -> ConsistencyResult:
    """Consistency of embeddings: R² of a linear map from embedding ``i`` to ``j`` for each pair.

    Parameters
    ----------
    embeddings
        List of ``(T_i, D_i)`` arrays.
    between
        ``"runs"``: the embeddings are of the same frames (same ``T``); the map is fitted frame
        to frame. ``"sessions"``: different recordings aligned through ``labels``: each
        embedding is averaged within label bins (common bin edges over all sessions, ``n_bins``
        per label dimension, or the classes of a discrete label) and the map is fitted between
        the bins that are non-empty in *both* sessions (pairs sharing fewer than ``min_bins``
        bins get NaN instead of an error).
    labels
        One label array per embedding (``between="sessions"`` only).
    held_out
        ``False``: fit and score on the same frames/bins (CEBRA's definition). ``True``: fit on
        a random ``1 - test_fraction`` of the frames (runs) or bins (sessions), score on the rest.
    """
    if between not in ("runs", "sessions", "datasets"):
        raise _value_error("between", f"expected 'runs' or 'sessions', got {between!r}")
    if len(embeddings) < 2:
        raise _value_error("embeddings", f"need at least 2 embeddings, got {len(embeddings)}")
    embs = [_as2d(e, f"embeddings[{i}]") for i, e in enumerate(embeddings)]
    rng = np.random.default_rng(seed)
    n = len(embs)
    matrix = np.full((n, n), np.nan)
    used: dict = {}
    if between == "runs":
        if labels is not None:
            raise _value_error("labels", "only used with between='sessions'")
        lengths = {len(e) for e in embs}
        if len(lengths) != 1:
            raise _value_error("embeddings", f"runs must embed the same frames, got lengths {sorted(lengths)}")
        for i in range(n):
            for j in range(n):
                if i != j:
                    matrix[i, j] = _pair_r2(embs[i], embs[j], held_out, test_fraction, rng)
        return ConsistencyResult(matrix, "runs", held_out)

    if labels is None or len(labels) != n:
        raise _value_error("labels", f"between='sessions' needs one label array per embedding ({n})")
    edges = None
    if label_kind == "continuous":
        labs = [_as2d(l, f"labels[{i}]") for i, l in enumerate(labels)]
        dims = {l.shape[1] for l in labs}
        if len(dims) != 1:
            raise _value_error("labels", f"all sessions need the same label dimension, got {sorted(dims)}")
        allv = np.concatenate(labs)
        edges = [np.linspace(allv[:, d].min(), allv[:, d].max(), n_bins + 1) for d in range(allv.shape[1])]
    else:
        labs = labels
    binned = [bin_embedding(e, l, edges, n_bins, label_kind) for e, l in zip(embs, labs)]
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            ids_i, mean_i = binned[i]
            ids_j, mean_j = binned[j]
            shared, ai, aj = np.intersect1d(ids_i, ids_j, return_indices=True)
            used[(i, j)] = int(len(shared))
            if len(shared) < max(2, min_bins):
                continue
            matrix[i, j] = _pair_r2(mean_i[ai], mean_j[aj], held_out, test_fraction, rng)
    return ConsistencyResult(matrix, "sessions", held_out, used)
