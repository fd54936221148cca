"""behavenet session format v1: one HDF5 file per recording session.

The full specification is ``docs/data_format.md``. In short::

    /                      attrs: format="behavenet-session", format_version="1.0", session_id,
                                  fps, n_frames, species, source_software, created_with, description
    /trials/bounds         int64 (n_trials, 2)   [start, stop) frame ranges, sorted, non-overlapping
    /trials/names          str   (n_trials,)
    /pose/keypoints        float32 (T, animals, keypoints, 2|3), NaN = missing
    /pose/confidence       float32 (T, animals, keypoints)            (optional)
                           attrs: keypoint_names, animal_names, units, skeleton (optional)
    /video/frames          uint8 (T, H, W, C), chunked one frame per chunk       -- or --
    /video                 attrs: external_path (relative to the session file), n_frames
    /neural/spikes         float32 or integer (T, units): binned counts; attrs bin_width (s), unit_names
    /neural/calcium        float32 (T, cells); attrs unit_names
    /behavior/values       float32 (T, variables); attrs names, units
    /labels/frame/<name>   int32 (T,) class codes, -1 = unlabelled; attrs vocabulary
    /labels/sequence/<name> (n_trials,) float32 (kind=continuous, NaN = missing) or int32 codes
                           (kind=discrete, -1 = missing); attrs kind, vocabulary

Every time series shares the session's time base: ``n_frames`` rows at ``fps`` frames per second
(neural data are binned to the frame rate, ``bin_width == 1 / fps``).

This module holds the in-memory :class:`Session` (what importers build), :func:`write_session`
(atomic: temp file, validate, rename) and :func:`validate_file`. Lazy reading for training is in
:mod:`behavenet.data.reader`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from behavenet import FORMAT_VERSION  # the one definition (behavenet/__init__.py)
from behavenet.errors import FormatError
from behavenet.utils.files import atomic_path
from behavenet.utils.plain import decode_strings  # also imported from here (datamodules)

FORMAT_NAME = "behavenet-session"
SUPPORTED_MAJOR = 1

MODALITIES = ("pose", "video", "spikes", "calcium", "behavior")

_FLOAT_CHUNK = 1 << 16  # rows per chunk for NaN checks


# --------------------------------------------------------------------------- in-memory model
@dataclass
class Pose:
    """Keypoints of one or more animals.

    ``keypoints`` is ``(T, animals, keypoints, 2|3)``; NaN marks a missing keypoint.
    ``confidence`` (optional) is ``(T, animals, keypoints)`` as reported by the tracker (DLC
    likelihood in [0, 1]; SLEAP point scores can exceed 1).
    """

    keypoints: np.ndarray
    keypoint_names: list[str]
    animal_names: list[str] | None = None
    confidence: np.ndarray | None = None
    units: str = "px"
    skeleton: list[tuple[str, str]] | None = None

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        if self.keypoints.ndim == 3:  # (T, K, D): one animal
            self.keypoints = self.keypoints[:, None]
        if self.animal_names is None and self.keypoints.ndim == 4:
            self.animal_names = [f"animal{i}" for i in range(self.keypoints.shape[1])]
        if self.confidence is not None:
            self.confidence = np.asarray(self.confidence, dtype=np.float32)
            if self.confidence.ndim == 2:
                self.confidence = self.confidence[:, None]
        self.keypoint_names = [str(k) for k in self.keypoint_names]
        self.animal_names = [str(a) for a in self.animal_names]


@dataclass
class Video:
    """Video frames stored in the file (``frames``, uint8 ``(T, H, W, C)``) or a reference to an
    external video file (``path``, resolved relative to the session file) with its frame count."""

    frames: np.ndarray | None = None
    path: str | None = None
    n_frames: int | None = None
    height: int | None = None
    width: int | None = None
    channels: int | None = None

    def __post_init__(self):
        if self.frames is not None:
            f = np.asarray(self.frames)
            if f.ndim == 3:  # (T, H, W) grey
                f = f[..., None]
            self.frames = f
            self.n_frames, self.height, self.width, self.channels = (
                (int(s) for s in f.shape) if f.ndim == 4 else (len(f), None, None, None)
            )


@dataclass
class Spikes:
    """Binned spike counts ``(T, units)`` with the bin width in seconds."""

    counts: np.ndarray
    bin_width: float
    unit_names: list[str] | None = None

    def __post_init__(self):
        c = np.asarray(self.counts)
        self.counts = c if c.dtype.kind in "iu" else c.astype(np.float32)


@dataclass
class Calcium:
    """Fluorescence (or deconvolved) traces ``(T, cells)``."""

    traces: np.ndarray
    unit_names: list[str] | None = None
    kind: str = "dff"

    def __post_init__(self):
        self.traces = np.asarray(self.traces, dtype=np.float32)


@dataclass
class Behavior:
    """Continuous behaviour variables ``(T, variables)`` (position, speed, ...)."""

    values: np.ndarray
    names: list[str]
    units: list[str] | None = None

    def __post_init__(self):
        v = np.asarray(self.values, dtype=np.float32)
        self.values = v[:, None] if v.ndim == 1 else v
        self.names = [str(n) for n in self.names]


@dataclass
class FrameLabel:
    """Per-frame class codes ``(T,)`` (``-1`` = unlabelled) with their vocabulary."""

    codes: np.ndarray
    vocabulary: list[str]

    def __post_init__(self):
        self.codes = np.asarray(self.codes).astype(np.int32)
        self.vocabulary = [str(v) for v in self.vocabulary]


@dataclass
class SequenceLabel:
    """One value per trial/sequence: discrete codes with a vocabulary, or continuous values."""

    values: np.ndarray
    kind: str = "discrete"  # "discrete" | "continuous"
    vocabulary: list[str] | None = None


@dataclass
class Session:
    """A recording session in memory; what importers return and :func:`write_session` writes."""

    session_id: str
    fps: float
    pose: Pose | None = None
    video: Video | None = None
    spikes: Spikes | None = None
    calcium: Calcium | None = None
    behavior: Behavior | None = None
    frame_labels: dict[str, FrameLabel] = field(default_factory=dict)
    sequence_labels: dict[str, SequenceLabel] = field(default_factory=dict)
    trials: np.ndarray | None = None
    trial_names: list[str] | None = None
    species: str = ""
    source_software: str = ""
    description: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        for arr in (
            None if self.pose is None else self.pose.keypoints,
            None if self.spikes is None else self.spikes.counts,
            None if self.calcium is None else self.calcium.traces,
            None if self.behavior is None else self.behavior.values,
        ):
            if arr is not None:
                return int(len(arr))
        if self.video is not None and self.video.n_frames is not None:
            return int(self.video.n_frames)
        for lab in self.frame_labels.values():
            return int(len(lab.codes))
        return 0

    @property
    def modalities(self) -> list[str]:
        return [m for m in MODALITIES if getattr(self, m) is not None]

    def trial_bounds(self) -> np.ndarray:
        if self.trials is None:
            return np.array([[0, self.n_frames]], dtype=np.int64)
        return np.asarray(self.trials, dtype=np.int64).reshape(-1, 2)


# --------------------------------------------------------------------------- writing
def _str_array(items) -> np.ndarray:
    return np.array([str(x) for x in items], dtype=h5py.string_dtype("utf-8"))


def write_session(
    session: Session,
    path: str | os.PathLike,
    overwrite: bool = False,
    compression: str | None = "gzip",
    validate: bool = True,
) -> Path:
    """Write ``session`` to ``path`` atomically and return the path.

    The file is written to a temporary name in the same directory, validated with
    :func:`validate_file`, and only then renamed to ``path``; on any error nothing is left behind.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FormatError(path, None, "output file exists; pass overwrite=True (--overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", libver="latest") as f:
            _write(session, f, compression, out_dir=path.parent)
        if validate:
            try:
                validate_file(tmp)
            except FormatError as exc:
                raise FormatError(path, exc.field, exc.message) from None
    return path


def _write(s: Session, f: h5py.File, compression, out_dir: Path) -> None:
    from behavenet import __version__

    n = s.n_frames
    if n <= 0:
        raise FormatError(s.session_id, None, "session has no frames (no modality with data)")
    if not (isinstance(s.fps, (int, float, np.floating, np.integer)) and s.fps > 0):
        raise FormatError(s.session_id, "fps", f"expected a positive frame rate, got {s.fps!r}")
    f.attrs["format"] = FORMAT_NAME
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["session_id"] = str(s.session_id)
    f.attrs["fps"] = float(s.fps)
    f.attrs["n_frames"] = int(n)
    f.attrs["species"] = str(s.species)
    f.attrs["source_software"] = str(s.source_software)
    f.attrs["description"] = str(s.description)
    f.attrs["created_with"] = f"behavenet {__version__}"
    if s.attrs:
        f.attrs["user_attrs"] = json.dumps(s.attrs, default=str)

    bounds = s.trial_bounds()
    g = f.create_group("trials")
    g.create_dataset("bounds", data=bounds.astype(np.int64))
    names = s.trial_names or [f"trial_{i:04d}" for i in range(len(bounds))]
    g.create_dataset("names", data=_str_array(names))

    def ds(group, name, data, chunks=True):
        kw = {"compression": compression} if compression and data.size > 1024 else {}
        return group.create_dataset(name, data=data, chunks=chunks if data.size > 1024 else None, **kw)

    if s.pose is not None:
        p = s.pose
        g = f.create_group("pose")
        ds(g, "keypoints", np.asarray(p.keypoints))
        if p.confidence is not None:
            ds(g, "confidence", np.asarray(p.confidence))
        g.attrs["keypoint_names"] = _str_array(p.keypoint_names)
        g.attrs["animal_names"] = _str_array(p.animal_names or [])
        g.attrs["units"] = str(p.units)
        if p.skeleton:
            g.attrs["skeleton"] = json.dumps([list(map(str, e)) for e in p.skeleton])
    if s.video is not None:
        v = s.video
        g = f.create_group("video")
        if v.frames is not None:
            fr = np.asarray(v.frames)
            chunks = (1,) + tuple(fr.shape[1:]) if fr.ndim == 4 else True
            g.create_dataset("frames", data=fr, chunks=chunks, compression=compression)
        elif v.path is not None:
            ext = Path(v.path)
            if ext.is_absolute():
                try:
                    ext = Path(os.path.relpath(ext, out_dir))
                except ValueError:  # different drive on Windows
                    pass
            g.attrs["external_path"] = str(ext)
            g.attrs["n_frames"] = int(v.n_frames if v.n_frames is not None else n)
        for key in ("height", "width", "channels"):
            if getattr(v, key) is not None:
                g.attrs[key] = int(getattr(v, key))
    if s.spikes is not None or s.calcium is not None:
        g = f.create_group("neural")
        if s.spikes is not None:
            d = ds(g, "spikes", np.asarray(s.spikes.counts))
            d.attrs["bin_width"] = float(s.spikes.bin_width)
            if s.spikes.unit_names is not None:
                d.attrs["unit_names"] = _str_array(s.spikes.unit_names)
        if s.calcium is not None:
            d = ds(g, "calcium", np.asarray(s.calcium.traces))
            d.attrs["kind"] = str(s.calcium.kind)
            if s.calcium.unit_names is not None:
                d.attrs["unit_names"] = _str_array(s.calcium.unit_names)
    if s.behavior is not None:
        g = f.create_group("behavior")
        vals = np.asarray(s.behavior.values)
        if vals.ndim == 1:
            vals = vals[:, None]
        d = ds(g, "values", vals)
        d.attrs["names"] = _str_array(s.behavior.names)
        if s.behavior.units is not None:
            d.attrs["units"] = _str_array(s.behavior.units)
    if s.frame_labels or s.sequence_labels:
        g = f.create_group("labels")
        fg = g.create_group("frame")
        for name, lab in s.frame_labels.items():
            d = ds(fg, name, np.asarray(lab.codes))
            d.attrs["vocabulary"] = _str_array(lab.vocabulary)
        sg = g.create_group("sequence")
        for name, lab in s.sequence_labels.items():
            d = sg.create_dataset(name, data=np.asarray(lab.values))
            d.attrs["kind"] = lab.kind
            if lab.vocabulary is not None:
                d.attrs["vocabulary"] = _str_array(lab.vocabulary)


# --------------------------------------------------------------------------- validation
def _is_float32(d) -> bool:
    return d.dtype == np.float32


def _check_finite_chunks(path, name, d, allow_nan: bool, nonneg: bool = False) -> None:
    n = d.shape[0]
    for start in range(0, n, _FLOAT_CHUNK):
        block = d[start : start + _FLOAT_CHUNK]
        if block.dtype.kind == "f":
            bad = np.isinf(block) if allow_nan else ~np.isfinite(block)
            if bad.any():
                row = start + int(np.argwhere(bad)[0][0])
                what = "infinite values" if allow_nan else "NaN or infinite values"
                raise FormatError(path, name, f"contains {what} (first at frame {row})")
        if nonneg and (block < 0).any():
            row = start + int(np.argwhere(block < 0)[0][0])
            raise FormatError(path, name, f"contains negative counts (first at frame {row})")


def _need(path, f, name):
    if name not in f:
        raise FormatError(path, f"/{name}", "required dataset is missing")
    obj = f[name]
    if not isinstance(obj, h5py.Dataset):
        raise FormatError(path, f"/{name}", "expected a dataset, found a group")
    return obj


def _check_length(path, name, d, n):
    if d.shape[0] != n:
        raise FormatError(path, name, f"has {d.shape[0]} frames but the session has n_frames={n}")


def is_behavenet_v1(f: h5py.File) -> bool:
    """True when ``f`` looks like an original BehaveNet (v1) file (groups of ``trial_%04i``)."""
    if "format" in f.attrs:
        return False
    for grp in ("images", "neural", "labels"):
        if grp in f and isinstance(f[grp], h5py.Group):
            keys = list(f[grp].keys())
            if keys and all(k.startswith("trial_") for k in keys):
                return True
    return False


def validate_file(path: str | os.PathLike) -> dict[str, Any]:
    """Check a session file against the format; return a short summary dict.

    Raises
    ------
    FormatError
        One line naming the file, the field and what was expected, on the first problem found.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FormatError(path, None, "file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, None, f"not a readable HDF5 file (truncated or corrupt?): {exc}") from None
    with f:
        try:
            if is_behavenet_v1(f):
                from behavenet.data.behavenet_v1 import validate_v1

                return validate_v1(path, f)
            return _validate_open(path, f)
        except FormatError:
            raise
        except (OSError, KeyError, RuntimeError) as exc:  # corrupt chunks inside a readable header
            raise FormatError(path, None, f"unreadable content (truncated or corrupt?): {exc}") from None


def _validate_open(path: str, f: h5py.File) -> dict[str, Any]:
    fmt = f.attrs.get("format")
    if fmt is None:
        raise FormatError(
            path, "attrs.format", f"missing; expected '{FORMAT_NAME}' (is this a behavenet session file?)"
        )
    fmt = decode_strings(fmt)[0]
    if fmt != FORMAT_NAME:
        raise FormatError(path, "attrs.format", f"expected '{FORMAT_NAME}', found '{fmt}'")
    version = decode_strings(f.attrs.get("format_version", ""))[0]
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise FormatError(path, "attrs.format_version", f"expected 'MAJOR.MINOR', found '{version}'") from None
    if major != SUPPORTED_MAJOR:
        raise FormatError(
            path,
            "attrs.format_version",
            f"version {version} is not supported; this reader knows {SUPPORTED_MAJOR}.x "
            "(upgrade behavenet or convert the file)",
        )
    for key in ("n_frames", "fps", "session_id"):
        if key not in f.attrs:
            raise FormatError(path, f"attrs.{key}", "required attribute is missing")
    n = int(f.attrs["n_frames"])
    fps = float(f.attrs["fps"])
    if n <= 0:
        raise FormatError(path, "attrs.n_frames", f"expected a positive frame count, found {n}")
    if not np.isfinite(fps) or fps <= 0:
        raise FormatError(path, "attrs.fps", f"expected a positive frame rate, found {fps}")

    # trials
    bounds = _need(path, f, "trials/bounds")
    b = bounds[()]
    if b.ndim != 2 or b.shape[1] != 2 or b.dtype.kind not in "iu":
        raise FormatError(path, "/trials/bounds", f"expected integer (n_trials, 2), found {b.dtype} {b.shape}")
    if len(b) == 0:
        raise FormatError(path, "/trials/bounds", "expected at least one trial")
    if (b[:, 0] < 0).any() or (b[:, 1] > n).any() or (b[:, 1] <= b[:, 0]).any():
        raise FormatError(path, "/trials/bounds", f"expected 0 <= start < stop <= n_frames={n} for every trial")
    if (b[1:, 0] < b[:-1, 1]).any():
        raise FormatError(path, "/trials/bounds", "trials must be sorted and must not overlap")
    n_trials = len(b)
    if "trials/names" in f and f["trials/names"].shape[0] != n_trials:
        raise FormatError(path, "/trials/names", f"has {f['trials/names'].shape[0]} names for {n_trials} trials")

    found = []
    if "pose" in f:
        kp = _need(path, f, "pose/keypoints")
        if not _is_float32(kp):
            raise FormatError(path, "/pose/keypoints", f"expected float32, found {kp.dtype}")
        if kp.ndim != 4 or kp.shape[-1] not in (2, 3):
            raise FormatError(
                path, "/pose/keypoints", f"expected shape (frames, animals, keypoints, 2|3), found {kp.shape}"
            )
        _check_length(path, "/pose/keypoints", kp, n)
        _check_finite_chunks(path, "/pose/keypoints", kp, allow_nan=True)
        names = decode_strings(f["pose"].attrs.get("keypoint_names"))
        if len(names) != kp.shape[2]:
            raise FormatError(path, "/pose.attrs.keypoint_names", f"has {len(names)} names for {kp.shape[2]} keypoints")
        animals = decode_strings(f["pose"].attrs.get("animal_names"))
        if len(animals) != kp.shape[1]:
            raise FormatError(path, "/pose.attrs.animal_names", f"has {len(animals)} names for {kp.shape[1]} animals")
        if "pose/confidence" in f:
            c = f["pose/confidence"]
            if not _is_float32(c):
                raise FormatError(path, "/pose/confidence", f"expected float32, found {c.dtype}")
            if c.shape != kp.shape[:3]:
                raise FormatError(path, "/pose/confidence", f"expected shape {kp.shape[:3]}, found {c.shape}")
        found.append("pose")
    if "video" in f:
        g = f["video"]
        if "frames" in g:
            fr = g["frames"]
            if fr.dtype != np.uint8:
                raise FormatError(path, "/video/frames", f"expected uint8, found {fr.dtype}")
            if fr.ndim != 4:
                raise FormatError(
                    path, "/video/frames", f"expected shape (frames, height, width, channels), found {fr.shape}"
                )
            _check_length(path, "/video/frames", fr, n)
        elif "external_path" in g.attrs:
            ext = decode_strings(g.attrs["external_path"])[0]
            full = ext if os.path.isabs(ext) else os.path.join(os.path.dirname(os.path.abspath(path)), ext)
            if not os.path.exists(full):
                raise FormatError(path, "/video.attrs.external_path", f"referenced video file not found: {full}")
            nv = int(g.attrs.get("n_frames", -1))
            if nv != n:
                raise FormatError(
                    path, "/video.attrs.n_frames", f"video has {nv} frames but the session has n_frames={n}"
                )
        else:
            raise FormatError(path, "/video", "expected a 'frames' dataset or an 'external_path' attribute")
        found.append("video")
    if "neural" in f:
        g = f["neural"]
        if "spikes" not in g and "calcium" not in g:
            raise FormatError(path, "/neural", "expected a 'spikes' and/or 'calcium' dataset")
        if "spikes" in g:
            d = g["spikes"]
            if not (d.dtype == np.float32 or d.dtype.kind in "iu"):
                raise FormatError(path, "/neural/spikes", f"expected float32 or integer counts, found {d.dtype}")
            if d.ndim != 2:
                raise FormatError(path, "/neural/spikes", f"expected shape (frames, units), found {d.shape}")
            _check_length(path, "/neural/spikes", d, n)
            _check_finite_chunks(path, "/neural/spikes", d, allow_nan=False, nonneg=True)
            if "bin_width" not in d.attrs:
                raise FormatError(path, "/neural/spikes.attrs.bin_width", "required attribute is missing")
            bw = float(d.attrs["bin_width"])
            if not np.isclose(bw * fps, 1.0, rtol=1e-3):
                raise FormatError(
                    path,
                    "/neural/spikes.attrs.bin_width",
                    f"bin width {bw} s does not match the session frame rate {fps} Hz",
                )
            _check_names(path, "/neural/spikes.attrs.unit_names", d, d.shape[1])
            found.append("spikes")
        if "calcium" in g:
            d = g["calcium"]
            if not _is_float32(d):
                raise FormatError(path, "/neural/calcium", f"expected float32, found {d.dtype}")
            if d.ndim != 2:
                raise FormatError(path, "/neural/calcium", f"expected shape (frames, cells), found {d.shape}")
            _check_length(path, "/neural/calcium", d, n)
            _check_finite_chunks(path, "/neural/calcium", d, allow_nan=False)
            _check_names(path, "/neural/calcium.attrs.unit_names", d, d.shape[1])
            found.append("calcium")
    if "behavior" in f:
        d = _need(path, f, "behavior/values")
        if not _is_float32(d):
            raise FormatError(path, "/behavior/values", f"expected float32, found {d.dtype}")
        if d.ndim != 2:
            raise FormatError(path, "/behavior/values", f"expected shape (frames, variables), found {d.shape}")
        _check_length(path, "/behavior/values", d, n)
        _check_finite_chunks(path, "/behavior/values", d, allow_nan=True)
        names = decode_strings(d.attrs.get("names"))
        if len(names) != d.shape[1]:
            raise FormatError(
                path, "/behavior/values.attrs.names", f"has {len(names)} names for {d.shape[1]} variables"
            )
        found.append("behavior")
    labels = {"frame": [], "sequence": []}
    if "labels" in f:
        if "frame" in f["labels"]:
            for name, d in f["labels/frame"].items():
                field_ = f"/labels/frame/{name}"
                if d.dtype.kind not in "iu" or d.ndim != 1:
                    raise FormatError(path, field_, f"expected 1-D integer class codes, found {d.dtype} {d.shape}")
                _check_length(path, field_, d, n)
                vocab = decode_strings(d.attrs.get("vocabulary"))
                if not vocab:
                    raise FormatError(path, f"{field_}.attrs.vocabulary", "required attribute is missing or empty")
                codes = d[()]
                if codes.size and (codes.min() < -1 or codes.max() >= len(vocab)):
                    raise FormatError(
                        path, field_, f"codes must be in [-1, {len(vocab) - 1}] (vocabulary has {len(vocab)} entries)"
                    )
                labels["frame"].append(name)
        if "sequence" in f["labels"]:
            for name, d in f["labels/sequence"].items():
                field_ = f"/labels/sequence/{name}"
                kind = decode_strings(d.attrs.get("kind", "discrete"))[0]
                if kind not in ("discrete", "continuous"):
                    raise FormatError(
                        path, f"{field_}.attrs.kind", f"expected 'discrete' or 'continuous', found '{kind}'"
                    )
                if d.ndim != 1 or d.shape[0] != n_trials:
                    raise FormatError(path, field_, f"expected one value per trial ({n_trials}), found shape {d.shape}")
                if kind == "discrete":
                    vocab = decode_strings(d.attrs.get("vocabulary"))
                    if d.dtype.kind not in "iu":
                        raise FormatError(path, field_, f"discrete labels must be integer codes, found {d.dtype}")
                    vals = d[()]
                    if not vocab or (vals.size and (vals.min() < -1 or vals.max() >= len(vocab))):
                        raise FormatError(path, field_, "codes must index the vocabulary (-1 = missing)")
                elif d.dtype.kind != "f":
                    raise FormatError(path, field_, f"continuous labels must be floating point, found {d.dtype}")
                labels["sequence"].append(name)
    if not found and not labels["frame"]:
        raise FormatError(
            path, None, "session holds no data: expected at least one of /pose, /video, /neural, /behavior"
        )
    return {
        "path": path,
        "format_version": version,
        "n_frames": n,
        "fps": fps,
        "n_trials": n_trials,
        "modalities": found,
        "frame_labels": labels["frame"],
        "sequence_labels": labels["sequence"],
        "session_id": decode_strings(f.attrs["session_id"])[0],
    }


def _check_names(path, field_, d, count):
    if "unit_names" in d.attrs:
        names = decode_strings(d.attrs["unit_names"])
        if len(names) != count:
            raise FormatError(path, field_, f"has {len(names)} names for {count} columns")
