"""Plots of embeddings and runs, with matplotlib's object API (no pyplot global state).

For notebooks::

    import matplotlib.pyplot as plt
    import behavenet
    from behavenet import plot

    sessions = behavenet.load_embeddings("outputs/train/runs/.../embeddings.h5")
    fig, ax = plt.subplots()
    plot.embedding(sessions[0], "position", ax=ax)   # or (emb, labels_array)

Every function draws on the ``ax`` it is given and returns it; without one it makes a bare
:class:`~matplotlib.figure.Figure` on the Agg canvas (``ax.figure.savefig(...)`` saves it). For a
run directory, :func:`run_figures` writes every figure into ``figures/`` (``train.py`` calls it at
the end of every run; ``behavenet plot RUN_DIR`` does it afterwards):

``embedding.png``
    the embedding (2-D projection: its first principal components) coloured by each label, test
    frames marked;
``embedding_3d.png``
    the same in 3-D (coloured by the first label);
``loss.png``
    the logged losses (``logs/metrics.csv``) over the training steps;
``decoded_<label>.png``
    the label decoded from the embedding (kNN fitted on the train frames) against the truth on the
    test frames;
``scores.png``
    the held-out decoding scores of ``metrics.json``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from behavenet.errors import FormatError

__all__ = ["decoded_vs_true", "embedding", "loss_curves", "new_axes", "run_figures", "save", "scores"]


def new_axes(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (4.5, 4.0), projection: str | None = None):
    """A bare Figure on the Agg canvas and its axes (a list when there are several)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows))
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(nrows, ncols, i + 1, projection=projection) for i in range(nrows * ncols)]
    return axes[0] if len(axes) == 1 else axes


def save(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Save ``fig`` as a PNG, atomically (temporary file, then rename)."""
    from behavenet.utils.files import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def _project(emb: np.ndarray, k: int) -> tuple[np.ndarray, str]:
    """The first ``k`` columns, or the first ``k`` principal components when wider."""
    emb = np.asarray(emb, dtype=np.float64)
    if emb.shape[1] <= k:
        return emb, "dim"
    centred = emb - emb.mean(0)
    _, _, vt = np.linalg.svd(centred[:: max(1, len(centred) // 20000)], full_matrices=False)
    return centred @ vt[:k].T, "PC"


def embedding(
    emb,
    labels=None,
    ax=None,
    *,
    split=None,
    vocabulary: list[str] | None = None,
    title: str | None = None,
    s: float = 3.0,
    cmap: str = "viridis",
    max_points: int | None = 20000,
):
    """Scatter an embedding, coloured by ``labels``.

    ``emb``: a ``(T, D)`` array or a :class:`~behavenet.embeddings.SessionEmbedding` (then
    ``labels`` may be a label name, and its split marks the test frames). ``labels``: ``(T,)``
    values (continuous: a colour bar; integers or strings with few values: one colour per class and
    a legend; negative integers are unlabelled) or None. ``split``: ``(T,)`` split codes (0 train,
    1 val, 2 test, 3 gap) or names; test frames are drawn as crosses. Wider embeddings are
    projected on their first principal components; a 3-D ``ax`` (``projection="3d"``) gets three.
    At most ``max_points`` evenly spaced frames are drawn (None: all). Returns ``ax``.
    """
    from behavenet.embeddings import SPLIT_CODES, SessionEmbedding

    name = None
    if isinstance(emb, SessionEmbedding):
        se = emb
        if isinstance(labels, str):
            name = labels
            if name not in se.labels:
                raise FormatError(
                    se.source_file or se.session_id, f"labels/{name}", f"no such label; have {sorted(se.labels)}"
                )
            vocabulary = vocabulary or se.vocabularies.get(name)
            labels = se.labels[name]
        if split is None:
            split = se.split
        emb = se.embedding
    emb = np.asarray(emb)
    if emb.ndim != 2:
        raise ValueError(f"emb: expected a (T, D) array, got shape {emb.shape}")
    if max_points and len(emb) > max_points:  # an evenly spaced subset of the frames
        keep = np.linspace(0, len(emb) - 1, int(max_points)).astype(np.int64)
        emb = emb[keep]
        labels = None if labels is None else np.asarray(labels)[keep]
        split = None if split is None else np.asarray(split)[keep]
    if ax is None:
        ax = new_axes()
    three_d = getattr(ax, "name", "") == "3d"
    xy, axis_name = _project(emb, 3 if three_d else 2)
    if xy.shape[1] == 1:
        xy = np.concatenate([xy, np.zeros_like(xy)], 1)
    test = np.zeros(len(emb), bool)
    if split is not None:
        split = np.asarray(split)
        test = (split == SPLIT_CODES["test"]) if split.dtype.kind in "iu" else (split == "test")
    coords = [xy[:, i] for i in range(xy.shape[1])]
    if labels is None:
        ax.scatter(*[c[~test] for c in coords], s=s, c="0.3", linewidths=0)
    else:
        y = np.asarray(labels)
        if y.ndim > 1:
            y = y[:, 0]
        if len(y) != len(emb):
            raise ValueError(f"labels: {len(y)} values for {len(emb)} embedding rows")
        discrete = y.dtype.kind in "iubUSO" and len(np.unique(y)) <= 20
        if discrete:
            import matplotlib

            keep = ~(y < 0) if y.dtype.kind in "i" else np.ones(len(y), bool)
            classes = list(np.unique(y[keep]))
            colours = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
            for i, cls in enumerate(classes):
                m = keep & (y == cls)
                text = (
                    vocabulary[int(cls)] if vocabulary and y.dtype.kind in "iu" and int(cls) < len(vocabulary) else cls
                )
                ax.scatter(*[c[m & ~test] for c in coords], s=s, color=colours(i), linewidths=0, label=str(text))
                if test.any():
                    ax.scatter(*[c[m & test] for c in coords], s=s * 4, color=colours(i), marker="x", linewidths=0.6)
            ax.legend(fontsize="small", markerscale=3, title=name)
        else:
            y = y.astype(np.float64)
            vmin, vmax = np.nanpercentile(y, [1, 99]) if np.isfinite(y).any() else (0, 1)
            sc = ax.scatter(*[c[~test] for c in coords], s=s, c=y[~test], cmap=cmap, vmin=vmin, vmax=vmax, linewidths=0)
            if test.any():
                ax.scatter(
                    *[c[test] for c in coords],
                    s=s * 4,
                    c=y[test],
                    cmap=cmap,
                    vmin=vmin,
                    vmax=vmax,
                    marker="x",
                    linewidths=0.6,
                )
            ax.figure.colorbar(sc, ax=ax, label=name or "label", shrink=0.8, pad=0.15 if three_d else 0.05)
    ax.set_xlabel(f"{axis_name} 1")
    ax.set_ylabel(f"{axis_name} 2")
    if three_d:
        ax.set_zlabel(f"{axis_name} 3")
    if test.any():
        title = (title or "") + ("  " if title else "") + "(x: test frames)"
    if title:
        ax.set_title(title, fontsize="medium")
    return ax


def read_metrics_csv(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{column: (steps, values)}`` of a Lightning ``CSVLogger`` ``metrics.csv`` (empty cells
    dropped)."""
    out: dict[str, tuple[list, list]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                step = int(float(row.get("step") or "nan"))
            except ValueError:
                continue
            for key, value in row.items():
                if key in ("step", "epoch") or value in ("", None):
                    continue
                try:
                    v = float(value)
                except ValueError:
                    continue
                out.setdefault(key, ([], []))
                out[key][0].append(step)
                out[key][1].append(v)
    return {k: (np.asarray(a), np.asarray(b)) for k, (a, b) in out.items()}


def loss_curves(source, ax=None, keys: list[str] | None = None):
    """The losses logged during training against the step: ``source`` is a run directory, a
    ``metrics.csv`` or the dict of :func:`read_metrics_csv`. Draws every ``*/loss`` column (or
    ``keys``). Returns ``ax``."""
    if not isinstance(source, dict):
        path = Path(source)
        path = path / "logs" / "metrics.csv" if path.is_dir() else path
        if not path.is_file():
            raise FormatError(path, None, "no training log (run with logger=csv to plot loss curves)")
        source = read_metrics_csv(path)
    keys = keys or sorted(k for k in source if k.endswith("/loss"))
    if ax is None:
        ax = new_axes(size=(5.5, 3.5))
    for key in keys:
        steps, values = source[key]
        marker = "o" if len(steps) < 30 else None
        ax.plot(steps, values, marker=marker, ms=3, label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if keys:
        ax.legend(fontsize="small")
    return ax


def decoded_vs_true(
    se, label: str, ax=None, n_neighbors: int = 25, metric: str = "cosine", max_train: int | None = 5000
):
    """The label decoded from the embedding by kNN (fitted on the session's train frames) against
    its true value on the test frames of a :class:`~behavenet.embeddings.SessionEmbedding`: over
    time for a continuous label, a confusion matrix for a discrete one. At most ``max_train``
    train frames fit the decoder (a picture, not the score: ``metrics.json`` has the scores).
    Returns ``ax``."""
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    if se.split is None:
        raise FormatError(se.source_file or se.session_id, "split", "no train/test split: embedded after training")
    if label not in se.labels:
        raise FormatError(
            se.source_file or se.session_id, f"labels/{label}", f"no such label; have {sorted(se.labels)}"
        )
    y = np.asarray(se.labels[label])
    y = y.reshape(len(y), -1)[:, 0]
    kind = se.label_kinds.get(label, "continuous")
    ok = np.isfinite(y) if kind == "continuous" else y >= 0
    train, test = se.mask("train") & ok, se.mask("test") & ok
    if ax is None:
        ax = new_axes(size=(6.5, 3.2) if kind == "continuous" else (4.0, 3.6))
    if not train.any() or not test.any():
        ax.text(0.5, 0.5, "no train or test frames", ha="center", transform=ax.transAxes)
        return ax
    if max_train and train.sum() > max_train:  # an evenly spaced subset of the train frames
        rows = np.flatnonzero(train)
        train = np.zeros_like(train)
        train[rows[np.linspace(0, len(rows) - 1, int(max_train)).astype(np.int64)]] = True
    k = int(min(n_neighbors, train.sum()))
    if kind == "continuous":
        pred = (
            KNeighborsRegressor(n_neighbors=k, metric=metric)
            .fit(se.embedding[train], y[train])
            .predict(se.embedding[test])
        )
        t = np.arange(int(test.sum())) / (se.fps or 1.0)
        ax.plot(t, y[test], color="0.2", lw=1, label="true")
        ax.plot(t, pred, color="tab:orange", lw=1, label="decoded (kNN)")
        ax.set_xlabel("test time (s)" if se.fps else "test frame")
        ax.set_ylabel(label)
        ax.legend(fontsize="small", loc="upper right")
    else:
        pred = (
            KNeighborsClassifier(n_neighbors=k, metric=metric)
            .fit(se.embedding[train], y[train])
            .predict(se.embedding[test])
        )
        classes = np.unique(np.concatenate([y[train], y[test]])).astype(int)
        cm = np.zeros((len(classes), len(classes)))
        index = {c: i for i, c in enumerate(classes)}
        for a, b in zip(y[test].astype(int), pred.astype(int)):
            cm[index[a], index[b]] += 1
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
        vocab = se.vocabularies.get(label) or []
        names = [vocab[c] if c < len(vocab) else str(c) for c in classes]
        ax.set_xticks(range(len(classes)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), names)
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", fontsize="small")
        ax.set_xlabel("decoded (kNN)")
        ax.set_ylabel("true")
    ax.set_title(f"{label} on the test frames", fontsize="medium")
    return ax


def scores(metrics: dict | str | os.PathLike, ax=None, split: str = "test"):
    """Bar plot of the held-out decoding scores of ``metrics.json`` (R² for continuous labels,
    accuracy for discrete ones; one bar per decoder). Returns ``ax``."""
    if not isinstance(metrics, dict):
        path = Path(metrics)
        metrics = json.loads((path / "metrics.json" if path.is_dir() else path).read_text())
    bars: list[tuple[str, str, float]] = []
    for label, res in sorted((metrics.get("decoding") or {}).items()):
        for decoder in ("knn", "linear"):
            sc = ((res.get(decoder) or {}).get(split)) or {}
            key = "r2" if "r2" in sc else "accuracy" if "accuracy" in sc else None
            if key:
                bars.append((f"{label}\n{'R²' if key == 'r2' else 'accuracy'}", decoder, float(sc[key])))
    if ax is None:
        ax = new_axes(size=(max(3.5, 1.4 * len({b[0] for b in bars}) + 1.5), 3.5))
    groups = list(dict.fromkeys(b[0] for b in bars))
    decoders = list(dict.fromkeys(b[1] for b in bars))
    width = 0.8 / max(len(decoders), 1)
    for j, decoder in enumerate(decoders):
        vals = [next((v for g2, d, v in bars if g2 == g and d == decoder), np.nan) for g in groups]
        x = np.arange(len(groups)) + (j - (len(decoders) - 1) / 2) * width
        ax.bar(x, vals, width, label={"knn": "kNN", "linear": "linear"}.get(decoder, decoder))
        for xi, v in zip(x, vals):
            if np.isfinite(v):
                ax.text(xi, max(v, 0) + 0.02, f"{v:.2f}", ha="center", fontsize="x-small")
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylim(min(0.0, *[b[2] for b in bars]) if bars else 0.0, 1.08)
    ax.axhline(0, color="0.5", lw=0.5)
    ax.set_ylabel(f"{split} score")
    if decoders:
        ax.legend(fontsize="small")
    return ax


def run_figures(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    color: str | None = None,
    metrics: dict | None = None,
    three_d: bool = True,
    max_points: int | None = 20000,
    decoded: bool = True,
) -> list[Path]:
    """Write the figures of a run directory into ``out_dir`` (default ``run_dir/figures``);
    returns their paths. ``color`` restricts the embedding plot to one label; ``metrics`` is the
    content of ``metrics.json`` (read from the run directory when None); ``three_d`` adds
    ``embedding_3d.png``; ``decoded`` the ``decoded_<label>.png`` figures. Figures whose inputs
    are absent (no CSV log, no metrics) are skipped."""
    from behavenet.embeddings import load_embeddings

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "figures"
    written: list[Path] = []
    emb_path = run_dir / "embeddings.h5"
    sessions = load_embeddings(emb_path) if emb_path.is_file() else []
    if sessions:
        se = sessions[0]
        names = [color] if color else sorted(se.labels) or [None]
        axes = new_axes(ncols=len(names))
        for ax, name in zip(axes if isinstance(axes, list) else [axes], names):
            embedding(se, name, ax=ax, title=name or se.session_id, max_points=max_points)
        written.append(save(_fig(axes), out / "embedding.png"))
        if three_d and se.embedding.shape[1] >= 3:
            ax = new_axes(projection="3d")
            embedding(se, names[0], ax=ax, title=names[0] or se.session_id, s=2.0, max_points=max_points)
            written.append(save(ax.figure, out / "embedding_3d.png"))
        if decoded and se.split is not None:
            for name in names:
                if name is not None and (se.mask("test").any()):
                    written.append(save(decoded_vs_true(se, name).figure, out / f"decoded_{_safe(name)}.png"))
    if (run_dir / "logs" / "metrics.csv").is_file():
        log = read_metrics_csv(run_dir / "logs" / "metrics.csv")
        if any(k.endswith("/loss") for k in log):
            written.append(save(loss_curves(log).figure, out / "loss.png"))
    if metrics is None and (run_dir / "metrics.json").is_file():
        metrics = json.loads((run_dir / "metrics.json").read_text())
    if metrics:
        if metrics.get("decoding"):
            written.append(save(scores(metrics).figure, out / "scores.png"))
    return written


def _fig(axes: Any):
    return (axes[0] if isinstance(axes, list) else axes).figure


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
