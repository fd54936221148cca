"""Helpers shared by the loaders: frame rates, masking, video attachment, concatenation."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

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
)
from behavenet.errors import FormatError

log = logging.getLogger("behavenet.io")

#: how a session's frame rate was obtained (kept in ``Session.attrs["fps_source"]``)
FPS_FROM_FILE = "file"
FPS_FROM_USER = "user"
FPS_FROM_VIDEO = "video"
FPS_DEFAULT = "format default"
FPS_ASSUMED = "assumed"  # unknown: 1.0 frames per second, replaced by a video's rate when attached

_FRAME_SOURCE = "_behavenet_frame_source"
_VIDEO_ABSOLUTE = "_behavenet_video_path_absolute"


# --------------------------------------------------------------------------- small utilities
def default_session_id(path: Path) -> str:
    name = path.name
    for suffix in (".analysis.h5", ".predictions.slp"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem if path.is_file() else path.name


def check_fps(fps, path=None) -> float | None:
    if fps is None:
        return None
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise FormatError(path, "fps", f"expected a positive number, got {fps!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise FormatError(path, "fps", f"expected a positive number, got {fps!r}")
    return value


def resolve_fps(user_fps, file_fps, path, default=None, what="this file") -> tuple[float, str]:
    """Choose the frame rate: the user's, else the file's, else a format default, else 1.0."""
    user_fps = check_fps(user_fps, path)
    if user_fps is not None:
        if file_fps is not None and not np.isclose(user_fps, file_fps, rtol=1e-3):
            log.warning("%s: using fps=%s given by the user; the file says %s", path, user_fps, file_fps)
        return user_fps, FPS_FROM_USER
    if file_fps is not None:
        return float(file_fps), FPS_FROM_FILE
    if default is not None:
        return float(default), FPS_DEFAULT
    # behavenet.io.load warns once the video (if any) had its chance to provide the rate
    return 1.0, FPS_ASSUMED


def set_frame_source(session: Session, source) -> None:
    """Attach a lazy frame source (``len`` + slicing, uint8 ``(n, H, W, C)``) to be embedded."""
    session.__dict__[_FRAME_SOURCE] = source


def get_frame_source(session: Session):
    return session.__dict__.get(_FRAME_SOURCE)


def set_video_path_absolute(session: Session, absolute: bool) -> None:
    """Say how a referenced video is written: absolute path (``True``) or relative to the session file."""
    session.__dict__[_VIDEO_ABSOLUTE] = bool(absolute)


def video_path_absolute(session: Session) -> bool:
    """Whether the session's referenced video was given as an absolute path (kept absolute on writing)."""
    return bool(session.__dict__.get(_VIDEO_ABSOLUTE, False))


def one_line_exc(exc: BaseException) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())


def h5_open(path):
    """Open an HDF5 file for sniffing; ``None`` when it is not one."""
    try:
        if not h5py.is_hdf5(path):
            return None
        return h5py.File(path, "r")
    except Exception:
        return None


def read_head(path, n=4096) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


# --------------------------------------------------------------------------- pose helpers
def mask_low_confidence(session: Session, threshold: float) -> int:
    """Set keypoints whose confidence is below ``threshold`` to NaN (confidence is kept).

    Returns the number of keypoints masked.
    """
    try:
        thr = float(threshold)
    except (TypeError, ValueError):
        raise FormatError(None, "threshold", f"expected a number in [0, 1], got {threshold!r}") from None
    if not 0 <= thr <= 1:
        raise FormatError(None, "threshold", f"expected a number in [0, 1], got {threshold!r}")
    pose = session.pose
    if pose is None:
        log.warning("threshold=%s ignored: the session has no pose", thr)
        return 0
    if pose.confidence is None:
        log.warning("threshold=%s ignored: %s has no confidence values", thr, session.session_id)
        return 0
    low = pose.confidence < thr  # NaN confidence compares False: left alone
    pose.keypoints[low] = np.nan
    session.attrs["confidence_threshold"] = thr
    return int(low.sum())


def allow_empty_animals(session: Session) -> None:
    """Mark ``session`` as allowed to hold all-NaN animal slots (e.g. MABe fly padding kept on request)."""
    session.__dict__["_behavenet_allow_empty"] = True


def check_pose_not_empty(session: Session, path) -> None:
    """Raise when an animal (or the whole pose) has no finite keypoint at all."""
    pose = session.pose
    if pose is None:
        return
    if session.__dict__.get("_behavenet_allow_empty"):
        return
    kp = pose.keypoints
    if kp.shape[0] == 0:
        raise FormatError(path, "pose", "no frames")
    finite = np.isfinite(kp).all(axis=-1)  # (T, A, K)
    per_animal = finite.any(axis=(0, 2))
    if not per_animal.any():
        raise FormatError(path, "pose", "every keypoint of every frame is missing (NaN): nothing to import")
    empty = [pose.animal_names[i] for i in np.flatnonzero(~per_animal)]
    if empty:
        raise FormatError(
            path,
            "pose",
            f"animal(s) {', '.join(map(repr, empty))} have no valid keypoint in any frame "
            "(all NaN); drop them with drop_empty_animals=True (--drop-empty-animals)",
        )


def drop_empty_animals(session: Session) -> list[str]:
    pose = session.pose
    if pose is None:
        return []
    finite = np.isfinite(pose.keypoints).all(axis=-1).any(axis=(0, 2))
    if finite.all() or not finite.any():
        return []
    dropped = [a for a, ok in zip(pose.animal_names, finite) if not ok]
    keep = np.flatnonzero(finite)
    pose.keypoints = pose.keypoints[:, keep]
    if pose.confidence is not None:
        pose.confidence = pose.confidence[:, keep]
    pose.animal_names = [pose.animal_names[i] for i in keep]
    session.attrs["dropped_animals"] = dropped
    log.warning("%s: dropped animal(s) without any valid keypoint: %s", session.session_id, ", ".join(dropped))
    return dropped


def pad_time(session: Session, n: int) -> None:
    """Extend every time series of ``session`` to ``n`` frames with missing values."""
    cur = session.n_frames
    if n <= cur:
        return
    extra = n - cur
    if session.pose is not None:
        p = session.pose
        p.keypoints = np.concatenate([p.keypoints, np.full((extra,) + p.keypoints.shape[1:], np.nan, np.float32)])
        if p.confidence is not None:
            p.confidence = np.concatenate(
                [p.confidence, np.full((extra,) + p.confidence.shape[1:], np.nan, np.float32)]
            )
    if session.behavior is not None:
        v = session.behavior.values
        session.behavior.values = np.concatenate([v, np.full((extra,) + v.shape[1:], np.nan, np.float32)])
    for lab in session.frame_labels.values():
        lab.codes = np.concatenate([lab.codes, np.full(extra, -1, np.int32)])
    if session.spikes is not None or session.calcium is not None:
        raise FormatError(session.session_id, "video", "cannot extend neural data to the video length")
    if session.trials is not None:
        b = session.trial_bounds()
        b[-1, 1] = n
        session.trials = b


# --------------------------------------------------------------------------- video attachment
def attach_video(
    session: Session,
    video,
    embed: bool = False,
    resize=None,
    grayscale: bool = False,
    allow_longer: bool = True,
    absolute: bool | None = None,
) -> Session:
    """Attach a video file to a (pose) session, checking frame count and frame rate.

    * a video with fewer frames than the session is an error;
    * a longer video pads the session's time series with missing values (a warning);
    * when the session's frame rate was read from the file or given by the user, it must match
      the video's (0.1 %); when it was only assumed, the video's rate is adopted (logged).

    With ``embed=True`` the frames are copied into the session file when it is written
    (streamed, one frame at a time); otherwise the session references the video file, by an
    absolute path when ``absolute`` (default: when ``video`` is an absolute path), else by a path
    relative to the session file.
    """
    from behavenet.data.video import VideoFileReader

    path = Path(video)
    reader = VideoFileReader(path, grayscale=grayscale, size=resize)
    n_video = len(reader)
    n = session.n_frames
    if session.video is not None and session.video.path and Path(session.video.path).resolve() != path.resolve():
        log.info("%s: replacing the video reference %s with %s", session.session_id, session.video.path, path)
    if n and n_video < n:
        raise FormatError(
            path,
            "video",
            f"the video has {n_video} frames but the pose has {n}: the video is shorter than the pose (wrong video?)",
        )
    src = session.attrs.get("fps_source", FPS_ASSUMED)
    if reader.fps:
        if src in (FPS_FROM_FILE, FPS_FROM_USER) and not np.isclose(reader.fps, session.fps, rtol=1e-3):
            raise FormatError(
                path,
                "video",
                f"the video runs at {reader.fps:g} fps but the {'file' if src == FPS_FROM_FILE else 'given'} "
                f"frame rate is {session.fps:g} fps",
            )
        if src not in (FPS_FROM_FILE, FPS_FROM_USER):
            if src != FPS_ASSUMED and not np.isclose(reader.fps, session.fps, rtol=1e-3):
                log.warning(
                    "%s: using the video's frame rate %g fps instead of %g fps (%s)",
                    session.session_id,
                    reader.fps,
                    session.fps,
                    src,
                )
            else:
                log.info("%s: frame rate %g fps taken from the video %s", session.session_id, reader.fps, path.name)
            session.fps = float(reader.fps)
            session.attrs["fps_source"] = FPS_FROM_VIDEO
    if n and n_video > n:
        if not allow_longer:
            raise FormatError(path, "video", f"the video has {n_video} frames but the pose has {n}")
        log.warning(
            "%s: the video has %d frames, the pose %d; the last %d frames have no pose",
            session.session_id,
            n_video,
            n,
            n_video - n,
        )
        pad_time(session, n_video)
        session.attrs["pose_padded_to_video"] = n_video - n
    h, w, c = reader.frame_shape
    if embed:
        session.video = Video(n_frames=n_video, height=h, width=w, channels=c)
        set_frame_source(session, reader)
    else:
        session.video = Video(
            path=os.path.abspath(path), n_frames=n_video, height=reader.height, width=reader.width, channels=3
        )
        set_video_path_absolute(session, path.is_absolute() if absolute is None else absolute)
        reader.close()
    session.attrs["video_file"] = str(path)
    return session


# --------------------------------------------------------------------------- concatenation
def _same(a, b) -> bool:
    return list(a or []) == list(b or [])


def concatenate_sessions(sessions: list[Session], names: list[str], session_id: str) -> Session:
    """Join sessions recorded with the same setup into one session, one trial per input.

    Every input must have the same modalities, keypoint and animal names, units, behaviour
    variables, frame rate and label vocabularies; the first mismatch raises a one-line error.
    """
    if len(sessions) == 1:
        return sessions[0]
    first = sessions[0]
    for s, name in zip(sessions[1:], names[1:]):
        where = f"{name} vs {names[0]}"
        if s.modalities != first.modalities:
            raise FormatError(name, "modalities", f"has {s.modalities}, {names[0]} has {first.modalities}")
        if not np.isclose(s.fps, first.fps, rtol=1e-6):
            raise FormatError(name, "fps", f"frame rate {s.fps:g} differs from {first.fps:g} in {names[0]}")
        if first.pose is not None:
            if not _same(s.pose.keypoint_names, first.pose.keypoint_names):
                raise FormatError(
                    name,
                    "pose.keypoint_names",
                    f"skeleton differs ({where}): {s.pose.keypoint_names} vs {first.pose.keypoint_names}",
                )
            if not _same(s.pose.animal_names, first.pose.animal_names):
                raise FormatError(
                    name,
                    "pose.animal_names",
                    f"animals differ ({where}): {s.pose.animal_names} vs {first.pose.animal_names}",
                )
            if s.pose.keypoints.shape[-1] != first.pose.keypoints.shape[-1]:
                raise FormatError(
                    name,
                    "pose.keypoints",
                    f"{s.pose.keypoints.shape[-1]}-D keypoints vs {first.pose.keypoints.shape[-1]}-D in {names[0]}",
                )
            if (s.pose.confidence is None) != (first.pose.confidence is None):
                raise FormatError(name, "pose.confidence", f"confidence present in only one of {where}")
        if first.spikes is not None and (
            not _same(s.spikes.unit_names, first.spikes.unit_names)
            or s.spikes.counts.shape[1] != first.spikes.counts.shape[1]
        ):
            raise FormatError(name, "spikes.unit_names", f"units differ ({where})")
        if first.calcium is not None and s.calcium.traces.shape[1] != first.calcium.traces.shape[1]:
            raise FormatError(name, "calcium", f"number of cells differs ({where})")
        if first.behavior is not None and not _same(s.behavior.names, first.behavior.names):
            raise FormatError(
                name, "behavior.names", f"variables differ ({where}): {s.behavior.names} vs {first.behavior.names}"
            )
        if set(s.frame_labels) != set(first.frame_labels):
            raise FormatError(name, "labels", f"frame labels differ ({where})")
        for k, lab in s.frame_labels.items():
            if not _same(lab.vocabulary, first.frame_labels[k].vocabulary):
                raise FormatError(name, f"labels/{k}", f"vocabulary differs ({where})")
        if set(s.sequence_labels) != set(first.sequence_labels):
            raise FormatError(name, "labels", f"sequence labels differ ({where})")
        if first.video is not None:
            if first.video.frames is None or s.video.frames is None:
                raise FormatError(
                    name,
                    "video",
                    "cannot join sessions that reference separate video files into one "
                    "session; convert them one by one (or embed the frames)",
                )
            if s.video.frames.shape[1:] != first.video.frames.shape[1:]:
                raise FormatError(name, "video", f"frame size differs ({where})")

    def cat(get):
        return np.concatenate([get(s) for s in sessions])

    out = Session(
        session_id=session_id,
        fps=first.fps,
        species=first.species,
        source_software=first.source_software,
        description=first.description,
    )
    out.attrs = dict(first.attrs)
    out.attrs["joined_from"] = list(names)
    if first.pose is not None:
        p = first.pose
        out.pose = Pose(
            keypoints=cat(lambda s: s.pose.keypoints),
            keypoint_names=p.keypoint_names,
            animal_names=p.animal_names,
            confidence=None if p.confidence is None else cat(lambda s: s.pose.confidence),
            units=p.units,
            skeleton=p.skeleton,
        )
    if first.video is not None:
        out.video = Video(frames=cat(lambda s: s.video.frames))
    if first.spikes is not None:
        out.spikes = Spikes(
            counts=cat(lambda s: s.spikes.counts), bin_width=first.spikes.bin_width, unit_names=first.spikes.unit_names
        )
    if first.calcium is not None:
        out.calcium = Calcium(
            traces=cat(lambda s: s.calcium.traces), unit_names=first.calcium.unit_names, kind=first.calcium.kind
        )
    if first.behavior is not None:
        out.behavior = Behavior(
            values=cat(lambda s: s.behavior.values), names=first.behavior.names, units=first.behavior.units
        )
    for k, lab in first.frame_labels.items():
        out.frame_labels[k] = FrameLabel(codes=cat(lambda s: s.frame_labels[k].codes), vocabulary=lab.vocabulary)
    bounds, tnames, offset = [], [], 0
    for s, name in zip(sessions, names):
        b = s.trial_bounds() + offset
        bounds.append(b)
        own = s.trial_names or [f"trial_{i:04d}" for i in range(len(b))]
        tnames += [name] if len(b) == 1 else [f"{name}/{t}" for t in own]
        offset += s.n_frames
    out.trials = np.concatenate(bounds)
    out.trial_names = tnames
    for k, lab in first.sequence_labels.items():
        vals = np.concatenate([np.asarray(s.sequence_labels[k].values) for s in sessions])
        out.sequence_labels[k] = SequenceLabel(values=vals, kind=lab.kind, vocabulary=lab.vocabulary)
    return out


_SAFE_ID = re.compile(r"[^A-Za-z0-9_.\-]+")


def clean_id(text: str) -> str:
    return _SAFE_ID.sub("_", str(text)).strip("_") or "session"


def is_video_path(path: str | os.PathLike) -> bool:
    from behavenet.data.video import VIDEO_SUFFIXES

    return Path(path).suffix.lower() in VIDEO_SUFFIXES
