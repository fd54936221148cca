"""Importers: turn files from the tools people already use into behavenet sessions.

One entry point reads any supported input into an in-memory
:class:`~behavenet.data.format.Session`, another writes it as a session file::

    from behavenet import io
    session = io.load("video1DLC_resnet50.h5", video="video1.mp4", threshold=0.6)
    io.convert("clip.slp", "clip.h5")                       # source detected from the content
    io.convert("suite2p/plane0", "cells.h5", source="suite2p", fps=30)
    io.list_sources()

Each source is a module in this package that registers one loader with
:func:`register_loader` (name, suffixes, a content sniffer). :func:`infer_source` picks the
loader from the content, not only the suffix. From the shell: ``behavenet convert IN OUT.h5``.

Options understood by every source (handled here, not by the loaders):

``video``
    A video file to attach to a pose session; its frame count must cover the pose (a shorter video
    is an error) and its frame rate must match a known pose frame rate.
``embed_frames``, ``resize``, ``grayscale``
    Copy the video frames into the session file (streamed frame by frame), optionally resized
    (``"HxW"``) and/or converted to grey.
``threshold``
    Keypoints whose confidence is below it become NaN (the confidence values are kept).
``drop_empty_animals``
    Drop animals that have no valid keypoint at all instead of raising an error.
``session_id``, ``species``, ``description``
    Metadata written to the session file.

Everything else is passed to the source's loader; an option the loader does not take is an error.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import h5py
import numpy as np

from behavenet.data.format import Session, Video, validate_file, write_session
from behavenet.errors import BehavenetError, ConfigError, FormatError

# importing the loader modules registers them (they import their heavy dependencies lazily)
from behavenet.io import behavenet_v1 as _v1  # noqa: E402,F401
from behavenet.io import dlc as _dlc  # noqa: E402,F401
from behavenet.io import mabe as _mabe  # noqa: E402,F401
from behavenet.io import native as _native  # noqa: E402,F401
from behavenet.io import nwb as _nwb  # noqa: E402,F401
from behavenet.io import sleap as _sleap  # noqa: E402,F401
from behavenet.io import suite2p as _suite2p  # noqa: E402,F401
from behavenet.io import trodes as _trodes  # noqa: E402,F401
from behavenet.io import video as _video  # noqa: E402,F401
from behavenet.io._common import (
    FPS_ASSUMED,
    attach_video,
    check_pose_not_empty,
    clean_id,
    concatenate_sessions,
    default_session_id,
    get_frame_source,
    mask_low_confidence,
    set_frame_source,
    video_path_absolute,
)
from behavenet.io._common import (
    drop_empty_animals as _drop_empty_animals,
)
from behavenet.io._registry import (
    LoaderInfo,
    describe_sources,
    get_loader,
    infer_source,
    list_sources,
    register_loader,
)
from behavenet.utils.files import atomic_path

log = logging.getLogger(__name__)

__all__ = [
    "load",
    "convert",
    "register_loader",
    "list_sources",
    "describe_sources",
    "infer_source",
    "get_loader",
    "LoaderInfo",
    "concatenate_sessions",
    "attach_video",
]

_COMMON = (
    "video",
    "embed_frames",
    "resize",
    "grayscale",
    "threshold",
    "session_id",
    "species",
    "description",
    "drop_empty_animals",
)


def _paths(path) -> list[Path]:
    if isinstance(path, (list, tuple)):
        if not path:
            raise ConfigError("path", "no input given")
        return [Path(p) for p in path]
    return [Path(path)]


def _call_loader(info: LoaderInfo, path: Path, options: dict) -> Session:
    accepted = info.accepts()
    if not info.takes_any():
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise ConfigError(
                f"option {unknown[0]!r}",
                f"not used by the '{info.name}' loader (it takes: {', '.join(sorted(accepted)) or 'no options'})",
            )
    if not path.exists():
        raise FormatError(path, None, "file not found")
    info.validate(path)
    try:
        session = info.func(path, **options)
    except BehavenetError:
        raise
    except MemoryError:
        raise FormatError(path, None, "not enough memory to load this file") from None
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, EOFError, UnicodeDecodeError) as exc:
        # a loader met malformed content it did not check for; still one line, never a traceback
        raise FormatError(
            path,
            info.name,
            f"could not read the file (truncated, corrupt or not {info.name} "
            f"output?): {type(exc).__name__}: {' '.join(str(exc).split())}",
        ) from None
    if not isinstance(session, Session):  # pragma: no cover - loader bug
        raise TypeError(f"loader {info.name} returned {type(session).__name__}, not a Session")
    return session


def _load(
    path,
    source=None,
    *,
    video=None,
    embed_frames=False,
    resize=None,
    grayscale=False,
    threshold=None,
    session_id=None,
    species=None,
    description=None,
    drop_empty_animals=False,
    **options,
) -> Session:
    paths = _paths(path)
    for p in paths:
        if not p.exists():
            raise FormatError(p, None, "file not found")
    if source is None:
        sources = [infer_source(p) for p in paths]
        if len(set(sources)) > 1:
            raise FormatError(
                paths[1],
                None,
                f"detected as '{sources[1]}' while {paths[0]} is '{sources[0]}': "
                "inputs joined into one session must come from one source",
            )
        source = sources[0]
    info = get_loader(source)
    loader_takes_video = "video" in info.accepts()
    if loader_takes_video and video is not None:
        if len(paths) > 1:
            raise ConfigError("video", "one video cannot be attached to several joined inputs")
        options["video"], video = video, None
    if (resize is not None or grayscale) and not embed_frames:
        raise ConfigError("resize", "resize/grayscale apply to embedded frames; add embed_frames=True (--embed-frames)")
    if info.name == "video":
        options.update(embed_frames=embed_frames, resize=resize, grayscale=grayscale)
    sessions = []
    for p in paths:
        s = _call_loader(info, p, dict(options))
        s.attrs.setdefault("source", info.name)
        s.attrs.setdefault("source_file", p.name)
        sessions.append(s)
    if len(sessions) > 1:
        if any(get_frame_source(s) is not None for s in sessions):
            raise ConfigError(
                "embed_frames", "embedded frames from several inputs cannot be joined; convert them one by one"
            )
        names = [default_session_id(p) for p in paths]
        session = concatenate_sessions(sessions, names, session_id=clean_id(session_id or names[0]))
    else:
        session = sessions[0]
    if video is not None:
        if len(paths) > 1:
            raise ConfigError("video", "one video cannot be attached to several joined inputs")
        if session.pose is None:
            raise ConfigError("video", f"video=... attaches a video to pose data; {paths[0]} has no pose")
        if session.attrs.get("kind") == "training-labels":
            raise FormatError(
                paths[0],
                "video",
                "training-label files index labelled images, not video frames; a video cannot be attached",
            )
        attach_video(session, video, embed=embed_frames, resize=resize, grayscale=grayscale)
    elif embed_frames and info.name != "video":
        if session.video is not None and session.video.path and get_frame_source(session) is None:
            attach_video(session, session.video.path, embed=True, resize=resize, grayscale=grayscale)
        elif session.video is None:
            raise ConfigError("embed_frames", "embed_frames needs a video: pass video=... (--video)")
    if session.attrs.get("fps_source") == FPS_ASSUMED and session.attrs.get("kind") != "training-labels":
        log.warning(
            "%s: the input stores no frame rate; assuming fps=1 (pass fps=... / --fps, or attach "
            "the video with video=... / --video)",
            paths[0] if len(paths) == 1 else session.session_id,
        )
    if threshold is not None:
        n_masked = mask_low_confidence(session, threshold)
        log.info("%s: %d keypoints below confidence %s set to NaN", session.session_id, n_masked, threshold)
    if drop_empty_animals:
        _drop_empty_animals(session)
    check_pose_not_empty(session, paths[0] if len(paths) == 1 else session.session_id)
    if session_id is not None:
        session.session_id = clean_id(session_id)
    if species is not None:
        session.species = str(species)
    if description is not None:
        session.description = str(description)
    return session


def load(path, source: str | None = None, **options) -> Session:
    """Read ``path`` (a file, a folder, or a list of files of one recording) into a Session.

    Parameters
    ----------
    path
        The input. A list of inputs from the same source is joined into one session with one
        trial per input (their skeletons, units, ... must match).
    source
        The source name (see :func:`list_sources`); detected from the content when omitted.
    **options
        Common options (``video``, ``embed_frames``, ``resize``, ``grayscale``, ``threshold``,
        ``drop_empty_animals``, ``session_id``, ``species``, ``description``) and the loader's own
        options (``fps``, ``instances``, ``bin_width``, ...; see ``docs/importers.md``).

    Returns
    -------
    Session
        In memory. Frames to embed (``embed_frames=True``) are decoded into memory here; use
        :func:`convert` to stream them into a file instead.
    """
    session = _load(path, source, **options)
    src = get_frame_source(session)
    if src is not None:
        frames = np.stack([np.asarray(src[i]) for i in range(len(src))]) if len(src) else None
        session.video = Video(frames=frames)
        set_frame_source(session, None)
    return session


OUTPUT_SUFFIXES = (".h5", ".hdf5")


def check_output_name(out) -> None:
    """Raise a one-line error unless ``out`` names a session file (``.h5`` or ``.hdf5``)."""
    out = Path(out)
    if out.is_dir():
        raise FormatError(out, None, "output is a folder; give a file name such as session.h5")
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        got = f"not {out.suffix!r}" if out.suffix else "it has none"
        raise FormatError(out, None, f"expected an output name ending in .h5 or .hdf5 (a session file is HDF5); {got}")


def convert(
    path, out, source: str | None = None, overwrite: bool = False, compression: str | None = "gzip", **options
) -> Path:
    """Read ``path`` like :func:`load` and write it to the session file ``out``.

    ``out`` must end in ``.h5`` or ``.hdf5``; missing parent folders are created (the
    ``behavenet convert`` command refuses them instead). The output is written atomically: on any
    error no output (and no temporary file) is left behind, and an existing file is only replaced
    with ``overwrite=True``. A referenced video is stored as an absolute path when it was given
    as one, else relative to the session file (see ``docs/importers.md``).
    """
    out = Path(out)
    check_output_name(out)
    if out.exists() and not overwrite:
        raise FormatError(out, None, "output file exists; pass overwrite=True (--overwrite) to replace it")
    for p in _paths(path):
        if p.exists() and out.exists() and p.resolve() == out.resolve():
            raise FormatError(out, None, "output would overwrite the input")
    session = _load(path, source, **options)
    frames = get_frame_source(session)
    if frames is not None:
        written = _write_streaming(session, frames, out, overwrite, compression)
    elif session.video is not None and session.video.path and video_path_absolute(session):
        written = _write_absolute_video(session, out, overwrite, compression)
    else:  # a referenced video given by a relative path is written relative to the session file
        written = write_session(session, out, overwrite=overwrite, compression=compression)
    return written


def _write_absolute_video(session: Session, out: Path, overwrite: bool, compression) -> Path:
    """Write ``session`` with its referenced video stored as the absolute path the user gave.

    (:func:`write_session` makes every reference relative to the session file.)
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=".partial") as tmp:
        write_session(session, tmp, overwrite=True, compression=compression, validate=False)
        with h5py.File(tmp, "r+") as f:
            f["video"].attrs["external_path"] = os.path.abspath(session.video.path)
        _validate_before_move(tmp, out, overwrite)
    return out


def _validate_before_move(tmp: Path, out: Path, overwrite: bool) -> None:
    """Validate the finished temporary file that is to become ``out`` (errors name ``out``)."""
    try:
        validate_file(tmp)
    except FormatError as exc:
        raise FormatError(out, exc.field, exc.message) from None
    if out.exists() and not overwrite:
        raise FormatError(out, None, "output file exists; pass overwrite=True (--overwrite) to replace it")


def _write_streaming(session: Session, frames, out: Path, overwrite: bool, compression) -> Path:
    """Write ``session`` with its video frames copied one at a time from ``frames``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    n = len(frames)
    try:
        with atomic_path(out, suffix=".partial") as tmp:
            first = np.asarray(frames[0])
            if first.ndim == 2:
                first = first[..., None]
            h, w, c = first.shape
            # the session without frames (validated below, once the frames are in)
            session.video = Video(n_frames=n, height=h, width=w, channels=c)
            write_session(session, tmp, overwrite=True, compression=compression, validate=False)
            with h5py.File(tmp, "r+") as f:
                g = f["video"] if "video" in f else f.create_group("video")
                for key in ("external_path", "n_frames"):
                    if key in g.attrs:
                        del g.attrs[key]
                kw = {"compression": compression} if compression else {}
                d = g.create_dataset("frames", shape=(n, h, w, c), dtype=np.uint8, chunks=(1, h, w, c), **kw)
                d[0] = first
                for i in range(1, n):
                    fr = np.asarray(frames[i])
                    if fr.ndim == 2:
                        fr = fr[..., None]
                    if fr.shape != (h, w, c):
                        raise FormatError(
                            out, "/video/frames", f"frame {i} has shape {fr.shape}, frame 0 has {(h, w, c)}"
                        )
                    d[i] = fr
                g.attrs["height"], g.attrs["width"], g.attrs["channels"] = h, w, c
            _validate_before_move(tmp, out, overwrite)
    finally:
        close = getattr(frames, "close", None)
        if callable(close):
            close()
    return out
