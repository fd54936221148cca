"""Lazy, frame-exact reading of video files (mp4, avi, mkv, ...) through PyAV.

:class:`VideoFileReader` decodes on demand and never holds more than the frames asked for:

* ``len(reader)`` is the exact number of frames. For mp4/mov containers the stream header's count
  is used; for other containers (or when the header has none) the packets are demuxed once,
  without decoding, and counted.
* ``reader[i]`` returns one frame ``(H, W, C)``; ``reader[a:b]`` and ``reader[[i, j, ...]]``
  return ``(n, H, W, C)``; all ``uint8``, RGB (``C == 3``) or grey (``C == 1``).
* Access is frame-exact: the first random access demuxes the file once (no decoding) to map
  frame indices to presentation timestamps. Sequential reads keep the decoder open and decode
  forward; a backward or long jump seeks to the keyframe before the target and decodes forward
  from there.
* Readers pickle without their open file and reopen it on first use, also after a ``fork``, so
  they can be handed to DataLoader workers.

PyAV is an optional dependency (``pip install 'behavenet[video]'``); it is imported on first use.
"""

from __future__ import annotations

import bisect
import logging
import os
import weakref
from pathlib import Path

import numpy as np

from behavenet.errors import DependencyError, FormatError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".mj2", ".ts")

# containers whose header frame count is taken from the sample table (exact)
_EXACT_COUNT_FORMATS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2")


def import_av():
    """Import PyAV or raise a one-line :class:`DependencyError`."""
    try:
        import av  # noqa: PLC0415
    except ImportError:
        raise DependencyError("av", "video", "Reading video files") from None
    return av


def _snap_fps(rate: float) -> float:
    """Round frame rates like 30.0003 (a 33333 us frame duration) to the integer they mean."""
    nearest = round(rate)
    if nearest > 0 and abs(rate - nearest) < 1e-3:
        return float(nearest)
    return float(rate)


def parse_size(size) -> tuple[int, int] | None:
    """``"HxW"``, ``(H, W)`` or ``None`` -> ``(H, W)``; raises a one-line error otherwise."""
    if size is None:
        return None
    if isinstance(size, str):
        parts = size.lower().replace(",", "x").split("x")
        try:
            h, w = (int(p) for p in parts)
        except ValueError:
            raise FormatError(None, "resize", f"expected HEIGHTxWIDTH such as 240x320, got {size!r}") from None
    else:
        try:
            h, w = (int(v) for v in size)
        except (TypeError, ValueError):
            raise FormatError(None, "resize", f"expected (height, width), got {size!r}") from None
    if h <= 0 or w <= 0:
        raise FormatError(None, "resize", f"height and width must be positive, got {h}x{w}")
    return h, w


_OPEN_READERS: weakref.WeakSet = weakref.WeakSet()


def _close_before_fork() -> None:
    """Close every open video before the process forks (data-loader workers).

    FFmpeg decodes with threads, and threads do not survive ``fork``: a child that frees an
    inherited decoder waits forever for its threads (``avcodec_free_context`` joins them). Closed
    in the parent, the decoders' threads are joined there; each process reopens the file lazily.
    """
    for reader in list(_OPEN_READERS):
        reader.close()
    import gc

    gc.collect()  # containers already dropped but not yet freed (reference cycles)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_close_before_fork)


class VideoFileReader:
    """Frame-indexable view of a video file, decoded lazily with PyAV.

    Parameters
    ----------
    path
        The video file.
    grayscale
        Return one grey channel (``C == 1``) instead of RGB.
    size
        ``(height, width)`` (or ``"HxW"``) to resize every frame to; ``None`` keeps the size.
    threads
        Let FFmpeg decode with several threads.
    """

    def __init__(self, path: str | os.PathLike, grayscale: bool = False, size=None, threads: bool = True):
        self.path = Path(path)
        self.grayscale = bool(grayscale)
        self.size = parse_size(size)
        self.threads = bool(threads)
        if not self.path.exists():
            raise FormatError(self.path, None, "video file not found")
        if self.path.is_dir():
            raise FormatError(self.path, None, "expected a video file, found a folder")
        self._container = None
        self._pid = None
        self._force_seek = True
        self._pts: list[int] | None = None  # presentation timestamps, sorted, one per frame
        self._key_idx: list[int] | None = None  # frame indices of keyframes, sorted
        self._reset_decoder()
        stream = self._stream()
        self._read_header(stream)

    # ------------------------------------------------------------------ file handle management
    def _reset_decoder(self):
        self._frames_iter = None
        self._last_idx = None  # index of the last decoded frame
        self._last_frame = None  # its converted array
        self._pending = None  # a decoded frame past the last request (not yet returned)

    def _stream(self):
        pid = os.getpid()
        if self._container is None or self._pid != pid:
            av = import_av()
            try:
                self._container = av.open(str(self.path), "r")
            except Exception as exc:  # av.error.* (InvalidDataError, ...)
                self._container = None
                raise FormatError(
                    self.path, None, f"cannot open as a video (truncated or not a video?): {exc}"
                ) from None
            self._pid = pid
            _OPEN_READERS.add(self)
            self._reset_decoder()
            if not self._container.streams.video:
                self.close()
                raise FormatError(self.path, None, "the file has no video stream")
            stream = self._container.streams.video[0]
            if self.threads:
                stream.thread_type = "AUTO"
            self._prime(stream)
        return self._container.streams.video[0]

    def _prime(self, stream) -> None:
        """Decode the first frame once after opening.

        Some H.264 files (seen with yuv444p x264 output) decode later keyframes to garbage when
        the decoder's first packet is not the stream's first one; one decode fixes that.
        """
        try:
            for _ in self._container.decode(stream):
                break
        except Exception as exc:
            raise FormatError(self.path, None, f"cannot decode the first frame (corrupt video?): {exc}") from None
        self._force_seek = True

    def close(self) -> None:
        """Close the file (it is reopened on next use)."""
        if self._container is not None and self._pid == os.getpid():
            try:
                self._container.close()
            except Exception:  # pragma: no cover - closing twice
                pass
        self._container = None
        self._pid = None
        self._reset_decoder()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:
            pass

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_container=None, _pid=None, _frames_iter=None, _last_idx=None, _last_frame=None, _pending=None)
        return state

    # ------------------------------------------------------------------ metadata
    def _read_header(self, stream) -> None:
        cc = stream.codec_context
        self.width = int(cc.width or 0)
        self.height = int(cc.height or 0)
        if self.width <= 0 or self.height <= 0:
            raise FormatError(self.path, None, "video stream has no frame size (corrupt header?)")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate:
            self.fps = _snap_fps(float(rate))
        elif stream.frames and stream.duration and stream.time_base:
            self.fps = _snap_fps(stream.frames / float(stream.duration * stream.time_base))
        else:
            self.fps = None
        fmt = self._container.format.name or ""
        exact = any(name in _EXACT_COUNT_FORMATS for name in fmt.split(","))
        self._n_frames = int(stream.frames) if (exact and stream.frames and stream.frames > 0) else None
        self.codec = cc.name

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` of the frames this reader returns."""
        h, w = self.size if self.size is not None else (self.height, self.width)
        return (h, w, 1 if self.grayscale else 3)

    def __len__(self) -> int:
        if self._n_frames is None:
            self._build_index()
            self._n_frames = len(self._pts)
        return self._n_frames

    @property
    def n_frames(self) -> int:
        return len(self)

    @property
    def duration(self) -> float | None:
        """Length in seconds (``len / fps``), ``None`` without a frame rate."""
        return None if not self.fps else len(self) / self.fps

    def __repr__(self):
        return (
            f"VideoFileReader({str(self.path)!r}, frames={len(self)}, fps={self.fps}, frame_shape={self.frame_shape})"
        )

    # ------------------------------------------------------------------ index
    def _build_index(self) -> None:
        """Demux every packet once (no decoding): frame timestamps and keyframe positions."""
        if self._pts is not None:
            return
        stream = self._stream()
        container = self._container
        pts, keys = [], []
        try:
            container.seek(0, stream=stream, backward=True, any_frame=False)
        except Exception:  # some streams cannot seek to 0 before reading; harmless
            pass
        counter = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # flush packet
                    continue
                t = packet.pts if packet.pts is not None else packet.dts
                if t is None:  # no timestamps at all: fall back to decode order
                    t = counter
                pts.append(int(t))
                keys.append(bool(packet.is_keyframe))
                counter += 1
        except Exception as exc:
            raise FormatError(self.path, None, f"cannot read the video packets (truncated?): {exc}") from None
        order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
        sorted_pts = [pts[i] for i in order]
        key_flags = [keys[i] for i in order]
        self._pts = sorted_pts
        self._key_idx = [i for i, k in enumerate(key_flags) if k] or [0]
        if self._n_frames is not None and self._n_frames != len(sorted_pts):
            log.warning(
                "%s: header says %d frames, the stream holds %d packets; using %d",
                self.path,
                self._n_frames,
                len(sorted_pts),
                min(self._n_frames, len(sorted_pts)),
            )
            self._n_frames = min(self._n_frames, len(sorted_pts))
        self._reset_decoder()  # the demux pass moved the read position: the next decode seeks
        self._force_seek = True

    # ------------------------------------------------------------------ decoding
    def _convert(self, frame) -> np.ndarray:
        kwargs = {"format": "gray" if self.grayscale else "rgb24"}
        if self.size is not None:
            kwargs["height"], kwargs["width"] = self.size
        arr = frame.to_ndarray(**kwargs)
        if arr.ndim == 2:
            arr = arr[..., None]
        return np.ascontiguousarray(arr, dtype=np.uint8)

    def _seek_to(self, target_idx: int, back: int = 0) -> None:
        stream = self._stream()
        k = bisect.bisect_right(self._key_idx, target_idx) - 1 - back
        k = max(k, 0)
        key_frame = self._key_idx[k]
        self._container.seek(self._pts[key_frame], stream=stream, backward=True, any_frame=False)
        self._frames_iter = self._container.decode(stream)
        self._last_idx = None
        self._last_frame = None
        self._pending = None
        self._force_seek = False

    def _next_decoded(self):
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        try:
            return next(self._frames_iter)
        except StopIteration:
            return None
        except Exception as exc:
            raise FormatError(self.path, None, f"decoding failed (truncated or corrupt video?): {exc}") from None

    def _frame_index_of(self, frame) -> int | None:
        if frame.pts is None:
            return None
        i = bisect.bisect_left(self._pts, int(frame.pts))
        if i < len(self._pts) and self._pts[i] == frame.pts:
            return i
        return None

    def _get(self, idx: int) -> np.ndarray:
        self._build_index()
        self._stream()
        if self._last_idx == idx and self._last_frame is not None:
            return self._last_frame
        key_before = self._key_idx[max(bisect.bisect_right(self._key_idx, idx) - 1, 0)]
        forward_ok = (
            self._frames_iter is not None
            and not self._force_seek
            and self._last_idx is not None
            and self._last_idx < idx
            and self._last_idx >= key_before - 1
        )  # forward costs no more than a seek
        for attempt in range(4):
            if not forward_ok:
                self._seek_to(idx, back=attempt)
            forward_ok = False
            while True:
                frame = self._next_decoded()
                if frame is None:
                    break
                fi = self._frame_index_of(frame)
                if fi is None:  # timestamp not in the index: count from the last one
                    fi = 0 if self._last_idx is None else self._last_idx + 1
                if fi < idx:
                    self._last_idx = fi
                    continue
                if fi == idx:
                    self._last_idx = idx
                    self._last_frame = self._convert(frame)
                    return self._last_frame
                # overshoot: the seek landed after the target; retry from an earlier keyframe
                self._pending = None
                break
        raise FormatError(self.path, None, f"frame {idx} could not be decoded (corrupt or truncated video?)")

    def __getitem__(self, idx):
        n = len(self)
        if isinstance(idx, (int, np.integer)):
            i = int(idx)
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"frame {idx} out of range for a video of {n} frames")
            return self._get(i).copy()
        if isinstance(idx, slice):
            indices = np.arange(*idx.indices(n))
        else:
            indices = np.asarray(idx)
            if indices.size == 0:
                indices = indices.astype(np.int64)
            if indices.dtype == bool:
                if indices.shape != (n,):
                    raise IndexError(f"boolean index of shape {indices.shape} for {n} frames")
                indices = np.flatnonzero(indices)
            if indices.dtype.kind not in "iu":
                raise IndexError(f"frame indices must be integers, got {indices.dtype}")
            indices = indices.astype(np.int64)
        shape = indices.shape
        flat = indices.reshape(-1)
        flat = np.where(flat < 0, flat + n, flat)
        if flat.size and (flat.min() < 0 or flat.max() >= n):
            raise IndexError(f"frame index out of range for a video of {n} frames")
        out = np.empty((flat.size,) + self.frame_shape, dtype=np.uint8)
        uniq, inverse = np.unique(flat, return_inverse=True)
        for j, i in enumerate(uniq):  # increasing order: decodes forward, seeks only across jumps
            frame = self._get(int(i))
            out[inverse == j] = frame
        return out.reshape(shape + self.frame_shape)

    def __iter__(self):
        for i in range(len(self)):
            yield self._get(i).copy()

    def iter_frames(self, start: int = 0, stop: int | None = None):
        """Yield frames ``start..stop-1`` one at a time (sequential decoding)."""
        stop = len(self) if stop is None else min(stop, len(self))
        for i in range(start, stop):
            yield self._get(i).copy()


def probe_video(path: str | os.PathLike) -> dict:
    """Return ``{"n_frames", "fps", "height", "width"}`` of a video file."""
    with VideoFileReader(path) as r:
        return {"n_frames": len(r), "fps": r.fps, "height": r.height, "width": r.width}
