"""suite2p output folders: ``F.npy`` (+ ``iscell.npy``) -> calcium traces of the cells.

Input: a ``plane*`` folder, a folder holding ``plane0, plane1, ...`` (cells of all planes are
joined, named ``plane<p>/roi<i>``) or a ``suite2p`` folder above them, or the ``F.npy`` file itself.

* ``signal="F"`` (default) raw fluorescence, ``"spks"`` deconvolved activity (``spks.npy``) or
  ``"F-0.7Fneu"`` neuropil-corrected fluorescence (needs ``Fneu.npy``; ``neuropil_coef`` sets 0.7);
* ``iscell.npy`` (ROI, [is_cell, probability]) keeps the cells (``cells_only=True``) or the ROIs whose
  probability reaches ``cell_probability``; ROI names keep their original index (``roi12``);
* the frame rate comes from ``fps`` or from ``ops.npy`` (``fs``; read with the restricted unpickler).

Lost: ROI masks and statistics (``stat.npy``), ``ops`` other than ``fs``, registration data.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from behavenet.data.format import Calcium, Session
from behavenet.errors import ConfigError, FormatError
from behavenet.io._common import FPS_FROM_FILE, FPS_FROM_USER, check_fps
from behavenet.io._registry import register_loader

log = logging.getLogger(__name__)

SIGNALS = ("F", "spks", "F-0.7Fneu")


def _plane_dirs(path: Path) -> list[Path]:
    if path.is_file():
        return [path.parent]
    if (path / "F.npy").is_file():
        return [path]
    for root in (path, path / "suite2p"):
        planes = sorted(
            (p for p in root.glob("plane*") if (p / "F.npy").is_file()),
            key=lambda p: int("".join(c for c in p.name if c.isdigit()) or 0),
        )
        if planes:
            return planes
    return []


def sniff_suite2p(path: Path) -> bool:
    if path.is_file():
        return path.name == "F.npy"
    return bool(_plane_dirs(path))


def _load_array(path: Path, name: str) -> np.ndarray:
    f = path / name
    if not f.is_file():
        raise FormatError(path, name, "file not found in the suite2p folder")
    try:
        return np.load(f, allow_pickle=False)
    except ValueError as exc:
        raise FormatError(f, None, f"not a plain .npy array: {exc}") from None
    except (OSError, EOFError) as exc:
        raise FormatError(f, None, f"unreadable .npy (truncated?): {exc}") from None


def _ops_fs(plane: Path) -> float | None:
    ops = plane / "ops.npy"
    if not ops.is_file():
        return None
    from behavenet.io._pickle import load_npy_object

    try:
        obj = load_npy_object(ops)
    except FormatError as exc:
        log.warning("%s: ops.npy not read (%s)", plane, exc)
        return None
    fs = obj.get("fs") if isinstance(obj, dict) else None
    return float(fs) if fs else None


@register_loader(
    "suite2p",
    suffixes=(".npy",),
    sniff=sniff_suite2p,
    directories=True,
    priority=25,
    expects="suite2p output: F.npy, or a folder holding F.npy or plane*/F.npy",
    description="suite2p folder (F.npy, iscell.npy[, spks.npy, Fneu.npy, ops.npy]) -> calcium",
)
def load_suite2p(
    path: Path,
    *,
    fps: float | None = None,
    signal: str = "F",
    cells_only: bool = True,
    cell_probability: float | None = None,
    neuropil_coef: float = 0.7,
) -> Session:
    """Read suite2p traces of the cells of one or more planes (frames x cells, float32)."""
    if signal not in SIGNALS:
        raise ConfigError("signal", f"expected one of {', '.join(SIGNALS)}, got {signal!r}")
    planes = _plane_dirs(path)
    if not planes:
        raise FormatError(path, None, "no suite2p output here (expected F.npy, or plane*/F.npy)")
    traces, names, n_rois = [], [], 0
    fs_file = None
    for plane in planes:
        if signal == "F":
            x = _load_array(plane, "F.npy")
        elif signal == "spks":
            x = _load_array(plane, "spks.npy")
        else:
            x = _load_array(plane, "F.npy") - float(neuropil_coef) * _load_array(plane, "Fneu.npy")
        if x.ndim != 2:
            raise FormatError(plane, signal, f"expected (ROIs, frames), found shape {x.shape}")
        n_rois += x.shape[0]
        keep = np.ones(x.shape[0], dtype=bool)
        if (plane / "iscell.npy").is_file():
            iscell = _load_array(plane, "iscell.npy")
            if iscell.ndim == 1:
                iscell = iscell[:, None]
            if iscell.shape[0] != x.shape[0]:
                raise FormatError(
                    plane / "iscell.npy", None, f"{iscell.shape[0]} rows for {x.shape[0]} ROIs in {signal}"
                )
            if cell_probability is not None:
                if iscell.shape[1] < 2:
                    raise FormatError(plane / "iscell.npy", None, "no probability column")
                keep = iscell[:, 1] >= float(cell_probability)
            elif cells_only:
                keep = iscell[:, 0] > 0
        elif cells_only or cell_probability is not None:
            log.warning("%s: no iscell.npy; keeping every ROI", plane)
        idx = np.flatnonzero(keep)
        traces.append(x[idx].T.astype(np.float32))
        prefix = f"{plane.name}/" if len(planes) > 1 else ""
        names += [f"{prefix}roi{i}" for i in idx]
        fs_file = fs_file or _ops_fs(plane)
    lengths = {t.shape[0] for t in traces}
    if len(lengths) != 1:
        raise FormatError(path, None, f"planes have different numbers of frames: {sorted(lengths)}")
    data = np.concatenate(traces, axis=1)
    if data.shape[1] == 0:
        raise FormatError(path, "iscell", "no ROI is classified as a cell (pass cells_only=False to keep all ROIs)")
    if not np.isfinite(data).all():
        raise FormatError(path, signal, "contains NaN or infinite values")
    user = check_fps(fps, path)
    if user is None and fs_file is None:
        raise ConfigError("fps", f"{path}: suite2p traces carry no frame rate here (no ops.npy); pass fps=... (--fps)")
    session = Session(
        session_id=(path.parent.name if path.is_file() else path.name) or "suite2p",
        fps=user or fs_file,
        source_software="suite2p",
        description=f"suite2p {signal} of {data.shape[1]} cells ({n_rois} ROIs, {len(planes)} plane(s))",
    )
    session.calcium = Calcium(traces=data, unit_names=names, kind=signal)
    session.attrs.update(
        {"fps_source": FPS_FROM_USER if user else FPS_FROM_FILE, "n_rois": n_rois, "planes": [p.name for p in planes]}
    )
    return session
