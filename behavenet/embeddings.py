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
    from behavenet import __version__

    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = "behavenet-embeddings"
            f.attrs["format_version"] = "1.0"
            f.attrs["model"] = str(getattr(model, "family", type(model).__name__))
            f.attrs["embedding_dim"] = int(model.embedding_dim)
            names = getattr(model, "embedding_names", None)
            if names:
                f.attrs["embedding_names"] = np.array([str(n) for n in names], dtype=h5py.string_dtype())
            f.attrs["behavenet_version"] = __version__
            sessions = f.create_group("sessions")
            for i, (sid, split, roles) in enumerate(datamodule.iter_full_sessions()):
                emb = model.embed_split(split)
                g = sessions.create_group(f"s{i:03d}")
                g.attrs["session_id"] = sid
                g.attrs["source_file"] = str(Path(datamodule.files[i]).resolve())
                g.attrs["fps"] = float(split.fps or 0.0)
                g.create_dataset("embedding", data=emb.astype(np.float32), compression="gzip")
                g.create_dataset("frame_index", data=split.frame_index)
                g.create_dataset("trial", data=split.trial_index)
                d = g.create_dataset("split", data=np.array([SPLIT_CODES.get(r, 3) for r in roles], dtype=np.int8))
                d.attrs["vocabulary"] = np.array(SPLIT_NAMES, dtype=h5py.string_dtype())
                lg = g.create_group("labels")
                for name, arr in split.labels.items():
                    d = lg.create_dataset(name, data=np.asarray(arr))
                    d.attrs["kind"] = split.label_kinds[name]
                    info = getattr(datamodule, "_label_info", {}).get(name, {})
                    if info.get("vocabulary"):
                        d.attrs["vocabulary"] = np.array(info["vocabulary"], dtype=h5py.string_dtype())
    return path


@dataclass
class SessionEmbedding:
    """The embedding of one session: read back from ``embeddings.h5`` (:func:`load_embeddings`),
    or computed for a new session file by a trained run (:meth:`behavenet.api.TrainedRun.embed_files`).

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
        for name in ("embedding", "frame_index", "trial", "split"):
            if not isinstance(g.get(name), h5py.Dataset):
                raise FormatError(path, f"/sessions/{key}/{name}", "required dataset is missing")
        if "session_id" not in g.attrs:
            raise FormatError(path, f"/sessions/{key}.attrs.session_id", "required attribute is missing")
        se = SessionEmbedding(
            session_id=decode_strings(g.attrs["session_id"])[0],
            embedding=g["embedding"][()],
            frame_index=g["frame_index"][()],
            trial=g["trial"][()],
            split=g["split"][()],
            source_file=decode_strings(g.attrs.get("source_file", ""))[0],
            fps=float(g.attrs.get("fps", 0.0)),
        )
        for name, d in g.get("labels", {}).items():
            se.labels[name] = d[()]
            se.label_kinds[name] = decode_strings(d.attrs.get("kind", "continuous"))[0]
            if "vocabulary" in d.attrs:
                se.vocabularies[name] = decode_strings(d.attrs["vocabulary"])
        out.append(se)
    return out
