"""``embeddings.h5``: per-frame embeddings of every session of a run.

Layout (format ``behavenet-embeddings`` 1.0)::

    /                        attrs: format, format_version, model, embedding_dim, behavenet_version,
                             embedding_names (optional: a name per column, e.g. the MM-GPVAE's
                             shared.0, spikes.0, ...)
    /sessions/<key>/         attrs: session_id, source_file, fps
        embedding            float32 (T, D): one row per frame of the session, in time order
        frame_index          int64 (T,): frame number in the session file
        trial                int64 (T,): trial (sequence) index in the session file
        split                int8 (T,): 0 train, 1 val, 2 test, 3 gap (attrs vocabulary)
        labels/<name>        the labels the data module served, aligned with the rows
                             (attrs kind: continuous | discrete; vocabulary for discrete)

``<key>`` is the session index as ``s000``, ``s001``, ... (session ids may contain any
character); the id itself is the ``session_id`` attribute.

Files written by ``behavenet embed`` (:func:`write_embeddings`) have no ``split`` datasets (the
frames had no role in training), the session attribute ``trial_names`` and provenance attributes
(root: ``source_model``, ``checkpoint_sha256``, ``config``; session: ``data_sha256``; see
``docs/pretrained.md``). :func:`embeddings_to_sessions` turns any of these files into session files,
which is how data modules read them as an input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from behavenet.errors import FormatError
from behavenet.utils.files import atomic_path
from behavenet.utils.plain import decode_strings

SPLIT_CODES = {"train": 0, "val": 1, "test": 2, "gap": 3, "none": 3}
SPLIT_NAMES = ["train", "val", "test", "gap"]


def export_embeddings(model, datamodule, path: str | os.PathLike) -> Path:
    """Embed every frame of every session of ``datamodule`` with ``model``; write atomically."""
    sessions = []
    vocab = {k: list(v["vocabulary"]) for k, v in getattr(datamodule, "_label_info", {}).items() if v.get("vocabulary")}
    for i, (sid, split, roles) in enumerate(datamodule.iter_full_sessions()):
        sessions.append(
            SessionEmbedding(
                session_id=sid,
                embedding=model.embed_split(split),
                frame_index=split.frame_index,
                trial=split.trial_index,
                split=np.array([SPLIT_CODES.get(r, 3) for r in roles], dtype=np.int8),
                labels=dict(split.labels),
                label_kinds=dict(split.label_kinds),
                vocabularies={k: v for k, v in vocab.items() if k in split.labels},
                source_file=str(Path(datamodule.files[i]).resolve()),
                fps=float(split.fps or 0.0),
            )
        )
    return write_embeddings(
        path,
        sessions,
        model=str(getattr(model, "family", type(model).__name__)),
        embedding_names=getattr(model, "embedding_names", None),
    )


def write_embeddings(
    path: str | os.PathLike,
    sessions: list[SessionEmbedding],
    model: str,
    embedding_names: list[str] | None = None,
    attrs: dict | None = None,
    session_attrs: list[dict] | None = None,
) -> Path:
    """Write ``sessions`` as an ``embeddings.h5`` file, atomically (temporary file, then rename).

    ``attrs`` are extra root attributes (provenance: strings and numbers; dicts are stored as
    JSON text); ``session_attrs`` extra attributes of each session group. A session whose ``split``
    is None (embedded after training) has no ``split`` dataset.
    """
    import json

    from behavenet import __version__

    if not sessions:
        raise FormatError(path, "sessions", "nothing to write: no session was embedded")
    dims = {int(s.embedding.shape[1]) for s in sessions}
    if len(dims) != 1:
        raise FormatError(path, "embedding", f"sessions differ in embedding width: {sorted(dims)}")
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = "behavenet-embeddings"
            f.attrs["format_version"] = "1.0"
            f.attrs["model"] = str(model)
            f.attrs["embedding_dim"] = dims.pop()
            if embedding_names:
                f.attrs["embedding_names"] = np.array([str(n) for n in embedding_names], dtype=h5py.string_dtype())
            f.attrs["behavenet_version"] = __version__
            for key, value in (attrs or {}).items():
                f.attrs[key] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
            group = f.create_group("sessions")
            for i, se in enumerate(sessions):
                g = group.create_group(f"s{i:03d}")
                g.attrs["session_id"] = se.session_id
                g.attrs["source_file"] = str(se.source_file)
                g.attrs["fps"] = float(se.fps or 0.0)
                for key, value in ((session_attrs or [{}] * len(sessions))[i] or {}).items():
                    g.attrs[key] = value
                g.create_dataset("embedding", data=np.asarray(se.embedding, dtype=np.float32), compression="gzip")
                g.create_dataset("frame_index", data=np.asarray(se.frame_index, dtype=np.int64))
                g.create_dataset("trial", data=np.asarray(se.trial, dtype=np.int64))
                if se.trial_names:
                    g.attrs["trial_names"] = np.array([str(n) for n in se.trial_names], dtype=h5py.string_dtype())
                if se.split is not None:
                    d = g.create_dataset("split", data=np.asarray(se.split, dtype=np.int8))
                    d.attrs["vocabulary"] = np.array(SPLIT_NAMES, dtype=h5py.string_dtype())
                lg = g.create_group("labels")
                for name, arr in se.labels.items():
                    d = lg.create_dataset(name, data=np.asarray(arr))
                    d.attrs["kind"] = se.label_kinds.get(name, "continuous")
                    if se.vocabularies.get(name):
                        d.attrs["vocabulary"] = np.array(se.vocabularies[name], dtype=h5py.string_dtype())
    return path


@dataclass
class SessionEmbedding:
    """The embedding of one session: read back from ``embeddings.h5`` (:func:`load_embeddings`),
    or computed for a new session file by a trained model (:meth:`behavenet.pretrained.PretrainedModel.embed`).

    ``embedding`` is ``(T, D)``, one row per frame in time order; ``frame_index`` and ``trial``
    give each row's frame and trial in the session file. ``split`` (codes of ``SPLIT_NAMES``) is
    the role each frame had in training, ``None`` for a session the model never saw.
    ``trial_names`` name the trials (``trial_embedding(name)`` returns one).
    """

    session_id: str
    embedding: np.ndarray
    frame_index: np.ndarray
    trial: np.ndarray
    split: np.ndarray | None = None
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    label_kinds: dict[str, str] = field(default_factory=dict)
    vocabularies: dict[str, list[str]] = field(default_factory=dict)
    source_file: str = ""
    fps: float = 0.0
    trial_names: list[str] = field(default_factory=list)

    def __post_init__(self):
        # row maps of a large on-disk session (behavenet.data.ondisk.RowMap) become arrays here
        self.frame_index = np.asarray(self.frame_index)
        self.trial = np.asarray(self.trial)
        self.labels = {k: np.asarray(v) for k, v in self.labels.items()}

    def mask(self, split: str) -> np.ndarray:
        """Boolean mask of the rows that had role ``split`` in training."""
        if self.split is None:
            raise ValueError(f"session {self.session_id!r} was embedded after training: its frames have no split")
        return self.split == SPLIT_CODES[split]

    def trial_embedding(self, name: str) -> np.ndarray:
        """The rows of the trial called ``name`` (see ``trial_names``)."""
        if name not in self.trial_names:
            raise KeyError(f"session {self.session_id!r} has no trial {name!r}")
        return self.embedding[self.trial == self.trial_names.index(name)]


def load_embeddings(path: str | os.PathLike) -> list[SessionEmbedding]:
    """Read every session of an ``embeddings.h5`` file."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, None, "embeddings file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, None, f"not a readable HDF5 file: {exc}") from None
    with f:
        try:
            return _read_embeddings(path, f)
        except (OSError, KeyError, ValueError) as exc:  # damaged chunks or attributes inside a readable header
            if isinstance(exc, FormatError):
                raise
            raise FormatError(path, None, f"unreadable content (truncated or corrupt?): {exc}") from None


def _read_embeddings(path: Path, f: h5py.File) -> list[SessionEmbedding]:
    out = []
    if decode_strings(f.attrs.get("format", ""))[0] != "behavenet-embeddings":
        raise FormatError(path, "attrs.format", "expected 'behavenet-embeddings'")
    if not isinstance(f.get("sessions"), h5py.Group):
        raise FormatError(path, "/sessions", "missing group (one subgroup per embedded session)")
    for key in sorted(f["sessions"]):
        g = f["sessions"][key]
        for name in ("embedding", "frame_index", "trial"):
            if not isinstance(g.get(name), h5py.Dataset):
                raise FormatError(path, f"/sessions/{key}/{name}", "required dataset is missing")
        if "session_id" not in g.attrs:
            raise FormatError(path, f"/sessions/{key}.attrs.session_id", "required attribute is missing")
        se = SessionEmbedding(
            session_id=decode_strings(g.attrs["session_id"])[0],
            embedding=g["embedding"][()],
            frame_index=g["frame_index"][()],
            trial=g["trial"][()],
            split=g["split"][()] if "split" in g else None,
            source_file=decode_strings(g.attrs.get("source_file", ""))[0],
            fps=float(g.attrs.get("fps", 0.0)),
            trial_names=decode_strings(g.attrs["trial_names"]) if "trial_names" in g.attrs else [],
        )
        for name, d in g.get("labels", {}).items():
            se.labels[name] = d[()]
            se.label_kinds[name] = decode_strings(d.attrs.get("kind", "continuous"))[0]
            if "vocabulary" in d.attrs:
                se.vocabularies[name] = decode_strings(d.attrs["vocabulary"])
        out.append(se)
    return out


def embeddings_attrs(path: str | os.PathLike) -> dict:
    """The root attributes of an embeddings file (format, model, embedding_dim and, for files
    written by ``behavenet embed``, the provenance: ``source_model``, ``checkpoint_sha256``,
    ``config`` (JSON text), ...)."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, None, f"not a readable HDF5 file: {exc}") from None
    with f:
        out = {}
        for key, value in f.attrs.items():
            vals = decode_strings(value) if isinstance(value, (str, bytes, np.ndarray)) else None
            if vals is None:
                out[key] = value.item() if hasattr(value, "item") else value
            elif isinstance(value, np.ndarray) and value.ndim:
                out[key] = vals
            else:
                out[key] = vals[0]
        return out


def is_embeddings_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5 file in the ``behavenet-embeddings`` format."""
    try:
        with h5py.File(path, "r") as f:
            return decode_strings(f.attrs.get("format", ""))[0] == "behavenet-embeddings"
    except (OSError, ValueError, IndexError):
        return False


def embeddings_to_sessions(path: str | os.PathLike, out_dir: str | os.PathLike, overwrite: bool = False) -> list[Path]:
    """Write every session of an embeddings file as a behavenet session file, so that a data
    module can serve it: the embedding becomes the ``calcium`` input (``kind="embedding"``, one
    "unit" per embedding column), continuous labels become behaviour variables and discrete ones
    frame labels (served with ``data.labels``); trials, trial names and frame rate are kept.

    ``SessionDataModule(files=[emb.h5], input="calcium", labels=[...])`` calls this itself (the
    converted files are cached under ``data.convert_cache``). Returns the written paths, one per
    session, named ``<file stem>-s000.h5``, ...
    """
    from behavenet.data.format import Behavior, Calcium, FrameLabel, Session, write_session

    path = Path(path)
    sessions = load_embeddings(path)
    attrs = embeddings_attrs(path)
    names = attrs.get("embedding_names")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, se in enumerate(sessions):
        where = f"sessions/s{i:03d}"
        emb = np.asarray(se.embedding, dtype=np.float32)
        trials, trial_ids = [], []
        change = np.flatnonzero(np.diff(se.trial)) + 1
        for a, b in zip(np.r_[0, change], np.r_[change, len(se.trial)]):
            trials.append((int(a), int(b)))
            trial_ids.append(int(se.trial[a]))
        if len(set(trial_ids)) != len(trial_ids):
            raise FormatError(path, f"{where}/trial", "each trial's rows must be contiguous")
        trial_names = (
            [se.trial_names[t] if 0 <= t < len(se.trial_names) else f"trial_{t:04d}" for t in trial_ids]
            if se.trial_names
            else [f"trial_{t:04d}" for t in trial_ids]
        )
        columns, values = [], []
        frame_labels = {}
        for name, arr in se.labels.items():
            arr = np.asarray(arr)
            if se.label_kinds.get(name) == "discrete":
                codes = arr.reshape(len(arr), -1)[:, 0].astype(np.int64)
                vocab = se.vocabularies.get(name) or [str(c) for c in range(int(codes.max(initial=-1)) + 1)]
                frame_labels[name] = FrameLabel(codes=codes, vocabulary=list(vocab))
            else:
                block = arr.reshape(len(arr), -1).astype(np.float32)
                values.append(block)
                columns += [name] if block.shape[1] == 1 else [f"{name}.{j}" for j in range(block.shape[1])]
        session = Session(
            session_id=se.session_id,
            fps=float(se.fps or 1.0),
            calcium=Calcium(
                traces=emb,
                unit_names=list(names) if names else [f"emb.{j}" for j in range(emb.shape[1])],
                kind="embedding",
            ),
            behavior=Behavior(values=np.concatenate(values, 1), names=columns) if values else None,
            frame_labels=frame_labels,
            trials=np.asarray(trials, dtype=np.int64),
            trial_names=trial_names,
            source_software="behavenet embeddings",
            description=f"embedding of {se.source_file or se.session_id} by {attrs.get('model', 'a model')}",
        )
        target = out_dir / f"{path.stem}-s{i:03d}.h5"
        written.append(write_session(session, target, overwrite=overwrite))
    return written
