"""Loader for original BehaveNet (v1, themattinthehatt/behavenet) HDF5 files.

The reading itself lives in :mod:`behavenet.data.behavenet_v1`; this module registers it. v1 files
hold ``images``/``masks``/``neural``/``labels``/``labels_masks`` groups of ``trial_%04i`` datasets
and no frame rate (pass ``fps``). Images are embedded in the session file (streamed, one frame at
a time, by :func:`behavenet.io.convert`); ``masks`` and ``regions`` are not carried over.
"""

from __future__ import annotations

from pathlib import Path

from behavenet.data.format import Session
from behavenet.io._common import FPS_ASSUMED, FPS_FROM_USER, check_fps, h5_open, set_frame_source
from behavenet.io._registry import register_loader


def sniff_v1(path: Path) -> bool:
    from behavenet.data.format import is_behavenet_v1

    f = h5_open(path)
    if f is None:
        return False
    with f:
        return is_behavenet_v1(f)


@register_loader(
    "behavenet-v1",
    suffixes=(".h5", ".hdf5"),
    sniff=sniff_v1,
    priority=5,
    aliases=("behavenet1", "v1"),
    expects="a BehaveNet v1 file: HDF5 with images/neural/labels groups of trial_%04i datasets",
    description="original BehaveNet HDF5 (images/neural/labels groups of trial_%04i datasets)",
)
def load_behavenet_v1(
    path: Path, *, fps: float | None = None, neural_type: str = "auto", label_layout: str = "interleaved"
) -> Session:
    """Read a BehaveNet v1 file; trials are kept, ``fps`` defaults to 1 (v1 stores none)."""
    from behavenet.data.behavenet_v1 import BehaveNetV1File

    fps = check_fps(fps, path)
    reader = BehaveNetV1File(path, fps=fps, neural_type=neural_type, label_layout=label_layout)
    session = reader.to_session(load_video=False)
    session.attrs["fps_source"] = FPS_FROM_USER if fps is not None else FPS_ASSUMED
    if "images" in reader.modalities or session.video is not None:
        set_frame_source(session, reader.video())
    return session
