"""Read (and convert) original BehaveNet (v1, themattinthehatt/behavenet) HDF5 files.

Layout of a v1 file: top-level groups ``images``, ``masks``, ``neural``, ``labels``,
``labels_masks`` (any subset), each holding one dataset per trial named ``trial_%04i``. Within a
trial every group has the same number of frames. v1 files carry no frame rate and no names.

behavenet reads these files directly (:class:`BehaveNetV1File`, returned by
:func:`behavenet.data.reader.open_session`), concatenating trials along time and recording them as
the session's trials. Mapping:

=================  =============================================================================
v1                 behavenet session
=================  =============================================================================
images  (n,C,H,W)  video frames (n,H,W,C) uint8
neural  (n,N)      spikes if every value is a non-negative integer, else calcium
                   (override with ``neural_type="spikes"|"calcium"``)
labels  (n,2K)     pose (n,1,K,2); x and y interleaved (``label_layout="interleaved"``, the
                   default) or all x then all y (``"blocked"``)
labels_masks       pose entries where the mask is 0 become NaN
masks, regions     not carried over (documented loss)
=================  =============================================================================

:func:`convert_behavenet_v1` writes the same content as a format-v1 session file.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import h5py
import numpy as np

from behavenet.data.format import Calcium, Pose, Session, Spikes, Video, write_session
from behavenet.errors import FormatError

log = logging.getLogger(__name__)

_TRIAL = re.compile(r"^trial_(\d+)$")
V1_GROUPS = ("images", "masks", "neural", "labels", "labels_masks")


def _trial_keys(path, f: h5py.File, group: str) -> list[str]:
    keys = list(f[group].keys())
    bad = [k for k in keys if not _TRIAL.match(k)]
    if bad:
        raise FormatError(path, f"/{group}/{bad[0]}", "expected datasets named trial_%04i")
    return sorted(keys, key=lambda k: int(_TRIAL.match(k).group(1)))


def validate_v1(path, f: h5py.File) -> dict:
    """Validate an open BehaveNet v1 file; return a summary like :func:`validate_file`."""
    groups = [g for g in V1_GROUPS if g in f]
    if not groups:
        raise FormatError(path, None, "no BehaveNet v1 groups (images, neural, labels)")
    ref_group = next(g for g in ("images", "neural", "labels") if g in f)
    keys = _trial_keys(path, f, ref_group)
    lengths = {k: f[ref_group][k].shape[0] for k in keys}
    for g in groups:
        gkeys = _trial_keys(path, f, g)
        if gkeys != keys:
            missing = sorted(set(keys) ^ set(gkeys))
            raise FormatError(path, f"/{g}", f"trials differ from /{ref_group}: {missing[:3]}")
        for k in keys:
            d = f[g][k]
            if d.shape[0] != lengths[k]:
                raise FormatError(path, f"/{g}/{k}", f"has {d.shape[0]} frames, /{ref_group}/{k} has {lengths[k]}")
            if g in ("images", "masks") and (d.ndim != 4):
                raise FormatError(path, f"/{g}/{k}", f"expected (frames, channels, height, width), found {d.shape}")
            if g == "images" and d.dtype != np.uint8:
                raise FormatError(path, f"/{g}/{k}", f"expected uint8, found {d.dtype}")
            if g in ("neural", "labels", "labels_masks") and d.ndim != 2:
                raise FormatError(path, f"/{g}/{k}", f"expected (frames, features), found {d.shape}")
            if g == "labels" and d.shape[1] % 2:
                raise FormatError(
                    path, f"/{g}/{k}", f"expected an even number of columns (x, y per marker), found {d.shape[1]}"
                )
            if g == "neural":
                arr = d[()]
                if not np.isfinite(arr).all():
                    raise FormatError(path, f"/{g}/{k}", "contains NaN or infinite values")
    n = int(sum(lengths.values()))
    return {
        "path": os.fspath(path),
        "format_version": "behavenet-v1",
        "n_frames": n,
        "fps": None,
        "n_trials": len(keys),
        "modalities": groups,
        "frame_labels": [],
        "sequence_labels": [],
        "session_id": Path(path).stem,
    }


class _ConcatTrials:
    """Concatenate the ``trial_%04i`` datasets of one group lazily along time."""

    def __init__(self, owner: BehaveNetV1File, group: str, transform=None, frame_shape=None):
        self.owner, self.group, self.transform = owner, group, transform
        self._frame_shape = frame_shape

    def __len__(self):
        return self.owner.n_frames

    @property
    def frame_shape(self):
        return self._frame_shape

    def _read_range(self, start, stop):
        parts = []
        for (t0, t1), key in zip(self.owner.trials, self.owner._keys):
            lo, hi = max(start, t0), min(stop, t1)
            if lo < hi:
                parts.append(self.owner.handle[self.group][key][lo - t0 : hi - t0])
        arr = np.concatenate(parts) if parts else self.owner.handle[self.group][self.owner._keys[0]][0:0]
        return self.transform(arr) if self.transform else arr

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            start, stop, step = idx.indices(len(self))
            return self._read_range(start, stop)[::step]
        if isinstance(idx, (int, np.integer)):
            return self._read_range(int(idx), int(idx) + 1)[0]
        idx = np.asarray(idx, dtype=np.int64)
        flat = idx.reshape(-1)
        uniq, inv = np.unique(flat, return_inverse=True)
        rows = np.stack([self._read_range(int(i), int(i) + 1)[0] for i in uniq]) if len(uniq) else None
        if rows is None:
            return self._read_range(0, 0)
        return rows[inv].reshape(idx.shape + rows.shape[1:])


class BehaveNetV1File:
    """Lazy reader of an original BehaveNet file with the :class:`SessionFile` interface."""

    def __init__(
        self,
        path,
        validate: bool = True,
        fps: float | None = None,
        neural_type: str = "auto",
        label_layout: str = "interleaved",
        session_id: str | None = None,
    ):
        self.path = Path(path)
        self._handle = None
        self._pid = None
        if validate:
            with h5py.File(self.path, "r") as f:
                self.summary = validate_v1(self.path, f)
        if neural_type not in ("auto", "spikes", "calcium"):
            raise FormatError(self.path, "neural_type", f"expected auto, spikes or calcium, found {neural_type!r}")
        if label_layout not in ("interleaved", "blocked"):
            raise FormatError(self.path, "label_layout", f"expected interleaved or blocked, found {label_layout!r}")
        f = self.handle
        self._groups = [g for g in V1_GROUPS if g in f]
        ref = next(g for g in ("images", "neural", "labels") if g in f)
        self._keys = _trial_keys(self.path, f, ref)
        lengths = np.array([f[ref][k].shape[0] for k in self._keys], dtype=np.int64)
        stops = np.cumsum(lengths)
        self.trials = np.stack([stops - lengths, stops], axis=1)
        self.trial_names = list(self._keys)
        self.n_frames = int(stops[-1]) if len(stops) else 0
        if fps is None:
            log.warning("%s: BehaveNet v1 files store no frame rate; assuming fps=1 (pass fps=...)", self.path)
            fps = 1.0
        self.fps = float(fps)
        self.session_id = session_id or self.path.stem
        self.species = ""
        self.source_software = "behavenet-v1"
        self.label_layout = label_layout
        self.neural_type = neural_type
        if "neural" in f and neural_type == "auto":
            self.neural_type = "spikes" if self._neural_is_counts() else "calcium"
        self.close()

    # handle management, same as SessionFile
    @property
    def handle(self) -> h5py.File:
        pid = os.getpid()
        if self._handle is None or self._pid != pid:
            self._handle = h5py.File(self.path, "r")
            self._pid = pid
        return self._handle

    def close(self):
        if self._handle is not None and self._pid == os.getpid():
            self._handle.close()
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

    def _neural_is_counts(self) -> bool:
        for k in self._keys:
            a = self.handle["neural"][k][()]
            if (a < 0).any() or not np.allclose(a, np.round(a)):
                return False
        return True

    # metadata
    @property
    def modalities(self) -> list[str]:
        out = []
        if "labels" in self._groups:
            out.append("pose")
        if "images" in self._groups:
            out.append("video")
        if "neural" in self._groups:
            out.append(self.neural_type)
        return out

    def has(self, signal: str) -> bool:
        return signal in self.modalities or (signal == "pose_confidence" and False)

    @property
    def _n_markers(self) -> int:
        return self.handle["labels"][self._keys[0]].shape[1] // 2

    def shape(self, signal):
        f = self.handle
        k0 = self._keys[0]
        if signal == "pose":
            return (self.n_frames, 1, self._n_markers, 2)
        if signal == "video":
            _, c, h, w = f["images"][k0].shape
            return (self.n_frames, h, w, c)
        if signal in ("spikes", "calcium"):
            return (self.n_frames, f["neural"][k0].shape[1])
        raise FormatError(self.path, signal, "the session has no such signal")

    @property
    def keypoint_names(self):
        return [f"marker{i}" for i in range(self._n_markers)]

    @property
    def animal_names(self):
        return ["animal0"]

    @property
    def behavior_names(self):
        return []

    def unit_names(self, signal):
        return [f"{signal}{i}" for i in range(self.shape(signal)[1])]

    frame_label_names: list[str] = []
    sequence_label_names: list[str] = []

    def _pose_transform(self, arr):
        n, c = arr.shape
        k = c // 2
        if self.label_layout == "interleaved":
            xy = arr.reshape(n, k, 2)
        else:
            xy = np.stack([arr[:, :k], arr[:, k:]], axis=-1)
        return xy[:, None].astype(np.float32)

    def _signal(self, signal):
        if signal == "pose":
            return _ConcatTrials(self, "labels", self._pose_transform)
        if signal in ("spikes", "calcium") and signal == self.neural_type:
            return _ConcatTrials(self, "neural", lambda a: a.astype(np.float32))
        if signal == "video":
            return self.video()
        raise FormatError(self.path, signal, f"the session has no such signal (has {self.modalities})")

    def read(self, signal, start=None, stop=None):
        sig = self._signal(signal)
        arr = sig[slice(start, stop)]
        if signal == "pose" and "labels_masks" in self._groups:
            mask = _ConcatTrials(self, "labels_masks")[slice(start, stop)]
            arr = arr.copy()
            m = self._pose_transform(mask.astype(np.float32)) == 0
            arr[m] = np.nan
        return arr

    def video(self):
        shape = self.shape("video")[1:]
        return _ConcatTrials(self, "images", lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1)), frame_shape=shape)

    def to_session(self, load_video: bool = False) -> Session:
        s = Session(
            session_id=self.session_id,
            fps=self.fps,
            trials=self.trials.copy(),
            trial_names=list(self.trial_names),
            source_software="behavenet-v1",
            description=f"converted from BehaveNet v1 file {self.path.name}",
        )
        if "labels" in self._groups:
            s.pose = Pose(
                keypoints=self.read("pose"), keypoint_names=self.keypoint_names, animal_names=self.animal_names
            )
        if "images" in self._groups:
            if load_video:
                s.video = Video(frames=self.video()[:])
            else:
                h, w, c = self.shape("video")[1:]
                s.video = Video(n_frames=self.n_frames, height=h, width=w, channels=c)
        if "neural" in self._groups:
            data = self.read(self.neural_type)
            if self.neural_type == "spikes":
                s.spikes = Spikes(counts=data, bin_width=1.0 / self.fps)
            else:
                s.calcium = Calcium(traces=data)
        return s


def convert_behavenet_v1(src, dst, overwrite: bool = False, **options) -> Path:
    """Convert a BehaveNet v1 file to a behavenet session file (video frames copied)."""
    reader = BehaveNetV1File(src, **options)
    try:
        session = reader.to_session(load_video=True)
    finally:
        reader.close()
    return write_session(session, dst, overwrite=overwrite)


def write_behavenet_v1(path, images=None, neural=None, labels=None, trial_lengths=None, labels_masks=None) -> Path:
    """Write a BehaveNet v1 file (for tests and round trips): arrays split by ``trial_lengths``."""
    path = Path(path)
    arrays = {"images": images, "neural": neural, "labels": labels, "labels_masks": labels_masks}
    n = next(len(a) for a in arrays.values() if a is not None)
    trial_lengths = list(trial_lengths or [n])
    bounds = np.cumsum([0] + trial_lengths)
    with h5py.File(path, "w") as f:
        for g, arr in arrays.items():
            if arr is None:
                continue
            grp = f.create_group(g)
            for i in range(len(trial_lengths)):
                grp.create_dataset(f"trial_{i:04d}", data=arr[bounds[i] : bounds[i + 1]])
    return path
