"""The MABe22 round-1 evaluation protocol (mouse triplets and fruit flies).

This reimplements what the organizers' public evaluator (``round1_evaluator.py`` of the
"mabe-2022-public-evaluator") computes, so that scores are comparable with the MABe22, BAMS and
hBehaveMAE papers, and runs on current numpy / pandas / scikit-learn (the official code breaks on
scikit-learn >= 1.6 and, for flies, pandas >= 2).

Protocol (see ``docs/mabe.md`` for the full description):

* For every seed of the tasks file (42, 43, 44) the clips of ``SubmissionTrain`` are split with
  ``sklearn.model_selection.train_test_split(clips, test_size=0.1, random_state=seed)`` and the
  first 90% are the probe's training clips (their frames taken in frame-map order). The order of
  the list in the split file therefore matters.
* For every task and every alpha in ``[0.1, 0.5, 1.0, 2.0, 5.0]``:
  ``RidgeClassifier(class_weight='balanced', alpha)`` for ``'Discrete'`` tasks,
  ``Ridge(alpha)`` otherwise, on the raw embeddings, frames whose label is NaN dropped.
* The seeds' predictions are merged with ``mean(predictions) > 0`` for classification (an OR
  vote for 0/1 labels) and with the mean for regression.
* Scores (binary F1 of label 1, ill-defined F1 scored 0; MSE): "Public Score" on the
  ``publicTest`` frames, "Private Score" on ``privateTest`` + ``publicTest`` together, "No Ensemble
  Score" the mean over seeds of the single-seed private score, "Score Alpha a" the private
  score for every alpha; the headline columns use ``alpha = 1.0``.
* "Pooled Score" (tasks flagged in ``sequence_level_tasks`` only, ``-1`` otherwise): the mean
  label and the mean merged prediction of every test clip, thresholded at 0.5 for F1, scored
  over clips. By default each clip is pooled over its own frames; with ``official_compat=True``
  the official code's misalignment is reproduced (predictions, stored in frame order, are
  sliced consecutively while walking the clips in split-list order).
* Flies: rows ``<task>_singletask_fly_<k>`` are averaged over ``k`` like the official code
  (unflagged slots contribute ``-1`` to the pooled score; ``control`` appears twice in the task
  list and both rows score the line task, because ``vocabulary.index`` returns the first match).

Two implementations: ``method="fast"`` (default) fits every probe from float64 sufficient
statistics accumulated in one pass over a memory-mapped embedding matrix
(:mod:`behavenet.eval._ridge`) and streams the test predictions; ``method="reference"`` literally
fits sklearn ``Ridge`` / ``RidgeClassifier`` per seed, task and alpha. Both fit in float64 by
default. ``official_compat=True`` switches to the official evaluator's numerics
(``precision="float32"``): the fast path then reproduces scikit-learn 1.0.2's float32 fits
operation by operation, forming each weighted float32 Gram matrix once per seed and task
(:func:`behavenet.eval._ridge.fit_ridge_sklearn32`), and the reference path hands the installed
sklearn the float32 matrix. ``meta["numerics"]`` records which arithmetic produced the scores.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from behavenet.errors import BehavenetError, ConfigError, FormatError
from behavenet.utils import files

from ._ridge import (
    DEFAULT_ALPHAS,
    SKLEARN_COMPAT_VERSION,
    RidgeTarget,
    binary_f1,
    decisions_to_labels,
    fit_ridge_grid,
    fit_ridge_sklearn32,
    predict_decisions,
    predict_decisions_sklearn32,
)

__all__ = [
    "ALPHAS",
    "RESULT_COLUMNS",
    "SPECIES_WIDTH",
    "MabeLabels",
    "MabeTasks",
    "MabeResult",
    "load_labels",
    "load_split",
    "load_tasks",
    "load_submission_embeddings",
    "evaluate",
    "evaluate_files",
    "average_fly_slots",
    "summarize",
    "atomic_write_text",
    "numerics_label",
]

ALPHAS = DEFAULT_ALPHAS
HEADLINE_ALPHA = 1.0
SPECIES_WIDTH = {"mouse": 128, "fly": 256}
F1, MSE = "f1_score", "mean_mse"


def _alpha_column(alpha: float) -> str:
    return f"Score Alpha {float(alpha)}"


RESULT_COLUMNS: list[str] = [
    "Private Score",
    "Public Score",
    "Metric",
    "No Ensemble Score",
    "Pooled Score",
    "Sequence Level Task",
] + [_alpha_column(a) for a in ALPHAS]


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------


@dataclass
class MabeLabels:
    """The ground-truth labels file (``mouse_triplets_test_labels.npy`` and the fly equivalent).

    Attributes
    ----------
    label_array
        ``(n_rows, N)`` float array, NaN = not labelled.
    vocabulary
        Task name of every row (the first match wins for duplicated names).
    task_type
        ``'Discrete'`` or ``'Continious'`` (sic) per row.
    frame_number_map
        ``{clip_id: (start, end)}``; the official map that submissions must copy.
    """

    label_array: np.ndarray
    vocabulary: list[str]
    task_type: list[str]
    frame_number_map: dict[str, tuple[int, int]]


@dataclass
class MabeTasks:
    """The tasks file (``jax_tasks.json`` / ``fly_tasks.json``)."""

    seeds: list[int]
    task_id_list: list[str]
    sequence_level_tasks: list[str]


def _normalize_map(raw: Any, path: str | None, field_name: str) -> dict[str, tuple[int, int]]:
    if not isinstance(raw, Mapping):
        raise FormatError(path, field_name, f"expected a dict, found {type(raw).__name__}")
    out: dict[str, tuple[int, int]] = {}
    for k, v in raw.items():
        try:
            s, e = v
            out[str(k)] = (int(s), int(e))
        except (TypeError, ValueError):
            raise FormatError(path, f"{field_name}[{k!r}]", "expected (start, end)") from None
    return out


def load_labels(path: str | os.PathLike, *, mmap: bool = True) -> MabeLabels:
    """Load a MABe22 labels file safely (restricted unpickler, label array memory-mapped)."""
    from behavenet.utils.safe_pickle import load_npy_dict

    name = os.fspath(path)
    d = load_npy_dict(name, mmap=mmap)
    for key in ("label_array", "vocabulary", "task_type", "frame_number_map"):
        if key not in d:
            raise FormatError(name, key, "missing key")
    arr = d["label_array"]
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.dtype.kind != "f":
        raise FormatError(name, "label_array", "expected a 2-D float array (n_tasks, n_frames)")
    vocab = [str(v) for v in d["vocabulary"]]
    ttype = [str(v) for v in d["task_type"]]
    if len(vocab) != arr.shape[0] or len(ttype) != arr.shape[0]:
        raise FormatError(
            name,
            "vocabulary",
            f"{len(vocab)} names and {len(ttype)} task types for {arr.shape[0]} label rows",
        )
    fmap = _normalize_map(d["frame_number_map"], name, "frame_number_map")
    return MabeLabels(arr, vocab, ttype, fmap)


def _read_json(path: str | os.PathLike) -> Any:
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise FormatError(name, None, f"cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise FormatError(name, None, f"not valid JSON ({exc})") from None


def load_split(path: str | os.PathLike) -> dict[str, list[str]]:
    """Load a split file (``jax_split.json``); the list order is kept (it matters)."""
    name = os.fspath(path)
    d = _read_json(name)
    if not isinstance(d, dict):
        raise FormatError(name, None, "expected a JSON object of clip-id lists")
    for key in ("SubmissionTrain", "publicTest", "privateTest"):
        if not isinstance(d.get(key), list):
            raise FormatError(name, key, "missing list of clip ids")
    return {k: [str(c) for c in v] for k, v in d.items() if isinstance(v, list)}


def load_tasks(path: str | os.PathLike) -> MabeTasks:
    """Load a tasks file (``jax_tasks.json``)."""
    name = os.fspath(path)
    d = _read_json(name)
    if not isinstance(d, dict):
        raise FormatError(name, None, "expected a JSON object")
    for key in ("seeds", "task_id_list", "sequence_level_tasks"):
        if not isinstance(d.get(key), list):
            raise FormatError(name, key, "missing list")
    return MabeTasks(
        [int(s) for s in d["seeds"]],
        [str(t) for t in d["task_id_list"]],
        [str(t) for t in d["sequence_level_tasks"]],
    )


def load_submission_embeddings(
    path: str | os.PathLike,
    frame_number_map: Mapping[str, tuple[int, int]],
    species: str | None,
) -> np.ndarray:
    """Load and validate a submission; return its (memory-mapped) embedding matrix.

    ``path`` is either the official pickled dict (memory-mapped in place, no copy) or a raw
    ``.npy`` float32 ``(N, D)`` matrix whose rows are already in frame-map order.
    """
    from behavenet.utils.safe_pickle import load_npy_object

    from .submission import check_submission_object

    name = os.fspath(path)
    obj = load_npy_object(name, mmap=True)
    if isinstance(obj, np.ndarray) and obj.ndim == 2:  # raw embedding matrix
        obj = {"frame_number_map": dict(frame_number_map), "embeddings": obj}
    check_submission_object(obj, species=species, frame_map=frame_number_map, path=name)
    return obj["embeddings"]


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass
class MabeResult:
    """Evaluation output: the official results table plus the paper summary numbers.

    Attributes
    ----------
    rows
        ``(task_id, {column: value})`` in the order of the official results CSV (for flies: the
        non-slot rows, then the slot-averaged rows sorted by name). Task ids may repeat
        (``control`` for flies).
    summary
        All-F1 / Frame-F1 / Sequence-F1 / All-MSE (see :func:`summarize`).
    meta
        Method, options and timings.
    """

    rows: list[tuple[str, dict[str, Any]]]
    summary: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def scores(self) -> dict[str, dict[str, Any]]:
        """``{task: {column: value}}``; a repeated task id gets a ``#2``, ``#3`` suffix."""
        out: dict[str, dict[str, Any]] = {}
        for tid, cols in self.rows:
            key, k = tid, 1
            while key in out:
                k += 1
                key = f"{tid}#{k}"
            out[key] = dict(cols)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict ``{"scores", "summary", "meta"}``."""
        return {"scores": self.scores(), "summary": self.summary, "meta": self.meta}

    def to_frame(self):  # noqa: ANN201 - pandas is imported lazily
        """The results table as a :class:`pandas.DataFrame` (official column order)."""
        import pandas as pd

        cols = ["Task ID"] + list(self.rows[0][1]) if self.rows else ["Task ID"] + RESULT_COLUMNS
        return pd.DataFrame([[tid] + list(c.values()) for tid, c in self.rows], columns=cols)

    def csv_text(self) -> str:
        """The official results CSV (same columns and row order)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        header = list(self.rows[0][1]) if self.rows else RESULT_COLUMNS
        w.writerow(["Task ID"] + header)
        for tid, cols in self.rows:
            w.writerow([tid] + [_csv_value(v) for v in cols.values()])
        return buf.getvalue()

    def write_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` atomically (non-finite numbers as ``null``)."""
        from .submission import check_output_path

        files.write_json(check_output_path(path), self.to_dict(), nan_to_none=True)

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write :meth:`csv_text` atomically."""
        atomic_write_text(path, self.csv_text())


def _csv_value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return str(v)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`behavenet.utils.files.atomic_write_text`).

    The path is checked first (:func:`~behavenet.eval.submission.check_output_path`): a missing or
    read-only directory, or a directory as ``path``, is a one-line :class:`FormatError`."""
    from .submission import check_output_path

    files.atomic_write_text(check_output_path(path), text)


def average_fly_slots(rows: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Average ``<task>_singletask_fly_<k>`` rows over ``k`` as the official evaluator does.

    The non-slot rows keep their order; the averaged rows follow, sorted by task name. A slot
    row belongs to task ``t`` when ``t`` is a substring of its id (the official rule). Every
    column whose name contains ``"Score"`` is averaged (so unflagged slots' ``-1`` pooled scores
    enter the mean), "Metric" is ``f1_score`` and "Sequence Level Task" is the first slot's.
    """
    single = [(t, c) for t, c in rows if "singletask" in t]
    out = [(t, c) for t, c in rows if "singletask" not in t]
    for key in sorted({t.split("_singletask")[0] for t, _ in single}):
        members = [c for t, c in single if key in t]
        avg: dict[str, Any] = {}
        for col in members[0]:
            if col == "Metric":
                avg[col] = F1
            elif "Score" in col:
                avg[col] = float(np.mean([m[col] for m in members]))
            else:
                avg[col] = members[0][col]
        out.append((key, avg))
    return out


def summarize(rows: list[tuple[str, dict[str, Any]]], alphas: Sequence[float] = ALPHAS) -> dict:
    """The summary numbers papers report (the hierAS-eval ``results_summary_mice`` formula).

    * ``All-MSE``: mean "Private Score" of the ``mean_mse`` rows;
    * ``All-F1``: mean "Private Score" of the ``f1_score`` rows;
    * ``Frame-F1``: same, rows with "Sequence Level Task" false;
    * ``Sequence-F1``: same, rows with "Sequence Level Task" true.

    Each ``<name>_alpha_std`` is the mean over those rows of the (population) standard deviation
    of the row's "Score Alpha" columns (the "±" of hBehaveMAE's tables). Values are not rounded;
    a group without rows gives ``None``.
    """
    acols = [_alpha_column(a) for a in alphas]

    def stat(pred: Callable[[dict], bool]) -> tuple[float | None, float | None]:
        sel = [c for _, c in rows if pred(c)]
        if not sel:
            return None, None
        priv = float(np.mean([c["Private Score"] for c in sel]))
        spread = float(np.mean([np.std([c[a] for a in acols]) for c in sel]))
        return priv, spread

    out: dict[str, Any] = {}
    for name, pred in (
        ("All-MSE", lambda c: c["Metric"] == MSE),
        ("All-F1", lambda c: c["Metric"] == F1),
        ("Frame-F1", lambda c: c["Metric"] == F1 and not c["Sequence Level Task"]),
        ("Sequence-F1", lambda c: c["Metric"] == F1 and bool(c["Sequence Level Task"])),
    ):
        out[name], out[f"{name}_alpha_std"] = stat(pred)
    return out


# ----------------------------------------------------------------------------------------------
# Shared preparation
# ----------------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    fmap: dict[str, tuple[int, int]]
    n_frames: int
    task_rows: list[tuple[str, int, bool, bool]]  # (task id, label row, discrete, flagged)
    rows: list[int]  # distinct label rows, in first-use order
    seed_clips: list[list[str]]
    public: list[str]
    private: list[str]


def _prepare(
    embeddings: np.ndarray,
    labels: MabeLabels,
    split: Mapping[str, Sequence[str]],
    tasks: MabeTasks,
    test_size: float,
) -> _Prepared:
    from sklearn.model_selection import train_test_split

    fmap = labels.frame_number_map
    if embeddings.ndim != 2:
        raise FormatError("submission", "embeddings", "expected a 2-D array")
    n = int(embeddings.shape[0])
    if labels.label_array.shape[1] != n:
        raise FormatError(
            "labels",
            "label_array",
            f"{labels.label_array.shape[1]} frames, the submission has {n} rows",
        )
    for key in ("SubmissionTrain", "publicTest", "privateTest"):
        for clip in split[key]:
            if clip not in fmap:
                raise FormatError("split", key, f"clip {clip!r} is not in the frame number map")
            s, e = fmap[clip]
            if not 0 <= s < e <= n:
                raise FormatError("labels", "frame_number_map", f"{clip!r} -> ({s}, {e}) is out of range")
    task_rows = []
    for tid in tasks.task_id_list:
        try:
            row = labels.vocabulary.index(tid)  # first match, as the official code
        except ValueError:
            raise FormatError("labels", "vocabulary", f"task {tid!r} has no label row") from None
        task_rows.append((tid, row, labels.task_type[row] == "Discrete", tid in tasks.sequence_level_tasks))
    rows: list[int] = []
    for _, r, _, _ in task_rows:
        if r not in rows:
            rows.append(r)
    train = list(split["SubmissionTrain"])
    seed_clips = [list(train_test_split(train, test_size=test_size, random_state=seed)[0]) for seed in tasks.seeds]
    return _Prepared(fmap, n, task_rows, rows, seed_clips, list(split["publicTest"]), list(split["privateTest"]))


def _check_binary_labels(labels: MabeLabels, prep: _Prepared) -> None:
    """F1 is binary (label 1 positive): Discrete rows must only hold 0, 1 or NaN."""
    clips = set(prep.public) | set(prep.private)
    for c in prep.seed_clips:
        clips.update(c)
    bounds = sorted(prep.fmap[c] for c in clips)
    discrete = {r for _, r, d, _ in prep.task_rows if d}
    for r in discrete:
        y = labels.label_array[r]
        for s, e in bounds:
            v = np.asarray(y[s:e])
            if not np.all((v == 0) | (v == 1) | np.isnan(v)):
                raise FormatError(
                    "labels",
                    f"label_array[{r}] ({labels.vocabulary[r]})",
                    "a 'Discrete' task must be labelled 0/1 (or NaN): its score is binary F1",
                )


def _pool_truth(y: np.ndarray, discrete: bool) -> tuple[int, Any]:
    """(number of labelled frames, pooled label) of one clip, as the official code."""
    v = y[~np.isnan(y)]
    if v.size == 0:
        return 0, None
    m = np.mean(v)  # float32 mean, like the official code on the float32 label array
    return int(v.size), int(m >= 0.5) if discrete else m


def _pooled_metric(truth: list, pred: list, discrete: bool) -> float:
    if discrete:
        t = np.asarray(truth) == 1
        p = np.asarray(pred) == 1
        return binary_f1(int(np.sum(t & p)), int(np.sum(~t & p)), int(np.sum(t & ~p)))
    if not truth:
        return float("nan")
    return float(np.mean((np.asarray(truth, dtype=np.float64) - np.asarray(pred)) ** 2))


# ----------------------------------------------------------------------------------------------
# Fast path
# ----------------------------------------------------------------------------------------------


def _clip_runs(
    fmap: Mapping[str, tuple[int, int]], clips_with_group: list[tuple[str, int]]
) -> list[tuple[int, int, int]]:
    """Contiguous (start, end, group) blocks of clips, merging neighbours of the same group."""
    spans = sorted((fmap[c][0], fmap[c][1], g) for c, g in clips_with_group)
    runs: list[list[int]] = []
    for s, e, g in spans:
        if runs and runs[-1][1] > s:
            raise FormatError("labels", "frame_number_map", f"clips overlap at frame {s}")
        if runs and runs[-1][1] == s and runs[-1][2] == g:
            runs[-1][1] = e
        else:
            runs.append([s, e, g])
    return [(a, b, g) for a, b, g in runs]


def _evaluate_fast(
    X: np.ndarray,
    labels: MabeLabels,
    prep: _Prepared,
    alphas: Sequence[float],
    headline: int,
    official_compat: bool,
    chunk_rows: int,
    log: Callable[[str], None],
    float32: bool = False,
) -> dict[int, dict[str, Any]]:
    t0 = time.perf_counter()
    # -- clip groups: clips with the same membership across the seeds' training sets
    member: dict[str, int] = {}
    for si, clips in enumerate(prep.seed_clips):
        for c in clips:
            member[c] = member.get(c, 0) | (1 << si)
    sigs = sorted(set(member.values()))
    gid = {sig: i for i, sig in enumerate(sigs)}
    runs = _clip_runs(prep.fmap, [(c, gid[s]) for c, s in member.items()])
    fit_groups = [[gid[s] for s in sigs if s >> si & 1] for si in range(len(prep.seed_clips))]
    discrete = {r: d for _, r, d, _ in prep.task_rows}
    flagged = {r for _, r, _, f in prep.task_rows if f}
    targets = [RidgeTarget(labels.vocabulary[r], labels.label_array[r], discrete[r]) for r in prep.rows]
    if float32:
        fit_rows = [np.flatnonzero(_frame_index(prep.fmap, clips, prep.n_frames)) for clips in prep.seed_clips]
        fits = fit_ridge_sklearn32(X, fit_rows, targets, alphas)
        solvers = sorted({s for f in fits for s in f.solvers})
        log(
            f"fitted {len(targets)} tasks x {len(fit_groups)} seeds x {len(alphas)} alphas in float32 "
            f"(scikit-learn {SKLEARN_COMPAT_VERSION} arithmetic, one Gram matrix per seed and task; "
            f"solvers: {', '.join(solvers)}) in {time.perf_counter() - t0:.1f} s"
        )
    else:
        fits = fit_ridge_grid(X, runs, fit_groups, targets, alphas, chunk_rows=chunk_rows)
        log(
            f"fitted {len(targets)} tasks x {len(fit_groups)} seeds x {len(alphas)} alphas "
            f"from sufficient statistics in {time.perf_counter() - t0:.1f} s"
        )

    # -- test clips: public (split 0) then private (split 1), each in list order
    t1 = time.perf_counter()
    test = [(c, 0) for c in prep.public] + [(c, 1) for c in prep.private]
    test_runs = sorted((prep.fmap[c][0], prep.fmap[c][1], k) for k, (c, _) in enumerate(test))
    n_seeds, n_alpha = len(prep.seed_clips), len(alphas)
    acc = []
    for r in prep.rows:
        st: dict[str, Any] = {
            "n": np.zeros(2, dtype=np.int64),
            "pool_sum": np.zeros(len(test)),
            "pool_n": np.zeros(len(test), dtype=np.int64),
        }
        if discrete[r]:
            st["cm"] = np.zeros((2, 3, n_alpha), dtype=np.int64)  # split x (tp, fp, fn) x alpha
            st["cm_seed"] = np.zeros((n_seeds, 3, n_alpha), dtype=np.int64)
        else:
            st["sse"] = np.zeros((2, n_alpha))
            st["sse_seed"] = np.zeros((n_seeds, n_alpha))
        if r in flagged:
            # per split: how many labelled frames each clip of the list has, in list order
            truth = []
            seg = []
            for lst in (prep.public, prep.private):
                starts, owner = [], []
                pos = 0
                for c in lst:
                    s, e = prep.fmap[c]
                    nv, pooled = _pool_truth(np.asarray(labels.label_array[r, s:e]), discrete[r])
                    if nv:
                        truth.append(pooled)
                        starts.append(pos)
                        owner.append(len(truth) - 1)
                        pos += nv
                seg.append((np.asarray(starts, dtype=np.int64), np.asarray(owner, dtype=np.int64)))
            st["truth"] = truth
            st["seg"] = seg
            st["compat_sum"] = np.zeros(len(truth))
            st["compat_n"] = np.zeros(len(truth), dtype=np.int64)
            st["pos"] = [0, 0]
        acc.append(st)

    if float32:  # float32 decision values, one matrix-vector product per probe, as sklearn
        decisions = predict_decisions_sklearn32(X, test_runs, fits)
    else:
        decisions = predict_decisions(X, test_runs, fits, chunk_rows=chunk_rows)
    for a, b, k, dec in decisions:
        sp = test[k][1]
        for ti, r in enumerate(prep.rows):
            y = np.asarray(labels.label_array[r, a:b])
            valid = ~np.isnan(y)
            nv = int(valid.sum())
            if nv == 0:
                continue
            st = acc[ti]
            yv = y[valid]
            if discrete[r]:
                preds = np.stack(
                    [decisions_to_labels(dec[ti][f][valid], fits[ti].classes[f]) for f in range(n_seeds)]
                )  # (seeds, nv, alphas) class values
                merged = np.float32(np.mean(preds, axis=0) > 0)
                t1_ = (yv == 1)[:, None]
                p1 = merged == 1
                st["cm"][sp, 0] += np.sum(t1_ & p1, axis=0)
                st["cm"][sp, 1] += np.sum(~t1_ & p1, axis=0)
                st["cm"][sp, 2] += np.sum(t1_ & ~p1, axis=0)
                ps1 = preds == 1
                st["cm_seed"][:, 0] += np.sum(t1_[None] & ps1, axis=1)
                st["cm_seed"][:, 1] += np.sum(~t1_[None] & ps1, axis=1)
                st["cm_seed"][:, 2] += np.sum(t1_[None] & ~ps1, axis=1)
            else:
                preds = np.stack([dec[ti][f][valid][..., 0] for f in range(n_seeds)])
                merged = np.mean(preds, axis=0)
                yd = yv.astype(np.float64)[:, None]
                st["sse"][sp] += np.sum((yd - merged) ** 2, axis=0)
                st["sse_seed"] += np.sum((yd[None] - preds) ** 2, axis=1)
            st["n"][sp] += nv
            if r in flagged:
                mh = merged[:, headline].astype(np.float64)
                # sequential sums (bincount) for both poolings, so that they agree to the last
                # bit when the split lists are in frame order
                st["pool_sum"][k] += np.bincount(np.zeros(nv, dtype=np.intp), weights=mh)[0]
                st["pool_n"][k] += nv
                starts, owner = st["seg"][sp]
                pos = st["pos"][sp] + np.arange(nv)
                which = owner[np.searchsorted(starts, pos, side="right") - 1]
                st["compat_sum"] += np.bincount(which, weights=mh, minlength=len(st["truth"]))
                st["compat_n"] += np.bincount(which, minlength=len(st["truth"]))
                st["pos"][sp] += nv
    log(f"predicted and scored {len(test)} test clips in {time.perf_counter() - t1:.1f} s")

    out: dict[int, dict[str, Any]] = {}
    for ti, r in enumerate(prep.rows):
        st = acc[ti]
        res: dict[str, Any] = {}
        if discrete[r]:
            cm = st["cm"]
            res["public"] = [binary_f1(*cm[0, :, ai]) for ai in range(n_alpha)]
            tot = cm[0] + cm[1]
            res["private"] = [binary_f1(*tot[:, ai]) for ai in range(n_alpha)]
            res["no_ensemble"] = float(np.mean([binary_f1(*st["cm_seed"][f, :, headline]) for f in range(n_seeds)]))
        else:
            n_pub, n_all = st["n"][0], st["n"].sum()
            res["public"] = list(st["sse"][0] / n_pub) if n_pub else [float("nan")] * n_alpha
            res["private"] = list(st["sse"].sum(axis=0) / n_all) if n_all else [float("nan")] * n_alpha
            res["no_ensemble"] = float(np.mean(st["sse_seed"][:, headline] / n_all)) if n_all else float("nan")
        if r in flagged:
            if official_compat:
                means = st["compat_sum"] / np.maximum(st["compat_n"], 1)
            else:
                # the clips with labelled frames, in the same (public, private; list) order
                order = [k for k, (c, _) in enumerate(test) if st["pool_n"][k] > 0]
                means = st["pool_sum"][order] / st["pool_n"][order]
            pred = [int(m >= 0.5) for m in means] if discrete[r] else list(means)
            res["pooled"] = _pooled_metric(st["truth"], pred, discrete[r])
        out[r] = res
    return out


# ----------------------------------------------------------------------------------------------
# Reference path (literal sklearn)
# ----------------------------------------------------------------------------------------------


def _frame_index(fmap: Mapping[str, tuple[int, int]], clips: Sequence[str], n: int) -> np.ndarray:
    index = np.zeros(n, dtype=bool)
    for c in clips:
        s, e = fmap[c]
        index[s:e] = True
    return index


def _evaluate_reference(
    X: np.ndarray,
    labels: MabeLabels,
    prep: _Prepared,
    alphas: Sequence[float],
    headline: int,
    official_compat: bool,
    precision: str,
    log: Callable[[str], None],
) -> dict[int, dict[str, Any]]:
    from sklearn.linear_model import Ridge, RidgeClassifier
    from sklearn.metrics import f1_score, mean_squared_error

    dtype = np.float64 if precision == "float64" else np.float32
    t0 = time.perf_counter()
    models: dict[tuple[int, int, int], Any] = {}
    for si, clips in enumerate(prep.seed_clips):
        idx = _frame_index(prep.fmap, clips, prep.n_frames)
        X_full = np.asarray(X[idx], dtype=dtype)
        for _tid, r, disc, _ in prep.task_rows:
            y_full = np.asarray(labels.label_array[r, idx])
            for ai, alpha in enumerate(alphas):
                keep = ~np.isnan(y_full)  # re-filtered per alpha, like the official loop
                Xk, yk = X_full[keep], y_full[keep]
                if yk.size == 0:
                    raise BehavenetError(f"task {_tid}: no labelled frame among the training clips")
                model = RidgeClassifier(class_weight="balanced", alpha=alpha) if disc else Ridge(alpha=alpha)
                models[(si, r, ai)] = model.fit(Xk, yk)
        del X_full
    log(f"reference: {len(models)} sklearn fits in {time.perf_counter() - t0:.1f} s")

    def metric(disc: bool, yt: np.ndarray, yp: np.ndarray) -> float:
        if disc:
            return float(f1_score(yt, yp, average="binary", zero_division=0.0))
        return float(mean_squared_error(yt, yp))

    def agg(disc: bool, preds: list[np.ndarray]) -> np.ndarray:
        m = np.mean(np.stack(preds), axis=0)
        return np.float32(m > 0) if disc else m

    out: dict[int, dict[str, Any]] = {}
    done: set[int] = set()
    for _tid, r, disc, flagged in prep.task_rows:
        if r in done:
            continue
        done.add(r)
        per_split = {}
        for key, clips in (("public", prep.public), ("private", prep.private)):
            idx = _frame_index(prep.fmap, clips, prep.n_frames)
            y = np.asarray(labels.label_array[r, idx])
            keep = ~np.isnan(y)
            Xs = np.asarray(X[idx], dtype=dtype)[keep]
            preds = [
                [models[(si, r, ai)].predict(Xs) for si in range(len(prep.seed_clips))] for ai in range(len(alphas))
            ]
            per_split[key] = (y[keep], preds)
        y_pub, p_pub = per_split["public"]
        y_pri, p_pri = per_split["private"]
        res: dict[str, Any] = {"public": [], "private": []}
        for ai in range(len(alphas)):
            res["public"].append(metric(disc, y_pub, agg(disc, p_pub[ai])))
            both = [np.concatenate([a, b]) for a, b in zip(p_pri[ai], p_pub[ai])]
            y_both = np.concatenate([y_pri, y_pub])
            res["private"].append(metric(disc, y_both, agg(disc, both)))
            if ai == headline:
                res["no_ensemble"] = float(np.mean([metric(disc, y_both, p) for p in both]))
        if flagged:
            truth, pred = [], []
            for clips, preds in ((prep.public, p_pub), (prep.private, p_pri)):
                merged = agg(disc, preds[headline])
                # frame-ordered positions of every clip's labelled frames within `merged`
                own: dict[str, np.ndarray] = {}
                pos = 0
                for c in sorted(clips, key=lambda c: prep.fmap[c][0]):
                    s, e = prep.fmap[c]
                    nv = int((~np.isnan(np.asarray(labels.label_array[r, s:e]))).sum())
                    own[c] = np.arange(pos, pos + nv)
                    pos += nv
                start = 0
                for c in clips:  # split-list order, as the official loop
                    s, e = prep.fmap[c]
                    nv, pooled = _pool_truth(np.asarray(labels.label_array[r, s:e]), disc)
                    if nv == 0:
                        continue
                    truth.append(pooled)
                    sl = merged[start : start + nv] if official_compat else merged[own[c]]
                    m = np.mean(sl)
                    pred.append(int(m >= 0.5) if disc else m)
                    start += nv
            if disc:
                res["pooled"] = float(f1_score(truth, pred, average="binary", zero_division=0.0))
            else:
                res["pooled"] = float(mean_squared_error(truth, pred))
        out[r] = res
    return out


# ----------------------------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------------------------


def numerics_label(method: str, precision: str) -> str:
    """One line naming the arithmetic of the probe fits (printed by ``mabe-eval``, stored in
    ``meta["numerics"]``)."""
    if method == "fast" and precision == "float64":
        return "float64: exact ridge fits from float64 sufficient statistics (behavenet default)"
    if method == "fast":
        return (
            f"float32: scikit-learn {SKLEARN_COMPAT_VERSION} float32 arithmetic, as the official "
            "evaluator (one Gram matrix per seed and task, shared by the alphas)"
        )
    import sklearn

    what = "float64 copies" if precision == "float64" else "the float32 matrix, as the official evaluator"
    return f"{precision}: literal scikit-learn {sklearn.__version__} fits on {what}"


def _infer_species(tasks: MabeTasks) -> str:
    return "fly" if any("_singletask_fly_" in t for t in tasks.task_id_list) else "mouse"


def evaluate(
    embeddings: np.ndarray,
    labels: MabeLabels,
    split: Mapping[str, Sequence[str]],
    tasks: MabeTasks,
    *,
    method: str = "fast",
    official_compat: bool = False,
    species: str | None = None,
    alphas: Sequence[float] = ALPHAS,
    headline_alpha: float = HEADLINE_ALPHA,
    test_size: float = 0.1,
    precision: str | None = None,
    chunk_rows: int = 65536,
    log: Callable[[str], None] | None = None,
) -> MabeResult:
    """Run the MABe22 round-1 protocol on an embedding matrix.

    Parameters
    ----------
    embeddings
        ``(N, D)`` embeddings, rows placed by ``labels.frame_number_map`` (a memory map is fine).
    labels, split, tasks
        The official labels, split and tasks files (see :func:`load_labels`, :func:`load_split`,
        :func:`load_tasks`).
    method
        ``"fast"`` (sufficient statistics, default) or ``"reference"`` (literal sklearn fits).
    official_compat
        Reproduce the official evaluator's numbers: its misaligned "Pooled Score" instead of
        pooling each clip's frames, and (unless ``precision="float64"``) its float32 fits.
    species
        ``"mouse"`` or ``"fly"``; default: ``"fly"`` when the task list has ``_singletask_fly_``
        rows. Flies get the per-slot averaging.
    alphas, headline_alpha, test_size
        The protocol constants (defaults: the official ones).
    precision
        The numerics of the fits. ``"float64"`` (the default without ``official_compat``): exact
        ridge fits (fast: from float64 sufficient statistics; reference: sklearn on float64
        copies). ``"float32"`` (the default with ``official_compat``): the official evaluator's
        float32 fits (fast: scikit-learn 1.0.2's float32 arithmetic reproduced with one Gram
        matrix per seed and task, see :func:`behavenet.eval._ridge.fit_ridge_sklearn32`;
        reference: the installed sklearn handed the float32 matrix). ``result.meta["numerics"]``
        names the choice.
    chunk_rows
        Rows converted to float64 at once by the fast path.
    log
        Called with progress messages.

    Returns
    -------
    MabeResult
    """
    log = log or (lambda _msg: None)
    if method not in ("fast", "reference"):
        raise ConfigError("method", f"expected 'fast' or 'reference', got {method!r}")
    if precision is None:
        precision = "float32" if official_compat else "float64"
    if precision not in ("float64", "float32"):
        raise ConfigError("precision", f"expected 'float64' or 'float32', got {precision!r}")
    alphas = [float(a) for a in alphas]
    if float(headline_alpha) not in alphas:
        raise ConfigError("headline_alpha", f"{headline_alpha} is not one of the alphas {alphas}")
    headline = alphas.index(float(headline_alpha))
    species = species or _infer_species(tasks)
    if species not in SPECIES_WIDTH:
        raise ConfigError("species", f"expected 'mouse' or 'fly', got {species!r}")
    t0 = time.perf_counter()
    prep = _prepare(embeddings, labels, split, tasks, test_size)
    _check_binary_labels(labels, prep)
    if method == "fast":
        per_row = _evaluate_fast(
            embeddings, labels, prep, alphas, headline, official_compat, chunk_rows, log, float32=precision == "float32"
        )
    else:
        per_row = _evaluate_reference(embeddings, labels, prep, alphas, headline, official_compat, precision, log)
    rows: list[tuple[str, dict[str, Any]]] = []
    for tid, r, disc, flagged in prep.task_rows:
        res = per_row[r]
        cols: dict[str, Any] = {
            "Private Score": float(res["private"][headline]),
            "Public Score": float(res["public"][headline]),
            "Metric": F1 if disc else MSE,
            "No Ensemble Score": float(res["no_ensemble"]),
            "Pooled Score": float(res["pooled"]) if flagged else -1.0,
            "Sequence Level Task": bool(flagged),
        }
        for ai, alpha in enumerate(alphas):
            cols[_alpha_column(alpha)] = float(res["private"][ai])
        rows.append((tid, cols))
    if species == "fly":
        rows = average_fly_slots(rows)
    meta = {
        "method": method,
        "official_compat": bool(official_compat),
        "species": species,
        "seeds": list(tasks.seeds),
        "alphas": alphas,
        "headline_alpha": float(headline_alpha),
        "test_size": test_size,
        "precision": precision,
        "numerics": numerics_label(method, precision),
        "n_frames": prep.n_frames,
        "dim": int(embeddings.shape[1]),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return MabeResult(rows, summarize(rows, alphas), meta)


def evaluate_files(
    submission: str | os.PathLike,
    labels: str | os.PathLike,
    split: str | os.PathLike,
    tasks: str | os.PathLike,
    **kwargs: Any,
) -> MabeResult:
    """Load the four official files (safely, memory-mapped), validate the submission against the
    labels' frame map and run :func:`evaluate` (keyword arguments are passed on)."""
    lab = load_labels(labels)
    tk = load_tasks(tasks)
    sp = load_split(split)
    species = kwargs.get("species") or _infer_species(tk)
    kwargs["species"] = species
    emb = load_submission_embeddings(submission, lab.frame_number_map, species)
    return evaluate(emb, lab, sp, tk, **kwargs)
