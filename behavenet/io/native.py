"""Loader for files that already are behavenet sessions (to re-write, join or attach a video)."""

from __future__ import annotations

from pathlib import Path

from behavenet.data.format import FORMAT_NAME, Session
from behavenet.io._common import FPS_FROM_FILE, h5_open, set_video_path_absolute
from behavenet.io._registry import register_loader
from behavenet.utils.plain import to_str


def sniff_session(path: Path) -> bool:
    f = h5_open(path)
    if f is None:
        return False
    with f:
        return to_str(f.attrs.get("format", ""), errors="replace") == FORMAT_NAME


@register_loader(
    "behavenet",
    suffixes=(".h5", ".hdf5"),
    sniff=sniff_session,
    priority=0,
    expects="a behavenet session file (HDF5 with attrs format='behavenet-session')",
    description="behavenet session files (re-write, join several, attach a video)",
)
def load_behavenet(path: Path) -> Session:
    """Read a behavenet session file (validated) into memory; video frames are loaded."""
    from behavenet.data.reader import read_session

    session = read_session(path, load_video=True)
    session.attrs.setdefault("fps_source", FPS_FROM_FILE)
    if session.video is not None and session.video.frames is None:
        # a referenced video stays absolute if it was stored so; a relative one is re-based on the output
        f = h5_open(path)
        if f is not None:
            with f:
                ext = to_str(f["video"].attrs.get("external_path", ""), errors="replace") if "video" in f else ""
            set_video_path_absolute(session, Path(ext).is_absolute())
    return session
