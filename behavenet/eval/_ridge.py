"""Ridge probes fitted from sufficient statistics (shared by :mod:`.mabe` and :mod:`.probes`).

The MABe protocol fits, for every seed, every task and every alpha, either
``sklearn.linear_model.Ridge(alpha)`` or ``RidgeClassifier(class_weight='balanced', alpha)`` on the
frames of a subset of clips. All of those fits are functions of a few sums over the frames:

* ridge with an intercept solves the centred normal equations
  ``(Xc' W Xc + alpha I) beta = Xc' W yc`` with ``Xc = X - weighted mean`` (sklearn's ``cholesky``
  solver, which ``solver='auto'`` picks for dense inputs);
* ``RidgeClassifier`` encodes the classes as ``{-1, +1}`` targets (one column for two classes, one
  column per class otherwise) and ``class_weight='balanced'`` gives every frame of class ``c``
  the weight ``n / (n_classes * n_c)``. Because the weight and the target only depend on the
  class, every weighted sum splits into per-class sums ``n_c``, ``sum x`` and ``sum x x'``.

So one pass over the embedding matrix that accumulates, in float64, per *clip group* and per
*frame subset* the count, the sum and the scatter matrix is enough to solve every
seed x task x alpha fit exactly (up to float64 rounding) without ever copying the matrix.
Clip groups are the sets of clips that share the same membership across the fits (with three
seeds that drop 10% each there are at most 7 groups), so the statistics of one fit are the sum
over the groups it includes. Frame subsets are kept small: the NaN frames of a task (or its
labelled frames, whichever is rarer; tasks with identical masks share them) and every class but
the largest (which is the labelled total minus the others).

Predictions are then one matrix product per chunk of test frames with all fitted coefficient
vectors stacked side by side.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from behavenet.errors import BehavenetError

__all__ = [
    "DEFAULT_ALPHAS",
    "RidgeTarget",
    "RidgeFit",
    "Run",
    "fit_ridge_grid",
    "predict_decisions",
    "decisions_to_labels",
    "binary_f1",
    "macro_f1_from_confusion",
    "chunked_runs",
    "SKLEARN_COMPAT_VERSION",
    "fit_ridge_sklearn32",
    "predict_decisions_sklearn32",
]

#: The alpha grid of the MABe22 round-1 evaluator; the headline score uses ``alpha = 1.0``.
DEFAULT_ALPHAS: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0)

#: A contiguous block of rows ``[start, end)`` that all belong to clip group ``group``.
Run = tuple[int, int, int]


@dataclass
class RidgeTarget:
    """One target to fit.

    Parameters
    ----------
    name
        Used in error messages.
    y
        Labels for every row of the embedding matrix (length ``N``); NaN marks a missing label.
        For classification the distinct non-NaN values are the classes.
    classification
        ``True`` for ``RidgeClassifier(class_weight='balanced')``, ``False`` for ``Ridge``.
    """

    name: str
    y: np.ndarray
    classification: bool


@dataclass
class RidgeFit:
    """The fitted probes of one target, one entry per fit (seed).

    ``coef[f]`` has shape ``(n_alphas, D, n_columns)`` and ``intercept[f]`` ``(n_alphas,
    n_columns)``, where ``n_columns`` is 1 for regression and for two classes, the number of
    classes for more than two, and 0 when the training frames contain a single class (the
    prediction is then that class, as sklearn's ``RidgeClassifier`` does). ``classes[f]`` holds
    the class values (sorted, the dtype of the labels) seen in fit ``f``.
    """

    target: RidgeTarget
    classes: list[np.ndarray] = field(default_factory=list)
    coef: list[np.ndarray] = field(default_factory=list)
    intercept: list[np.ndarray] = field(default_factory=list)
    n_train: list[int] = field(default_factory=list)
    solvers: list[str] = field(default_factory=list)  # float32 compat fits: the solver(s) used


class _Acc:
    """Per-group count, sum and scatter of the (shifted) rows of one frame subset."""

    __slots__ = ("n", "s1", "s2")

    def __init__(self, n_groups: int, dim: int):
        self.n = np.zeros(n_groups, dtype=np.int64)
        self.s1 = np.zeros((n_groups, dim))
        self.s2 = np.zeros((n_groups, dim, dim))

    def add(self, g: int, a: np.ndarray) -> None:
        self.n[g] += a.shape[0]
        self.s1[g] += a.sum(axis=0)
        self.s2[g] += np.dot(a.T, a)  # numpy uses syrk for a'a

    def total(self, groups: Sequence[int]) -> tuple[int, np.ndarray, np.ndarray]:
        idx = list(groups)
        return int(self.n[idx].sum()), self.s1[idx].sum(axis=0), self.s2[idx].sum(axis=0)


@dataclass
class _Plan:
    """How the statistics of one target are assembled."""

    target: RidgeTarget
    valid_mode: str  # "all" (no NaN), "complement" (all - nan), "direct" (valid rows)
    mask_key: int  # index of the shared NaN/valid mask accumulator (-1 for "all")
    classes: np.ndarray  # classification: all class values seen in the training rows
    largest: int  # index (into classes) of the class derived by subtraction
    y_shift: float = 0.0  # regression: subtracted from y before accumulating


def chunked_runs(runs: Sequence[Run], max_rows: int) -> Iterator[Run]:
    """Split runs into pieces of at most ``max_rows`` rows."""
    for a, b, g in runs:
        for s in range(a, b, max_rows):
            yield s, min(s + max_rows, b), g


def _gather(y: np.ndarray, runs: Sequence[Run]) -> np.ndarray:
    return np.concatenate([np.asarray(y[a:b]) for a, b, _ in runs]) if runs else np.empty(0)


def _plan_targets(targets: Sequence[RidgeTarget], runs: Sequence[Run]) -> tuple[list[_Plan], list[tuple[int, bool]]]:
    """Decide, per target, which subset statistics to accumulate.

    Returns the plans and the shared mask accumulators as ``(representative target, is_nan)``.
    """
    plans: list[_Plan] = []
    masks: list[tuple[int, bool]] = []
    seen: dict[tuple[bytes, bool], int] = {}
    for ti, t in enumerate(targets):
        y = _gather(t.y, runs).astype(np.float64, copy=False)
        nan = np.isnan(y)
        n_nan = int(nan.sum())
        n_valid = y.size - n_nan
        if n_nan == 0:
            mode, key = "all", -1
        else:
            mode = "complement" if n_nan <= n_valid else "direct"
            sig = (np.packbits(nan).tobytes(), mode == "complement")
            if sig not in seen:
                seen[sig] = len(masks)
                masks.append((ti, mode == "complement"))
            key = seen[sig]
        if t.classification:
            classes, counts = _class_counts(np.asarray(y[~nan], dtype=t.y.dtype))
            largest = int(np.argmax(counts)) if counts.size else -1
            plans.append(_Plan(t, mode, key, classes, largest))
        else:
            y_shift = float(y[~nan].mean()) if n_valid else 0.0
            plans.append(_Plan(t, mode, key, np.empty(0), -1, y_shift))
    return plans, masks


def _class_counts(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(v, return_counts=True)``, via ``bincount`` when the labels are small integers."""
    if v.size and v.dtype.kind == "f":
        lo, hi = v.min(), v.max()
        if hi - lo < 1 << 16 and lo == np.floor(lo):
            shifted = v - lo
            idx = shifted.astype(np.int64)
            if np.array_equal(idx, shifted):  # integral values: bincount is O(n)
                counts = np.bincount(idx)
                present = np.flatnonzero(counts)
                return (present + lo).astype(v.dtype), counts[present]
    return np.unique(v, return_counts=True)


def _first_rows(X: np.ndarray, runs: Sequence[Run], limit: int = 65536) -> np.ndarray:
    parts, total = [], 0
    for a, b, _ in runs:
        take = min(b - a, limit - total)
        parts.append(np.asarray(X[a : a + take], dtype=np.float64))
        total += take
        if total >= limit:
            break
    return np.concatenate(parts)


def fit_ridge_grid(
    X: np.ndarray,
    runs: Sequence[Run],
    fit_groups: Sequence[Sequence[int]],
    targets: Sequence[RidgeTarget],
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    *,
    chunk_rows: int = 65536,
    max_stats_bytes: int = 1 << 30,
) -> list[RidgeFit]:
    """Fit every (fit, target, alpha) ridge probe from one pass of sufficient statistics.

    Parameters
    ----------
    X
        ``(N, D)`` embeddings (any float dtype; a memory map is fine: rows are read run by run
        and converted to float64 chunk by chunk).
    runs
        The training rows, as contiguous ``(start, end, group)`` blocks.
    fit_groups
        For each fit (seed), the groups whose rows it trains on.
    targets
        The targets; ``y`` is indexed by row like ``X``.
    alphas
        Ridge penalties; every fit is solved for all of them.
    chunk_rows
        Maximum number of rows converted to float64 at once.
    max_stats_bytes
        Memory budget for the accumulated statistics; when the targets need more, they are
        processed in batches, each with its own pass over ``X``.

    Returns
    -------
    list of RidgeFit
        One per target, in order.

    Raises
    ------
    BehavenetError
        If a target has no labelled frame in the rows of some fit.
    """
    runs = [r for r in runs if r[1] > r[0]]
    n_groups = max((g for _, _, g in runs), default=-1) + 1
    dim = X.shape[1]
    shift = _first_rows(X, runs).mean(axis=0) if runs else np.zeros(dim)
    acc_bytes = n_groups * dim * (dim + 1) * 8 + 64
    per_target = max(1, int(max_stats_bytes // max(acc_bytes, 1)) - 2)
    fits: list[RidgeFit] = []
    for start in range(0, len(targets), per_target):
        batch = list(targets[start : start + per_target])
        fits.extend(_fit_batch(X, runs, n_groups, fit_groups, batch, alphas, shift, chunk_rows))
    return fits


def _fit_batch(
    X: np.ndarray,
    runs: Sequence[Run],
    n_groups: int,
    fit_groups: Sequence[Sequence[int]],
    targets: Sequence[RidgeTarget],
    alphas: Sequence[float],
    shift: np.ndarray,
    chunk_rows: int,
) -> list[RidgeFit]:
    dim = X.shape[1]
    plans, masks = _plan_targets(targets, runs)
    acc_all = _Acc(n_groups, dim)
    acc_mask = [_Acc(n_groups, dim) for _ in masks]
    acc_class: list[dict[int, _Acc]] = []
    for p in plans:
        acc_class.append({ci: _Acc(n_groups, dim) for ci in range(p.classes.size) if ci != p.largest})
    xy = [np.zeros((n_groups, dim)) if not p.target.classification else None for p in plans]
    sy = [np.zeros(n_groups) if not p.target.classification else None for p in plans]

    for a, b, g in chunked_runs(runs, chunk_rows):
        A = np.asarray(X[a:b], dtype=np.float64)
        A -= shift
        acc_all.add(g, A)
        for (ti, is_nan), acc in zip(masks, acc_mask):
            m = np.isnan(np.asarray(targets[ti].y[a:b], dtype=np.float64))
            if not is_nan:
                m = ~m
            if m.any():
                acc.add(g, A[m])
        for p, accs, xyp, syp in zip(plans, acc_class, xy, sy):
            yb = np.asarray(p.target.y[a:b])
            if p.target.classification:
                for ci, acc in accs.items():
                    m = yb == p.classes[ci]
                    if m.any():
                        acc.add(g, A[m])
            else:
                yv = yb.astype(np.float64) - p.y_shift
                m = ~np.isnan(yv)
                if m.any():
                    xyp[g] += np.dot(A[m].T, yv[m])
                    syp[g] += yv[m].sum()

    fits = []
    for pi, p in enumerate(plans):
        fit = RidgeFit(p.target)
        for groups in fit_groups:
            groups = list(groups)
            n_all, s1_all, s2_all = acc_all.total(groups)
            if p.valid_mode == "all":
                n_v, s1_v, s2_v = n_all, s1_all, s2_all
            else:
                n_m, s1_m, s2_m = acc_mask[p.mask_key].total(groups)
                if p.valid_mode == "complement":
                    n_v, s1_v, s2_v = n_all - n_m, s1_all - s1_m, s2_all - s2_m
                else:
                    n_v, s1_v, s2_v = n_m, s1_m, s2_m
            if n_v == 0:
                raise BehavenetError(f"task {p.target.name}: no labelled frame among the training clips of a fit")
            if p.target.classification:
                cls, coef, icpt = _solve_classifier(p, acc_class[pi], groups, (n_v, s1_v, s2_v), alphas, shift)
                fit.classes.append(cls)
            else:
                n_xy = (xy[pi][groups].sum(axis=0), float(sy[pi][groups].sum()))
                coef, icpt = _solve_regression(p, (n_v, s1_v, s2_v), n_xy, alphas, shift)
                fit.classes.append(np.empty(0, dtype=p.target.y.dtype))
            fit.coef.append(coef)
            fit.intercept.append(icpt)
            fit.n_train.append(n_v)
        fits.append(fit)
    return fits


def _ridge_solve(C: np.ndarray, B: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
    """``(C + alpha I)^-1 B`` for every alpha -> ``(n_alphas, D, K)``."""
    out = np.empty((len(alphas), C.shape[0], B.shape[1]))
    eye = np.eye(C.shape[0])
    for i, alpha in enumerate(alphas):
        out[i] = scipy.linalg.solve(C + alpha * eye, B, assume_a="pos")
    return out


def _solve_classifier(
    p: _Plan,
    accs: dict[int, _Acc],
    groups: list[int],
    valid: tuple[int, np.ndarray, np.ndarray],
    alphas: Sequence[float],
    shift: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_v, s1_v, s2_v = valid
    stats: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
    rest_n, rest_s1, rest_s2 = n_v, s1_v.copy(), s2_v.copy()
    for ci, acc in accs.items():
        n_c, s1_c, s2_c = acc.total(groups)
        stats[ci] = (n_c, s1_c, s2_c)
        rest_n -= n_c
        rest_s1 -= s1_c
        rest_s2 -= s2_c
    if p.largest >= 0:
        stats[p.largest] = (rest_n, rest_s1, rest_s2)
    present = [ci for ci in range(p.classes.size) if stats[ci][0] > 0]
    classes = p.classes[present]
    dim = s1_v.shape[0]
    k = len(present)
    if k == 1:  # sklearn predicts the only class it has seen
        return classes, np.zeros((len(alphas), dim, 0)), np.zeros((len(alphas), 0))
    ncol = 1 if k == 2 else k
    # targets: +1 for the column's class, -1 otherwise; binary: one column for classes[1]
    Y = -np.ones((k, ncol))
    if k == 2:
        Y[1, 0] = 1.0
    else:
        Y[np.arange(k), np.arange(k)] = 1.0
    w = np.array([n_v / (k * stats[ci][0]) for ci in present])
    n_c = np.array([stats[ci][0] for ci in present], dtype=np.float64)
    S1 = np.stack([stats[ci][1] for ci in present])  # (k, D)
    W = float(np.dot(w, n_c))
    mu = (w[:, None] * S1).sum(axis=0) / W
    ybar = (w * n_c) @ Y / W  # (ncol,)
    C = sum(w[j] * stats[ci][2] for j, ci in enumerate(present)) - W * np.outer(mu, mu)
    B = (S1.T * w) @ Y - W * np.outer(mu, ybar)  # (D, ncol)
    coef = _ridge_solve(C, B, alphas)
    icpt = ybar[None, :] - np.einsum("d,adk->ak", mu + shift, coef)
    return classes, coef, icpt


def _solve_regression(
    p: _Plan,
    valid: tuple[int, np.ndarray, np.ndarray],
    xy_sy: tuple[np.ndarray, float],
    alphas: Sequence[float],
    shift: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    n_v, s1_v, s2_v = valid
    xy, sy = xy_sy
    mu = s1_v / n_v
    ybar = sy / n_v
    C = s2_v - n_v * np.outer(mu, mu)
    B = (xy - n_v * mu * ybar)[:, None]
    coef = _ridge_solve(C, B, alphas)
    icpt = (ybar + p.y_shift) - np.einsum("d,adk->ak", mu + shift, coef)
    return coef, icpt


def predict_decisions(
    X: np.ndarray, runs: Sequence[Run], fits: Sequence[RidgeFit], *, chunk_rows: int = 65536
) -> Iterator[tuple[int, int, int, list[list[np.ndarray]]]]:
    """Decision values of every fitted probe on the rows of ``runs``, chunk by chunk.

    Yields
    ------
    (start, end, group, decisions)
        ``decisions[t][f]`` is a ``(end - start, n_alphas, n_columns)`` float64 array for target
        ``t`` and fit ``f`` (``X @ coef + intercept``, as sklearn's ``decision_function`` or
        ``Ridge.predict``).
    """
    blocks, biases, layout = [], [], []
    col = 0
    for fit in fits:
        per_fit = []
        for coef, icpt in zip(fit.coef, fit.intercept):
            n_a, dim, ncol = coef.shape
            blocks.append(coef.transpose(1, 0, 2).reshape(dim, n_a * ncol))
            biases.append(icpt.reshape(n_a * ncol))
            per_fit.append((col, n_a, ncol))
            col += n_a * ncol
        layout.append(per_fit)
    dim = X.shape[1]
    Bm = np.concatenate(blocks, axis=1) if blocks else np.zeros((dim, 0))
    bv = np.concatenate(biases) if biases else np.zeros(0)
    for a, b, g in chunked_runs(runs, chunk_rows):
        D = np.asarray(X[a:b], dtype=np.float64) @ Bm
        D += bv
        out = [
            [D[:, c0 : c0 + n_a * ncol].reshape(b - a, n_a, ncol) for c0, n_a, ncol in per_fit] for per_fit in layout
        ]
        yield a, b, g, out


def decisions_to_labels(decision: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Turn ``(rows, n_alphas, n_columns)`` decisions into predicted class values.

    Mirrors sklearn: two classes -> ``classes[1]`` where the decision is ``> 0``; more ->
    ``classes[argmax]``; a single class -> that class everywhere.
    """
    ncol = decision.shape[-1]
    if ncol == 0:
        return np.full(decision.shape[:-1], classes[0], dtype=classes.dtype)
    if ncol == 1:
        return np.where(decision[..., 0] > 0, classes[1], classes[0]).astype(classes.dtype)
    return classes[np.argmax(decision, axis=-1)]


def binary_f1(tp: int, fp: int, fn: int) -> float:
    """F1 of the positive class as ``sklearn.metrics.f1_score(average='binary')``; ill-defined -> 0."""
    denom = 2 * tp + fp + fn
    return 0.0 if denom == 0 else float(2 * tp / denom)


def macro_f1_from_confusion(cm: np.ndarray) -> float:
    """Macro F1 over the labels present in truth or prediction (sklearn's ``average='macro'``)."""
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diag(cm)
    true_n = cm.sum(axis=1)
    pred_n = cm.sum(axis=0)
    present = (true_n + pred_n) > 0
    if not present.any():
        return 0.0
    denom = true_n + pred_n
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return float(f1[present].mean())


# ----------------------------------------------------------------------------------------------
# float32 fits as scikit-learn 1.0.2 computes them (the official MABe22 evaluator's numerics)
# ----------------------------------------------------------------------------------------------

#: The scikit-learn release whose float32 ridge arithmetic :func:`fit_ridge_sklearn32` reproduces
#: (the version pinned by the official MABe22 evaluator).
SKLEARN_COMPAT_VERSION = "1.0.2"


def _weighted_row_sum32(
    Xs: np.ndarray, rows: np.ndarray | None, n: int, w: np.ndarray | None, chunk_rows: int
) -> np.ndarray:
    """``np.multiply(Xs[rows], w[:, None]).sum(axis=0)`` in float32, bit for bit, chunk by chunk.

    numpy reduces a C-ordered float32 matrix over axis 0 by adding the rows one after the other
    in float32; carrying the running sum as the first row of the next chunk keeps that order, so
    the result equals the one-shot reduction without its ``(n, D)`` temporary.
    """
    dim = Xs.shape[1]
    acc = np.zeros(dim, dtype=np.float32)
    for a in range(0, n, chunk_rows):
        b = min(n, a + chunk_rows)
        t = np.empty((b - a + 1, dim), dtype=np.float32)
        t[0] = acc
        src = Xs[a:b] if rows is None else Xs[rows[a:b]]
        if w is None:
            t[1:] = src
        else:
            np.multiply(src, w[a:b, None], out=t[1:])
        acc = t.sum(axis=0)
    return acc


def _centred_scaled32(
    Xs: np.ndarray, offset: np.ndarray, sw_sqrt: np.ndarray | None, chunk_rows: int, out: np.ndarray
) -> np.ndarray:
    """``(Xs - offset) * sw_sqrt[:, None]`` in float32 into ``out`` (elementwise: chunking changes
    no bit)."""
    for a in range(0, Xs.shape[0], chunk_rows):
        b = min(Xs.shape[0], a + chunk_rows)
        np.subtract(Xs[a:b], offset, out=out[a:b])
        if sw_sqrt is not None:
            out[a:b] *= sw_sqrt[a:b, None]
    return out


def _solve_svd32(Xw: np.ndarray, Yw: np.ndarray, alpha: np.ndarray, svd: tuple) -> np.ndarray:
    """sklearn 1.0.2's ``_solve_svd`` (its fallback when the float32 Cholesky fails)."""
    U, s, Vt = svd
    idx = s > 1e-15
    s_nnz = s[idx][:, np.newaxis]
    UTy = np.dot(U.T, Yw)
    d = np.zeros((s.size, alpha.size), dtype=Xw.dtype)
    d[idx] = s_nnz / (s_nnz**2 + alpha)
    return np.dot(Vt.T, d * UTy).T


def _fit_one_sklearn32(
    Xk: np.ndarray,
    yk: np.ndarray,
    classification: bool,
    alphas: Sequence[float],
    chunk_rows: int,
    buf: np.ndarray,
    shared: dict,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Every alpha of ``Ridge(alpha)`` / ``RidgeClassifier(class_weight='balanced', alpha)`` fitted
    on the float32 rows ``Xk`` with labels ``yk`` (no NaN), as scikit-learn 1.0.2 does it.

    Returns ``(classes, coef (n_alphas, D, ncol) float32, intercept (n_alphas, ncol) float32,
    solver)``. The weighted Gram matrix is formed once (in ``buf``, at least ``Xk``'s size) and
    shared by all alphas; ``shared`` carries the unweighted one from one regression target to
    the next on the same rows.
    """
    import scipy.linalg

    n, dim = Xk.shape
    if classification:
        classes, inv, counts = np.unique(yk, return_inverse=True, return_counts=True)
        k = classes.size
        if k == 1:  # the fast path's convention: predict the only class seen
            return classes, np.zeros((len(alphas), dim, 0), np.float32), np.zeros((len(alphas), 0), np.float32), "-"
        # compute_sample_weight('balanced') in float64, then cast to X's dtype (_check_sample_weight)
        sw = (np.ones(n, dtype=np.float32) * (n / (k * counts.astype(np.float64)))[inv]).astype(np.float32)
        Y = -np.ones((n, 1 if k == 2 else k), dtype=np.float32)  # LabelBinarizer(neg_label=-1)
        if k == 2:
            Y[inv == 1, 0] = 1.0
        else:
            Y[np.arange(n), inv] = 1.0
        y_offset = np.average(Y, axis=0, weights=sw)
        Yc = Y - y_offset
        # np.average(X, axis=0, weights=sw): sum(X * w) / sum(w), all float32
        scale = np.broadcast_to(sw, (1, n)).swapaxes(-1, 0).sum(axis=0)
        x_offset = (_weighted_row_sum32(Xk, None, n, sw, chunk_rows) / scale).astype(np.float32, copy=False)
        sw_sqrt = np.sqrt(sw)
        shared.clear()  # buf is overwritten
        Xw = _centred_scaled32(Xk, x_offset, sw_sqrt, chunk_rows, buf[:n])
        Yw = Yc * sw_sqrt[:, np.newaxis]
        A = np.dot(Xw.T, Xw)
    else:
        classes = np.empty(0, dtype=yk.dtype)
        yk = np.asarray(yk, dtype=np.float32)
        y_offset = np.average(yk, axis=0)
        Yw = (yk - y_offset).reshape(-1, 1)
        if shared:  # unweighted: the same rows give the same centred matrix
            Xw, A, x_offset = shared["Xw"], shared["A"], shared["x_offset"]
        else:
            total = _weighted_row_sum32(Xk, None, n, None, chunk_rows)
            x_offset = np.true_divide(total, n, dtype=np.float32)  # X.mean(axis=0)
            Xw = _centred_scaled32(Xk, x_offset, None, chunk_rows, buf[:n])
            A = np.dot(Xw.T, Xw)
            shared.update(Xw=Xw, A=A, x_offset=x_offset)
    if n < dim:  # sklearn solves the kernel form here; rare enough to hand over to sklearn itself
        return _fit_small_sklearn(Xk, yk, classification, alphas, classes)
    Xy = np.dot(Xw.T, Yw)
    ncol = Yw.shape[1]
    coef = np.empty((len(alphas), dim, ncol), dtype=np.float32)
    icpt = np.empty((len(alphas), ncol), dtype=np.float32)
    svd = None
    solvers = set()
    for ai, alpha in enumerate(alphas):
        alpha32 = np.asarray(alpha, dtype=np.float32).ravel()
        Aa = A.copy()
        Aa.flat[:: dim + 1] += alpha32[0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
                c = scipy.linalg.solve(Aa, Xy, assume_a="pos", overwrite_a=True).T  # (ncol, D)
            solvers.add("cholesky")
        except np.linalg.LinAlgError:  # sklearn falls back to the SVD of the scaled data
            if svd is None:
                svd = scipy.linalg.svd(Xw, full_matrices=False)
            c = _solve_svd32(Xw, Yw, alpha32, svd)
            solvers.add("svd")
        if classification:
            ic = y_offset - np.dot(x_offset, c.T)
        else:
            c = c.ravel()
            ic = np.atleast_1d(y_offset - np.dot(x_offset, c))
        coef[ai] = c.reshape(ncol, dim).T
        icpt[ai] = ic
    return classes, coef, icpt, "+".join(sorted(solvers))


def _fit_small_sklearn(
    Xk: np.ndarray, yk: np.ndarray, classification: bool, alphas: Sequence[float], classes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    from sklearn.linear_model import Ridge, RidgeClassifier

    coefs, icpts = [], []
    for alpha in alphas:
        m = RidgeClassifier(class_weight="balanced", alpha=alpha) if classification else Ridge(alpha=alpha)
        m.fit(Xk, yk)
        c = np.asarray(m.coef_, dtype=np.float32).reshape(-1, Xk.shape[1])
        coefs.append(c.T)
        icpts.append(np.atleast_1d(np.asarray(m.intercept_, dtype=np.float32)))
    return classes, np.stack(coefs), np.stack(icpts), "sklearn-kernel"


def fit_ridge_sklearn32(
    X: np.ndarray,
    fit_rows: Sequence[np.ndarray],
    targets: Sequence[RidgeTarget],
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    *,
    chunk_rows: int = 16384,
) -> list[RidgeFit]:
    """Fit every (fit, target, alpha) probe in float32 exactly as scikit-learn 1.0.2 does.

    The official MABe22 evaluator hands sklearn the float32 embedding matrix, so its fits are
    float32 computations whose rounding moves the scores (most on poorly conditioned
    embeddings). This reproduces them operation by operation: ``Ridge`` /
    ``RidgeClassifier(class_weight='balanced')`` with ``solver='auto'`` on dense data, i.e.
    class-balanced float32 sample weights, the weighted float32 column means
    (``np.average``), float32 centring and ``sqrt(weight)`` rescaling, the float32 Gram matrix
    ``Xw' Xw`` (one BLAS ``syrk``), the ``cholesky`` solver (LAPACK ``posv`` in float32, the alpha
    added to the float32 diagonal) and its fallback to the SVD of the rescaled data when the
    Cholesky factorisation fails. Unlike sklearn, the Gram matrix of a (fit, target) is formed
    once and shared by the whole alpha grid, and targets without weights that keep the same
    rows (the regression tasks) share it too. On the same BLAS the coefficients are the bits
    sklearn 1.0.2 computes.

    Parameters
    ----------
    X
        ``(N, D)`` float32 embeddings (a memory map is fine).
    fit_rows
        For each fit (seed), the ascending row indices it trains on.
    targets, alphas
        As :func:`fit_ridge_grid`.
    chunk_rows
        Rows handled at once by the streamed passes.

    Returns
    -------
    list of RidgeFit
        One per target; ``coef`` and ``intercept`` are float32, ``solvers[f]`` names the solver
        sklearn would have used (``cholesky``, ``svd`` or ``cholesky+svd`` over the alphas).
    """
    fits = [RidgeFit(t) for t in targets]
    for rows in fit_rows:
        rows = np.asarray(rows, dtype=np.int64)
        ys = [np.asarray(t.y[rows]) for t in targets]
        # targets with the same labelled rows share one copy of those rows; regression
        # targets (no weights) first, as they also share the centred matrix
        by_mask: dict[bytes, list[int]] = {}
        for ti, y in enumerate(ys):
            by_mask.setdefault(np.packbits(np.isnan(y)).tobytes(), []).append(ti)
        buf = np.empty((rows.size, X.shape[1]), dtype=np.float32)
        results: dict[int, tuple] = {}
        for members in by_mask.values():
            keep = ~np.isnan(ys[members[0]])
            if not keep.any():
                raise BehavenetError(
                    f"task {targets[members[0]].name}: no labelled frame among the training clips of a fit"
                )
            Xk = _take_rows32(X, rows[keep])
            shared: dict = {}
            for ti in sorted(members, key=lambda i: targets[i].classification):
                results[ti] = _fit_one_sklearn32(
                    Xk, ys[ti][keep], targets[ti].classification, alphas, chunk_rows, buf, shared
                ) + (int(keep.sum()),)
            del Xk, shared
        del buf
        for ti, fit in enumerate(fits):
            classes, coef, icpt, solver, n_train = results[ti]
            fit.classes.append(classes)
            fit.coef.append(coef)
            fit.intercept.append(icpt)
            fit.n_train.append(n_train)
            fit.solvers.append(solver)
    return fits


def _take_rows32(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``X[rows]`` as a C-ordered float32 array, copied run by run (rows ascending)."""
    out = np.empty((rows.size, X.shape[1]), dtype=np.float32)
    if rows.size == 0:
        return out
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [rows.size]])
    for a, b in zip(starts, ends):
        out[a:b] = X[rows[a] : rows[a] + (b - a)]
    return out


def predict_decisions_sklearn32(
    X: np.ndarray, runs: Sequence[Run], fits: Sequence[RidgeFit], *, chunk_rows: int = 4096
) -> Iterator[tuple[int, int, int, list[list[np.ndarray]]]]:
    """:func:`predict_decisions` for float32 fits, computed like sklearn's ``decision_function`` /
    ``predict``: ``X @ coef + intercept`` in float32, one matrix-vector product per probe (a
    matrix-matrix product over all probes rounds differently)."""
    for a, b, g in chunked_runs(runs, chunk_rows):
        Xc = np.asarray(X[a:b], dtype=np.float32)
        out = []
        for fit in fits:
            per_fit = []
            for coef, icpt in zip(fit.coef, fit.intercept):
                n_a, _, ncol = coef.shape
                D = np.empty((b - a, n_a, ncol), dtype=np.float32)
                for ai in range(n_a):
                    if ncol == 1:
                        D[:, ai, 0] = np.dot(Xc, np.ascontiguousarray(coef[ai, :, 0])) + icpt[ai, 0]
                    elif ncol:
                        D[:, ai, :] = np.dot(Xc, coef[ai]) + icpt[ai]
                per_fit.append(D)
            out.append(per_fit)
        yield a, b, g, out
