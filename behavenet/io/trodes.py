"""Trodes position tracking + MatClust spike times (e.g. the nelpy linear-track example).

Input: a folder with a ``*.videoPositionTracking`` file (Trodes: a text header ending in
``<End settings>``, then records ``<time uint32><xloc uint16><yloc uint16>[<xloc2><yloc2>]`` with
``time`` on the ``clockrate`` clock) and/or a MatClust ``spikes.mat`` (nested cells
``spikes{...}{tetrode}{cell}.time``, seconds on the same clock). Either file may also be given
directly.

* spikes are binned at ``bin_width`` (default 0.025 s) from the earliest to the latest sample;
  units are named ``tt<tetrode>_c<cell>`` (1-based, as in MATLAB); empty units are dropped;
* position becomes behaviour variables ``x``, ``y`` (pixels; ``x2``, ``y2`` when a second LED was
  tracked), averaged per bin. Samples at ``invalid_xy`` (one (x, y) pair or a list of pairs) are
  missing. ``"auto"`` (default) finds the tracker's "no detection" values: every (x, y) value
  repeated in at least 0.5 % of the samples that lies at the image edge (within 2 % of the image
  size of a border; the size is the header's ``camera resolution``, without which only the borders
  at 0 are known), and any single value
  found in more than 20 % of the samples; a warning lists them (the nelpy file has two: (522, 8)
  for the rest epoch and (477, 479) before the LED is first seen).

Lost: MatClust ``timerange``/``meanrate``, the camera settings other than the clock rate.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from behavenet.data.format import Behavior, Session, Spikes
from behavenet.errors import ConfigError, FormatError
from behavenet.io._common import FPS_DEFAULT, FPS_FROM_USER, check_fps, read_head
from behavenet.io._registry import register_loader

log = logging.getLogger(__name__)

DEFAULT_BIN_WIDTH = 0.025
_END = b"<End settings>"
_TYPES = {
    "uint8": "<u1",
    "uint16": "<u2",
    "uint32": "<u4",
    "int16": "<i2",
    "int32": "<i4",
    "double": "<f8",
    "float": "<f4",
    "uint64": "<u8",
    "int64": "<i8",
}


def _files(path: Path) -> tuple[Path | None, Path | None]:
    if path.is_file():
        if path.suffix == ".videoPositionTracking":
            return path, None
        if path.suffix == ".mat":
            return None, path
        return None, None
    pos = sorted(path.glob("*.videoPositionTracking"))
    mat = sorted(path.glob("spikes*.mat"))
    return (pos[0] if pos else None), (mat[0] if mat else None)


def sniff_trodes(path: Path) -> bool:
    pos, mat = _files(path)
    if pos is not None:
        head = read_head(pos, 4096)
        return head.startswith(b"<Start settings>") and _END in head
    if mat is not None:
        return read_head(mat, 10).startswith(b"MATLAB") and (path.is_dir() or path.name.startswith("spikes"))
    return False


def read_position(path: Path):
    raw = path.read_bytes()
    end = raw.find(_END)
    if not raw.startswith(b"<Start settings>") or end < 0:
        raise FormatError(path, "header", "expected a Trodes header from <Start settings> to <End settings>")
    header = raw[:end].decode("latin1")
    body = raw[end + len(_END) :]
    if body.startswith(b"\r\n"):
        body = body[2:]
    elif body.startswith(b"\n"):
        body = body[1:]
    m = re.search(r"Fields:\s*(.*)", header)
    fields = re.findall(r"<(\w+)\s+(\w+)>", m.group(1)) if m else []
    if not fields:
        fields = [("time", "uint32"), ("xloc", "uint16"), ("yloc", "uint16"), ("xloc2", "uint16"), ("yloc2", "uint16")]
    try:
        dtype = np.dtype([(n, _TYPES[t]) for n, t in fields])
    except KeyError as exc:
        raise FormatError(path, "header", f"unknown field type {exc}") from None
    if len(body) % dtype.itemsize:
        raise FormatError(
            path, None, f"{len(body)} data bytes is not a whole number of {dtype.itemsize}-byte records (truncated?)"
        )
    rec = np.frombuffer(body, dtype=dtype)
    clock = re.search(r"clockrate:\s*(\d+)", header)
    rate = float(clock.group(1)) if clock else 30000.0
    return rec, rate


def camera_resolution(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` from the header's ``camera resolution: WxH`` line, if any."""
    head = read_head(path, 4096).split(_END)[0].decode("latin1")
    m = re.search(r"camera resolution:\s*(\d+)\s*x\s*(\d+)", head)
    return (int(m.group(1)), int(m.group(2))) if m else None


SENTINEL_MIN_FRACTION = 0.005  # a repeated edge value in at least this share of samples is a sentinel
SENTINEL_ANYWHERE_FRACTION = 0.2  # any value in more than this share of samples is one
EDGE_MARGIN = 0.02  # "at the edge": within this share of the image size of a border


def find_sentinels(xy: np.ndarray, resolution: tuple[int, int] | None = None) -> list[tuple[np.ndarray, float]]:
    """The "no detection" values of a position track ``(N, 2)``: ``[(xy value, share of samples)]``,
    most frequent first (see the module docstring for the rule)."""
    if not len(xy):
        return []
    pairs, counts = np.unique(xy[:, :2], axis=0, return_counts=True)
    share = counts / len(xy)
    if resolution is not None:
        size = np.asarray(resolution, dtype=np.float64)
        at_edge = ((pairs <= EDGE_MARGIN * size) | (pairs >= (1 - EDGE_MARGIN) * size - 1)).any(axis=1)
    else:  # the far borders are unknown (the range of the positions is the track's, not the image's)
        at_edge = (pairs <= EDGE_MARGIN * np.maximum(xy[:, :2].max(axis=0), 1)).any(axis=1)
    bad = (share > SENTINEL_ANYWHERE_FRACTION) | (at_edge & (share >= SENTINEL_MIN_FRACTION))
    order = np.argsort(-share[bad], kind="stable")
    return [(pairs[bad][i], float(share[bad][i])) for i in order]


def read_matclust(path: Path) -> tuple[list[np.ndarray], list[str]]:
    import scipy.io

    try:
        m = scipy.io.loadmat(path)
    except Exception as exc:
        raise FormatError(path, None, f"not a readable MATLAB file (truncated?): {exc}") from None
    keys = [k for k in m if not k.startswith("__")]
    if "spikes" not in m:
        raise FormatError(path, "spikes", f"no 'spikes' variable (found {keys})")
    trains, names = [], []

    def walk(a, where):
        if isinstance(a, np.ndarray) and a.dtype.names and "time" in a.dtype.names:
            for cell in a.ravel():
                trains.append(np.asarray(cell["time"], dtype=np.float64).ravel())
                idx = [i for i in where if i is not None]
                names.append(f"tt{idx[-2] + 1}_c{idx[-1] + 1}" if len(idx) >= 2 else f"unit{len(names)}")
        elif isinstance(a, np.ndarray) and a.dtype == object:
            for ix, x in np.ndenumerate(a):
                flat = int(np.ravel_multi_index(ix, a.shape)) if a.size > 1 else None
                walk(x, where + [flat])

    walk(m["spikes"], [])
    return trains, names


def _parse_invalid_xy(invalid_xy) -> list[np.ndarray]:
    """``"x,y"``, ``(x, y)`` or ``[(x, y), ...]`` -> a list of (x, y) arrays."""
    try:
        if isinstance(invalid_xy, str):
            values = [[float(v) for v in invalid_xy.split(",")]]
        else:
            items = list(invalid_xy)
            values = (
                [[float(v) for v in item] for item in items] if np.ndim(items) == 2 else [[float(v) for v in items]]
            )
    except (TypeError, ValueError):
        values = []
    if not values or any(len(v) != 2 for v in values):
        raise ConfigError("invalid_xy", f"expected 'auto', None, (x, y) or a list of (x, y), got {invalid_xy!r}")
    return [np.asarray(v) for v in values]


@register_loader(
    "trodes",
    suffixes=(".videopositiontracking",),
    sniff=sniff_trodes,
    directories=True,
    priority=35,
    aliases=("matclust",),
    expects="Trodes/MatClust data: a .videoPositionTracking file, a MatClust spikes .mat, or a folder of them",
    description="Trodes .videoPositionTracking + MatClust spikes.mat folder (spikes + position)",
)
def load_trodes(
    path: Path,
    *,
    bin_width: float | None = None,
    invalid_xy="auto",
    drop_empty_units: bool = True,
    t_start: float | None = None,
    t_stop: float | None = None,
) -> Session:
    """Bin MatClust spike times and average Trodes positions on one time base."""
    pos_file, mat_file = _files(path)
    if pos_file is None and mat_file is None:
        raise FormatError(path, None, "no .videoPositionTracking or spikes.mat here")
    bw = check_fps(bin_width, path) if bin_width is not None else DEFAULT_BIN_WIDTH
    trains, unit_names = ([], [])
    if mat_file is not None:
        trains, unit_names = read_matclust(mat_file)
        if drop_empty_units:
            keep = [i for i, t in enumerate(trains) if t.size]
            trains, unit_names = [trains[i] for i in keep], [unit_names[i] for i in keep]
    t_pos = xy = None
    xy_names = []
    if pos_file is not None:
        rec, clock = read_position(pos_file)
        t_pos = rec[rec.dtype.names[0]].astype(np.float64) / clock
        cols = [n for n in rec.dtype.names[1:]]
        xy = np.stack([rec[c].astype(np.float64) for c in cols], axis=1)
        used = [j for j in range(xy.shape[1]) if np.any(xy[:, j] != 0)]
        xy = xy[:, used]
        xy_names = [{"xloc": "x", "yloc": "y", "xloc2": "x2", "yloc2": "y2"}.get(cols[j], cols[j]) for j in used]
        if invalid_xy is not None and xy.shape[1] >= 2 and len(xy):
            if isinstance(invalid_xy, str) and invalid_xy == "auto":
                found = find_sentinels(xy, camera_resolution(pos_file))
                bad = [v for v, _ in found]
                if found:
                    log.warning(
                        "%s: %d 'no detection' value(s) treated as missing: %s (values repeated at the image "
                        "edge or in > 20%% of samples; invalid_xy=None keeps them, invalid_xy=[[x, y], ...] "
                        "names them)",
                        pos_file,
                        len(found),
                        ", ".join(f"({int(v[0])}, {int(v[1])}) in {100 * f:.1f}% of samples" for v, f in found),
                    )
            else:
                bad = _parse_invalid_xy(invalid_xy)
            for value in bad:
                miss = np.all(xy[:, :2] == value[:2], axis=1)
                xy[miss] = np.nan
    starts = [t[0] for t in trains if t.size] + ([t_pos[0]] if t_pos is not None and len(t_pos) else [])
    stops = [t[-1] for t in trains if t.size] + ([t_pos[-1]] if t_pos is not None and len(t_pos) else [])
    if not starts:
        raise FormatError(path, None, "no spikes and no position samples")
    lo = float(min(starts)) if t_start is None else float(t_start)
    hi = float(max(stops)) + bw if t_stop is None else float(t_stop)
    lo = np.floor(lo / bw) * bw
    T = int(np.ceil((hi - lo) / bw - 1e-9))
    if T <= 0:
        raise FormatError(path, "t_stop", f"empty time range [{lo}, {hi})")
    edges = lo + np.arange(T + 1) * bw
    session = Session(
        session_id=path.name if path.is_dir() else path.stem, fps=1.0 / bw, source_software="Trodes/MatClust"
    )
    session.attrs.update({"fps_source": FPS_FROM_USER if bin_width is not None else FPS_DEFAULT, "t0": float(lo)})
    if trains:
        counts = np.stack([np.histogram(t, bins=edges)[0] for t in trains], axis=1).astype(np.int32)
        session.spikes = Spikes(counts=counts, bin_width=bw, unit_names=unit_names)
    if xy is not None and xy.shape[1]:
        from behavenet.io.nwb import _resample

        values = _resample(t_pos, xy, edges[:-1], bw)
        session.behavior = Behavior(values=values, names=xy_names, units=["px"] * len(xy_names))
    session.description = (
        f"Trodes/MatClust: {len(trains)} units, position {'yes' if xy is not None else 'no'}, {bw * 1000:g} ms bins"
    )
    return session
