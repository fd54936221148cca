"""Lazy reading of session files.

:class:`SessionFile` opens the HDF5 file on first use and re-opens it after a ``fork`` (a new
process id), so each DataLoader worker gets its own handle; it is picklable (the handle is not
pickled). Arrays are read on demand by frame range or frame index; video frames are read one
chunk (frame) at a time and never loaded whole.

:func:`open_session` also accepts original BehaveNet (v1) files and returns a reader with the same
interface (see :mod:`behavenet.data.behavenet_v1`). :func:`read_session` loads a whole session into
an in-memory :class:`~behavenet.data.format.Session` (video stays lazy unless asked for).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from behavenet.data.format import (
    Behavior,
    Calcium,
    FrameLabel,
    Pose,
    SequenceLabel,
    Session,
    Spikes,
    Video,
    is_behavenet_v1,
    validate_file,
)
from behavenet.errors import FormatError
from behavenet.utils.plain import decode_strings

#: signal name -> dataset path inside a session file
SIGNALS = {
    "pose": "pose/keypoints",
    "pose_confidence": "pose/confidence",
    "spikes": "neural/spikes",
    "calcium": "neural/calcium",
    "behavior": "behavior/values",
    "video": "video/frames",
}


class LazyFrames:
    """Frame-indexable view of a video (HDF5 dataset or external file), read on demand.

    ``frames[idx]`` with an int, slice or integer array returns uint8 ``(n, H, W, C)``
    (or ``(H, W, C)`` for an int). ``frame_shape`` gives ``(H, W, C)``.
    """

    def __init__(self, session: SessionFile):
        self._session = session
        self._external = None

    def __len__(self) -> int:
        return self._session.n_frames

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        f = self._session.handle
        if "video/frames" in f:
            return tuple(f["video/frames"].shape[1:])
        return self._external_reader().frame_shape

    def _external_reader(self):
        if self._external is None:
            from behavenet.data.video import VideoFileReader

            self._external = VideoFileReader(self._session.external_video_path)
        return self._external

    def __getitem__(self, idx):
        f = self._session.handle
        if "video/frames" in f:
            d = f["video/frames"]
            if isinstance(idx, (int, np.integer)):
                return d[int(idx)]
            if isinstance(idx, slice):
                return d[idx]
            idx = np.asarray(idx, dtype=np.int64)
            flat = idx.reshape(-1)
            # h5py needs increasing unique indices; read each unique frame once
            uniq, inverse = np.unique(flat, return_inverse=True)
            block = np.stack([d[int(i)] for i in uniq]) if len(uniq) else np.zeros((0,) + d.shape[1:], np.uint8)
            return block[inverse].reshape(idx.shape + d.shape[1:])
        return self._external_reader()[idx]

    def __getstate__(self):
        return {"_session": self._session, "_external": None}


class SessionFile:
    """Lazy, per-process reader of one behavenet session file (format v1)."""

    def __init__(self, path: str | os.PathLike, validate: bool = True):
        self.path = Path(path)
        self._handle = None
        self._pid = None
        if validate:
            self.summary = validate_file(self.path)
        f = self.handle
        self.session_id = decode_strings(f.attrs["session_id"])[0]
        self.fps = float(f.attrs["fps"])
        self.n_frames = int(f.attrs["n_frames"])
        self.species = decode_strings(f.attrs.get("species", ""))[0] if "species" in f.attrs else ""
        self.source_software = (
            decode_strings(f.attrs.get("source_software", ""))[0] if "source_software" in f.attrs else ""
        )
        self.trials = f["trials/bounds"][()].astype(np.int64)
        self.trial_names = (
            decode_strings(f["trials/names"][()])
            if "trials/names" in f
            else [f"trial_{i:04d}" for i in range(len(self.trials))]
        )
        self.close()  # do not hold a handle across fork; reopened lazily

    # -- handle management -----------------------------------------------------------------
    @property
    def handle(self) -> h5py.File:
        pid = os.getpid()
        if self._handle is None or self._pid != pid:
            self._handle = h5py.File(self.path, "r")
            self._pid = pid
        return self._handle

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            try:
                self._handle.close()
            except Exception:  # pragma: no cover - closing a handle twice
                pass
        self._handle = None
        self._pid = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"] = None
        state["_pid"] = None
        return state

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- metadata --------------------------------------------------------------------------
    @property
    def modalities(self) -> list[str]:
        f = self.handle
        out = []
        if "pose/keypoints" in f:
            out.append("pose")
        if "video" in f:
            out.append("video")
        if "neural/spikes" in f:
            out.append("spikes")
        if "neural/calcium" in f:
            out.append("calcium")
        if "behavior/values" in f:
            out.append("behavior")
        return out

    def has(self, signal: str) -> bool:
        if signal == "video":
            return "video" in self.handle
        return SIGNALS.get(signal, signal) in self.handle

    def shape(self, signal: str) -> tuple[int, ...]:
        if signal == "video":
            return (self.n_frames,) + tuple(self.video().frame_shape)
        return tuple(self.handle[SIGNALS[signal]].shape)

    @property
    def keypoint_names(self) -> list[str]:
        return decode_strings(self.handle["pose"].attrs.get("keypoint_names"))

    @property
    def animal_names(self) -> list[str]:
        return decode_strings(self.handle["pose"].attrs.get("animal_names"))

    @property
    def behavior_names(self) -> list[str]:
        return (
            decode_strings(self.handle["behavior/values"].attrs.get("names"))
            if "behavior/values" in self.handle
            else []
        )

    def unit_names(self, signal: str) -> list[str]:
        d = self.handle[SIGNALS[signal]]
        if "unit_names" in d.attrs:
            return decode_strings(d.attrs["unit_names"])
        return [f"{signal}{i}" for i in range(d.shape[1])]

    @property
    def external_video_path(self) -> Path:
        ext = decode_strings(self.handle["video"].attrs["external_path"])[0]
        p = Path(ext)
        return p if p.is_absolute() else self.path.resolve().parent / p

    @property
    def frame_label_names(self) -> list[str]:
        f = self.handle
        return list(f["labels/frame"].keys()) if "labels/frame" in f else []

    @property
    def sequence_label_names(self) -> list[str]:
        f = self.handle
        return list(f["labels/sequence"].keys()) if "labels/sequence" in f else []

    # -- data ------------------------------------------------------------------------------
    def read(self, signal: str, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Read ``[start, stop)`` frames of a signal (whole array by default)."""
        if signal == "video":
            return self.video()[slice(start, stop)]
        key = SIGNALS.get(signal, signal)
        if key not in self.handle:
            raise FormatError(self.path, f"/{key}", "the session has no such dataset")
        return self.handle[key][slice(start, stop)]

    def video(self) -> LazyFrames:
        if "video" not in self.handle:
            raise FormatError(self.path, "/video", "the session has no video")
        return LazyFrames(self)

    def frame_label(self, name: str) -> tuple[np.ndarray, list[str]]:
        d = self.handle[f"labels/frame/{name}"]
        return d[()].astype(np.int64), decode_strings(d.attrs["vocabulary"])

    def sequence_label(self, name: str) -> tuple[np.ndarray, str, list[str] | None]:
        d = self.handle[f"labels/sequence/{name}"]
        kind = decode_strings(d.attrs.get("kind", "discrete"))[0]
        vocab = decode_strings(d.attrs["vocabulary"]) if "vocabulary" in d.attrs else None
        return d[()], kind, vocab

    def to_session(self, load_video: bool = False) -> Session:
        """Load everything into an in-memory :class:`Session` (video only if ``load_video``)."""
        f = self.handle
        s = Session(
            session_id=self.session_id,
            fps=self.fps,
            species=self.species,
            source_software=self.source_software,
            trials=self.trials.copy(),
            trial_names=list(self.trial_names),
            description=decode_strings(f.attrs.get("description", ""))[0] if "description" in f.attrs else "",
        )
        if "user_attrs" in f.attrs:
            s.attrs = json.loads(decode_strings(f.attrs["user_attrs"])[0])
        if "pose" in f:
            g = f["pose"]
            skel = json.loads(decode_strings(g.attrs["skeleton"])[0]) if "skeleton" in g.attrs else None
            s.pose = Pose(
                keypoints=g["keypoints"][()],
                keypoint_names=self.keypoint_names,
                animal_names=self.animal_names,
                confidence=g["confidence"][()] if "confidence" in g else None,
                units=decode_strings(g.attrs.get("units", "px"))[0],
                skeleton=[tuple(e) for e in skel] if skel else None,
            )
        if "video" in f:
            g = f["video"]
            if "frames" in g:
                s.video = (
                    Video(frames=g["frames"][()])
                    if load_video
                    else Video(
                        n_frames=self.n_frames,
                        height=g["frames"].shape[1],
                        width=g["frames"].shape[2],
                        channels=g["frames"].shape[3],
                    )
                )
            else:
                s.video = Video(path=str(self.external_video_path), n_frames=int(g.attrs["n_frames"]))
        if "neural/spikes" in f:
            d = f["neural/spikes"]
            s.spikes = Spikes(counts=d[()], bin_width=float(d.attrs["bin_width"]), unit_names=self.unit_names("spikes"))
        if "neural/calcium" in f:
            d = f["neural/calcium"]
            s.calcium = Calcium(
                traces=d[()], unit_names=self.unit_names("calcium"), kind=decode_strings(d.attrs.get("kind", "dff"))[0]
            )
        if "behavior/values" in f:
            d = f["behavior/values"]
            s.behavior = Behavior(
                values=d[()],
                names=self.behavior_names,
                units=decode_strings(d.attrs["units"]) if "units" in d.attrs else None,
            )
        for name in self.frame_label_names:
            codes, vocab = self.frame_label(name)
            s.frame_labels[name] = FrameLabel(codes=codes.astype(np.int32), vocabulary=vocab)
        for name in self.sequence_label_names:
            vals, kind, vocab = self.sequence_label(name)
            s.sequence_labels[name] = SequenceLabel(values=vals, kind=kind, vocabulary=vocab)
        return s


def open_session(path: str | os.PathLike, validate: bool = True, **v1_options: Any):
    """Open a session file lazily: behavenet format v1, or an original BehaveNet (v1) file."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, None, "file not found")
    try:
        with h5py.File(path, "r") as f:
            legacy = is_behavenet_v1(f)
    except OSError as exc:
        raise FormatError(path, None, f"not a readable HDF5 file (truncated or corrupt?): {exc}") from None
    if legacy:
        from behavenet.data.behavenet_v1 import BehaveNetV1File

        return BehaveNetV1File(path, validate=validate, **v1_options)
    return SessionFile(path, validate=validate)


def read_session(path: str | os.PathLike, load_video: bool = False, **v1_options: Any) -> Session:
    """Read a whole session into memory (see :meth:`SessionFile.to_session`)."""
    reader = open_session(path, **v1_options)
    try:
        return reader.to_session(load_video=load_video)
    finally:
        reader.close()
