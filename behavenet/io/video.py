"""A video file alone -> a session that references it (or embeds its frames).

``behavenet convert clip.mp4 clip.h5`` writes a session whose ``/video`` points at the video file
(an absolute path when the video was given as one, else a path relative to the session file),
with the exact frame count and the video's frame rate.
``embed_frames=True`` (``--embed-frames``) copies the frames into the session file instead,
streamed one frame at a time, optionally resized (``resize="HxW"``) and converted to grey.
Needs PyAV (``pip install 'behavenet[video]'``).
"""

from __future__ import annotations

import os
from pathlib import Path

from behavenet.data.format import Session, Video
from behavenet.data.video import VIDEO_SUFFIXES, VideoFileReader
from behavenet.io._common import (
    FPS_ASSUMED,
    FPS_FROM_FILE,
    FPS_FROM_USER,
    check_fps,
    read_head,
    set_frame_source,
    set_video_path_absolute,
)
from behavenet.io._registry import register_loader


def sniff_video(path: Path) -> bool:
    head = read_head(path, 16)
    if len(head) < 12:
        return False
    if head[4:8] == b"ftyp":  # mp4 / mov / m4v / 3gp
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    if head[:4] == b"\x1a\x45\xdf\xa3":  # matroska / webm
        return True
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):  # MPEG-PS / MPEG-1/2 video
        return True
    return path.suffix.lower() in VIDEO_SUFFIXES and head[4:8] in (b"moov", b"mdat", b"wide", b"free")


@register_loader(
    "video",
    suffixes=VIDEO_SUFFIXES,
    sniff=sniff_video,
    priority=60,
    extra="video",
    expects="a video file (mp4/mov, avi, mkv/webm or MPEG container)",
    description="a video file (mp4, avi, mkv, ...): referenced, or frames embedded with --embed-frames",
)
def load_video(
    path: Path, *, fps: float | None = None, embed_frames: bool = False, resize=None, grayscale: bool = False
) -> Session:
    """A session holding only the video (referenced, or embedded when written by ``convert``)."""
    reader = VideoFileReader(path, grayscale=grayscale, size=resize)
    n = len(reader)
    if n == 0:
        from behavenet.errors import FormatError

        raise FormatError(path, None, "the video has no frames")
    user = check_fps(fps, path)
    rate = user or reader.fps or 1.0
    src = FPS_FROM_USER if user else (FPS_FROM_FILE if reader.fps else FPS_ASSUMED)
    session = Session(
        session_id=path.stem,
        fps=rate,
        source_software="video",
        description=f"video {path.name} ({n} frames, {reader.width}x{reader.height}, {reader.codec})",
    )
    session.attrs.update({"fps_source": src, "video_file": str(path), "codec": reader.codec})
    h, w, c = reader.frame_shape
    if embed_frames:
        session.video = Video(n_frames=n, height=h, width=w, channels=c)
        set_frame_source(session, reader)
    else:
        session.video = Video(
            path=os.path.abspath(path), n_frames=n, height=reader.height, width=reader.width, channels=3
        )
        set_video_path_absolute(session, path.is_absolute())
        reader.close()
    return session
