"""Downstream evaluation of a run (``eval=probes``): linear probes and kNN decoders on the
labels a run served, with the MABe22 protocol (:func:`behavenet.eval.probes.evaluate_tasks`).

Clips are maximal runs of frames that share a trial and a split, so a MABe-style data set (one
trial per sequence) has one clip per sequence and a continuous recording cut into pseudo-trials
has one clip per pseudo-trial run. Probes train on the clips of ``train_split`` and are scored
on the clips of ``test_split``. Discrete labels become classification tasks, continuous labels
regression tasks (one per column); a label whose source is a sequence label is a sequence-level
task (it also gets the pooled clip-level score).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from behavenet.embeddings import SPLIT_CODES, SessionEmbedding
from behavenet.errors import ConfigError
from behavenet.utils.plain import to_plain


def clip_runs(se: SessionEmbedding) -> np.ndarray:
    """Per-frame clip number: a new clip starts wherever the trial or the split changes."""
    change = np.ones(len(se.split), dtype=bool)
    change[1:] = (np.diff(se.trial) != 0) | (np.diff(se.split) != 0)
    return np.cumsum(change) - 1


def _tasks_from_labels(sessions: list[SessionEmbedding], names, levels: dict) -> list[tuple[str, str, str, int | None]]:
    """(task name, label name, kind, column) for every requested label."""
    ref = sessions[0]
    names = list(names) if names else sorted(ref.labels)
    out = []
    for name in names:
        if name not in ref.labels:
            raise ConfigError(
                "eval.probes.tasks",
                f"label {name!r} was not served by the data module "
                f"(served: {sorted(ref.labels)}); add it to data.labels",
            )
        kind = ref.label_kinds[name]
        if kind == "discrete":
            out.append((name, name, "classification", None))
        else:
            arr = ref.labels[name].reshape(len(ref.labels[name]), -1)
            cols = range(arr.shape[1])
            out.extend((name if arr.shape[1] == 1 else f"{name}.{c}", name, "regression", c) for c in cols)
    return out


def probe_metrics(sessions: list[SessionEmbedding], cfg, out_dir: Path | None = None) -> dict[str, Any]:
    """Run the probes configured in ``cfg`` (``eval.probes``) on a run's embeddings."""
    from behavenet.eval.probes import TaskSpec, evaluate_tasks, plot_task_scores, results_table

    get = cfg.get if hasattr(cfg, "get") else (lambda k, d=None: d)
    train_split, test_split = get("train_split", "train"), get("test_split", "test")
    levels = dict(get("levels", {}) or {})
    emb, clip_id, trains, tests = [], [], [], []
    for si, se in enumerate(sessions):
        runs = clip_runs(se)
        ids = np.array([f"s{si:03d}/c{r:05d}" for r in runs], dtype=object)
        emb.append(se.embedding)
        clip_id.append(ids)
        for r in np.unique(runs):
            code = int(se.split[np.argmax(runs == r)])
            cid = f"s{si:03d}/c{r:05d}"
            if code == SPLIT_CODES[train_split]:
                trains.append(cid)
            elif code == SPLIT_CODES[test_split]:
                tests.append(cid)
    if not trains or not tests:
        raise ConfigError("eval.probes", f"no {train_split!r} or no {test_split!r} clips in the run")
    X = np.concatenate(emb).astype(np.float32)
    clips = np.concatenate(clip_id)
    specs = []
    for task, label, kind, col in _tasks_from_labels(sessions, get("tasks"), levels):
        cols = []
        for se in sessions:
            y = se.labels[label]
            y = y.reshape(len(y), -1)[:, col] if col is not None else y.reshape(-1)
            cols.append(y.astype(np.float64) if kind == "regression" else y)
        y = np.concatenate(cols)
        level = levels.get(task) or ("sequence" if _is_sequence_level(sessions, label) else "frame")
        specs.append(TaskSpec(task, y, kind=kind, level=level))
    results = evaluate_tasks(
        X,
        clips,
        specs,
        trains,
        tests,
        seeds=tuple(get("seeds", (42, 43, 44))),
        alphas=tuple(get("alphas", (0.1, 0.5, 1.0, 2.0, 5.0))),
        headline_alpha=float(get("headline_alpha", 1.0)),
        knn_neighbors=get("knn_neighbors", 5),
    )
    if out_dir is not None:
        out_dir = Path(out_dir)
        results_table(results).to_csv(out_dir / "probes.csv")
        if get("plot", True):
            plot_task_scores(results, out_dir / "probes.png", title="downstream probes")
    return {k: {kk: to_plain(vv) for kk, vv in v.items()} for k, v in results.items()}


def _is_sequence_level(sessions, label) -> bool:
    """True if the label is constant within every trial of every session (and trials exist)."""
    for se in sessions:
        y = se.labels[label].reshape(len(se.labels[label]), -1)
        for t in np.unique(se.trial):
            block = y[se.trial == t]
            same = (
                (block == block[0]) | (np.isnan(block) & np.isnan(block[0]))
                if block.dtype.kind == "f"
                else (block == block[0])
            )
            if not np.all(same):
                return False
    return len(np.unique(sessions[0].trial)) > 1
