"""DeepLabCut (and DLC-format) pose tables: ``.h5`` and ``.csv``, single- and multi-animal.

Handled layouts
---------------
* single animal: column levels ``scorer / bodyparts / coords`` (CSV: 3 header rows);
* multi-animal (maDLC): ``scorer / individuals / bodyparts / coords`` (CSV: 4 header rows); the
  ``single`` individual of unique body parts becomes one more animal;
* the older "prefixed" multi-animal layout where body parts are ``B_Nose``, ``W_Nose``, ...:
  split into animals by prefix with ``split_prefix=True`` (detected automatically when every body
  part has a prefix and every prefix has the same list of parts);
* inference outputs (``x, y, likelihood``; likelihood -> confidence) and training-label files
  (``CollectedData_*``: an index of image paths, ``x, y`` only; lightning-pose ``CollectedData.csv``
  too). Label files become sessions with one frame per labelled image, one trial per video folder,
  and the image paths in ``attrs["image_paths"]``;
* scorer names mangled by pandas (``Unnamed: 1_level_0``, ``name.1``) are cleaned up.

``.h5`` files are read with h5py directly, including the pandas metadata, which is parsed with a
restricted unpickler (pandas/PyTables would unpickle it unrestricted, which runs code from the
file). Layouts the direct reader does not know fall back to ``pandas.read_hdf`` (needs PyTables:
``pip install 'behavenet[dlc]'``) when ``engine="auto"``.

Missing values: NaN stays NaN; with ``zero_missing=True`` (default) an entry whose x, y and
likelihood are all exactly 0 (how some multi-animal tables mark an absent animal) is missing too.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from behavenet.data.format import Pose, Session
from behavenet.errors import DependencyError, FormatError
from behavenet.io._common import (
    FPS_ASSUMED,
    concatenate_sessions,
    default_session_id,
    h5_open,
    read_head,
    resolve_fps,
)
from behavenet.io._pickle import safe_loads
from behavenet.io._registry import register_loader
from behavenet.utils.plain import to_str

log = logging.getLogger(__name__)

LEVELS = ("scorer", "individuals", "bodyparts", "coords")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_MANGLED = re.compile(r"^(.*?)(\.\d+)?$")
_UNNAMED = re.compile(r"^Unnamed: \d+_level_\d+$")


@dataclass
class DLCTable:
    """A DLC table as read from disk: column tuples, values and the row index."""

    path: Path
    level_names: list[str]
    columns: list[tuple[str, ...]]
    values: np.ndarray  # float64 (rows, columns)
    index: list = field(default_factory=list)
    reader: str = "h5py"


# --------------------------------------------------------------------------- sniffing
def _csv_header_rows(path: Path, max_rows: int = 6) -> list[list[str]]:
    head = read_head(path, 1 << 16)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return []
    rows = []
    for row in csv.reader(io.StringIO(text)):
        rows.append(row)
        if len(rows) >= max_rows:
            break
    return rows


def _sniff_csv(path: Path) -> bool:
    rows = _csv_header_rows(path)
    if len(rows) < 3 or not rows[0]:
        return False
    firsts = [r[0].strip().lower() if r else "" for r in rows]
    return firsts[0] == "scorer" and "bodyparts" in firsts and "coords" in firsts


def _pandas_groups(f) -> list[str]:
    return [k for k, g in f.items() if "pandas_type" in g.attrs]


def _sniff_h5(path: Path) -> bool:
    f = h5_open(path)
    if f is None:
        return False
    with f:
        for key in _pandas_groups(f):
            g = f[key]
            blob = b" ".join(bytes(g.attrs[a]) for a in ("info", "non_index_axes") if a in g.attrs)
            if b"bodyparts" in blob and b"coords" in blob:
                return True
            names = [to_str(g[k].attrs.get("name", b""), errors="replace") for k in g if k.startswith("axis0_level")]
            if "bodyparts" in names and "coords" in names:
                return True
    return False


def _label_files(folder: Path) -> list[Path]:
    """DLC tables in a folder (recursively): ``.h5`` preferred over a ``.csv`` of the same stem."""
    found = {}
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() not in (".h5", ".csv") or p.name.startswith("."):
            continue
        key = p.with_suffix("")
        if key in found and found[key].suffix.lower() == ".h5":
            continue
        if (p.suffix.lower() == ".csv" and _sniff_csv(p)) or (p.suffix.lower() == ".h5" and _sniff_h5(p)):
            found[key] = p
    return sorted(found.values())


def sniff_dlc(path: Path) -> bool:
    if path.is_dir():
        try:
            return any(p.name.startswith("CollectedData") for p in _label_files(path))
        except OSError:
            return False
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5", ".hdf"):
        return _sniff_h5(path)
    return _sniff_csv(path)


# --------------------------------------------------------------------------- reading: CSV
def read_dlc_csv(path: Path) -> DLCTable:
    import pandas as pd

    rows = _csv_header_rows(path)
    if not rows or not rows[0] or rows[0][0].strip().lower() != "scorer":
        raise FormatError(path, "header", "expected a DeepLabCut CSV whose first row starts with 'scorer'")
    header = []
    for r in rows:
        if r and r[0].strip().lower() in LEVELS:
            header.append(r)
        else:
            break
    names = [r[0].strip().lower() for r in header]
    for need in ("bodyparts", "coords"):
        if need not in names:
            raise FormatError(path, "header", f"missing the '{need}' header row (found rows {names})")
    width = len(header[0])
    if any(len(r) != width for r in header):
        raise FormatError(path, "header", "header rows have different numbers of columns")
    # index columns: the first, plus any leading columns left empty in every header row
    n_index = 1
    while n_index < width and all(not r[n_index].strip() for r in header):
        n_index += 1
    try:
        df = pd.read_csv(
            path,
            header=None,
            skiprows=len(header),
            dtype={i: str for i in range(n_index)},
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise FormatError(path, None, "no data rows after the header") from None
    except pd.errors.ParserError as exc:
        raise FormatError(path, None, f"malformed CSV (truncated or edited?): {' '.join(str(exc).split())}") from None
    if df.shape[1] != width:
        raise FormatError(path, None, f"data rows have {df.shape[1]} columns, the header {width} (truncated?)")
    _check_last_line(path, width)
    _check_row_widths(path, width, len(header))
    block = df.iloc[:, n_index:]
    for j, dtype in enumerate(block.dtypes):
        if dtype.kind not in "fiu":  # a non-numeric cell somewhere in this column
            col = block.iloc[:, j].to_numpy(dtype=object)
            for i, v in enumerate(col):
                try:
                    float(v)
                except (TypeError, ValueError):
                    raise FormatError(
                        path, f"row {len(header) + i + 1}, column {n_index + j + 1}", f"expected a number, found {v!r}"
                    ) from None
    values = block.to_numpy(dtype=np.float64)
    idx_cols = df.iloc[:, :n_index].astype(object).to_numpy()
    index = ["/".join(str(c) for c in row if isinstance(c, str) and c) for row in idx_cols]
    columns = [tuple(r[j].strip() for r in header) for j in range(n_index, width)]
    return DLCTable(path, names, columns, values, index, reader="csv")


def _check_last_line(path: Path, width: int) -> None:
    """A file cut mid-row parses as a short last row padded with NaN: refuse it."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
    lines = [ln for ln in tail.splitlines() if ln.strip()]
    if lines:
        n = len(next(csv.reader([lines[-1].decode("utf-8", "replace")])))
        if n != width:
            raise FormatError(path, None, f"the last row has {n} fields, the header {width} (truncated file?)")


def _check_row_widths(path: Path, width: int, n_header: int) -> None:
    """pandas pads a short row (a cell deleted by hand, a line cut by an editor) with NaN, which
    would read as a missed detection: refuse it, naming the line."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for i, row in enumerate(csv.reader(fh), start=1):
            if i > n_header and row and len(row) != width:
                raise FormatError(path, f"line {i}", f"expected {width} fields like the header, found {len(row)}")


# --------------------------------------------------------------------------- reading: HDF5
class _Unsupported(Exception):
    """The direct h5py reader does not know this pandas layout."""


def _attr_str(v):
    """A pandas attribute as str (``None`` for a missing one or pandas' pickled ``None``)."""
    if v is None or (isinstance(v, bytes) and v == b"N."):
        return None
    return to_str(v, errors="replace")


def _strings(arr: np.ndarray) -> list:
    if arr.dtype.kind in "SU":
        return [to_str(x) for x in arr]
    if arr.dtype.kind in "iuf":
        return arr.tolist()
    raise _Unsupported(f"level values stored as {arr.dtype}")


def _multi(g, prefix: str, nlevels: int) -> tuple[list[tuple], list[str | None]]:
    cols, names = None, []
    for k in range(nlevels):
        lev = g[f"{prefix}_level{k}"]
        values = _strings(lev[()])
        codes = g[f"{prefix}_label{k}"][()]
        names.append(_attr_str(lev.attrs.get("name")))
        part = [values[c] if c >= 0 else "" for c in codes]
        cols = [(p,) for p in part] if cols is None else [c + (p,) for c, p in zip(cols, part)]
    return cols or [], names


def _read_fixed(path: Path, g) -> DLCTable:
    attrs = g.attrs
    if _attr_str(attrs.get("axis0_variety")) != "multi":
        raise _Unsupported("columns are not a MultiIndex")
    columns, names = _multi(g, "axis0", int(attrs["axis0_nlevels"]))
    variety1 = _attr_str(attrs.get("axis1_variety"))
    if variety1 == "regular":
        index = _strings(g["axis1"][()])
    elif variety1 == "multi":
        rows, _ = _multi(g, "axis1", int(attrs["axis1_nlevels"]))
        index = ["/".join(str(p) for p in r if str(p)) for r in rows]
    else:
        raise _Unsupported(f"row index variety {variety1}")
    pos = {c: i for i, c in enumerate(columns)}
    values = np.full((len(index), len(columns)), np.nan)
    for b in range(int(attrs.get("nblocks", 1))):
        block = g[f"block{b}_values"]
        if block.dtype.kind not in "fiu":
            raise _Unsupported(f"block {b} holds {block.dtype}")
        if _attr_str(attrs.get(f"block{b}_items_variety")) == "multi":
            items, _ = _multi(g, f"block{b}_items", int(attrs[f"block{b}_items_nlevels"]))
        else:
            raise _Unsupported("block items are not a MultiIndex")
        data = block[()]
        if data.shape != (len(index), len(items)):
            raise FormatError(
                path,
                f"/{g.name.strip('/')}/block{b}_values",
                f"shape {data.shape} does not match {len(index)} rows x {len(items)} columns (corrupt?)",
            )
        for j, item in enumerate(items):
            values[:, pos[item]] = data[:, j]
    return DLCTable(path, [n or f"level{i}" for i, n in enumerate(names)], columns, values, index)


def _read_table(path: Path, g) -> DLCTable:
    attrs = g.attrs
    if "table" not in g:
        raise _Unsupported("no 'table' dataset")
    data_cols = safe_loads(bytes(attrs["data_columns"]), source=path) if "data_columns" in attrs else []
    if data_cols:
        raise _Unsupported("data columns")
    index_cols = safe_loads(bytes(attrs["index_cols"]), source=path) if "index_cols" in attrs else [(0, "index")]
    if len(index_cols) != 1:
        raise _Unsupported("multi-level row index")
    non_index = safe_loads(bytes(attrs["non_index_axes"]), source=path)
    columns = [tuple(str(x) for x in c) for c in non_index[0][1]]
    info = safe_loads(bytes(attrs["info"]), source=path) if "info" in attrs else {}
    names = list(info.get(1, {}).get("names") or [])
    t = g["table"]
    table = t[()]
    index_name = index_cols[0][1]
    index = _strings(table[index_name])
    pos = {c: i for i, c in enumerate(columns)}
    values = np.full((len(index), len(columns)), np.nan)
    values_cols = safe_loads(bytes(attrs["values_cols"]), source=path)
    for vc in values_cols:
        kind = t.attrs.get(f"{vc}_kind")
        if kind is None:
            raise _Unsupported(f"no column names for {vc}")
        items = [tuple(str(x) for x in c) for c in safe_loads(bytes(kind), source=path)]
        block = table[vc]
        if block.dtype.kind not in "fiu":
            raise _Unsupported(f"{vc} holds {block.dtype}")
        block = block.reshape(len(index), -1)
        for j, item in enumerate(items):
            values[:, pos[item]] = block[:, j]
    names = [str(n) if n is not None else f"level{i}" for i, n in enumerate(names)] or [
        f"level{i}" for i in range(len(columns[0]))
    ]
    return DLCTable(path, names, columns, values, index)


def _read_pandas(path: Path, key: str | None) -> DLCTable:
    try:
        import tables  # noqa: F401
    except ImportError:
        raise DependencyError("tables", "dlc", "Reading this DeepLabCut .h5 layout (pandas HDF via PyTables)") from None
    import pandas as pd

    try:
        df = pd.read_hdf(path, key=key)
    except ImportError:
        raise DependencyError("tables", "dlc", "Reading DeepLabCut .h5 files (pandas HDF via PyTables)") from None
    if not hasattr(df, "columns") or df.columns.nlevels < 3:
        raise FormatError(path, key, "expected a table with scorer/bodyparts/coords column levels")
    columns = [tuple(str(x) for x in c) for c in df.columns]
    names = [str(n) if n is not None else f"level{i}" for i, n in enumerate(df.columns.names)]
    if df.index.nlevels > 1:
        index = ["/".join(str(p) for p in r) for r in df.index]
    else:
        index = df.index.tolist()
    return DLCTable(path, names, columns, df.to_numpy(dtype=np.float64), index, reader="pandas")


def read_dlc_h5(path: Path, key: str | None = None, engine: str = "auto") -> DLCTable:
    if engine not in ("auto", "h5py", "pandas"):
        raise FormatError(path, "engine", f"expected auto, h5py or pandas, got {engine!r}")
    if engine == "pandas":
        return _read_pandas(path, key)
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, None, f"not a readable HDF5 file (truncated or corrupt?): {exc}") from None
    with f:
        groups = _pandas_groups(f)
        if key is None:
            if not groups:
                raise FormatError(path, None, "no pandas table in this HDF5 file (not a DeepLabCut .h5?)")
            preferred = [k for k in ("df_with_missing", "tracks", "df") if k in groups]
            if len(groups) > 1 and not preferred:
                raise FormatError(path, "key", f"several tables ({', '.join(groups)}); choose one with key=...")
            key = preferred[0] if preferred else groups[0]
        key = key.strip("/")
        if key not in f:
            raise FormatError(path, "key", f"no table {key!r} (found: {', '.join(groups) or 'none'})")
        g = f[key]
        kind = _attr_str(g.attrs.get("pandas_type"))
        try:
            if kind == "frame":
                return _read_fixed(path, g)
            if kind == "frame_table":
                return _read_table(path, g)
            raise _Unsupported(f"pandas_type {kind}")
        except _Unsupported as why:
            if engine == "h5py":
                raise FormatError(
                    path,
                    f"/{key}",
                    f"layout not supported by the h5py reader ({why}); try engine='pandas' for a trusted file",
                ) from None
            log.info("%s: falling back to pandas.read_hdf (%s)", path, why)
    return _read_pandas(path, key)


def read_dlc_table(path: Path, key: str | None = None, engine: str = "auto") -> DLCTable:
    """Read a DLC ``.csv`` or ``.h5`` table without interpreting it."""
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5", ".hdf"):
        return read_dlc_h5(path, key=key, engine=engine)
    return read_dlc_csv(path)


# --------------------------------------------------------------------------- interpretation
def _clean_scorer(values: list[str]) -> list[str]:
    """Scorer names without pandas' de-duplication suffixes (``name.1``) and ``Unnamed: ...``."""
    raw = set(values)
    out = []
    for v in values:
        if _UNNAMED.match(v) or not v:
            continue
        base = _MANGLED.match(v).group(1)
        name = base if base in raw else v
        if name not in out:
            out.append(name)
    return out


def _detect_prefixes(bodyparts: list[str], sep: str) -> tuple[list[str], list[str]] | None:
    """``["B_Nose", "B_Ear", "W_Nose", "W_Ear"]`` -> (["B", "W"], ["Nose", "Ear"]) when unambiguous."""
    if not bodyparts or not all(sep in b for b in bodyparts):
        return None
    groups: dict[str, list[str]] = {}
    for b in bodyparts:
        pre, rest = b.split(sep, 1)
        if not pre or not rest:
            return None
        groups.setdefault(pre, []).append(rest)
    if len(groups) < 2:
        return None
    parts = list(groups.values())
    if len(parts[0]) < 2 or any(p != parts[0] for p in parts[1:]):
        return None
    return list(groups), parts[0]


def table_to_pose(table: DLCTable, split_prefix: bool | None = None, prefix_sep: str = "_", zero_missing: bool = True):
    """Turn a :class:`DLCTable` into ``(keypoints, confidence, keypoint_names, animal_names, info)``."""
    path = table.path
    names = [n.lower() for n in table.level_names]
    ncol = len(table.columns[0]) if table.columns else 0
    if ncol not in (3, 4):
        raise FormatError(path, "columns", f"expected 3 (scorer/bodyparts/coords) or 4 column levels, found {ncol}")
    if ncol == 3:
        lev = {"scorer": 0, "bodyparts": 1, "coords": 2}
    else:
        lev = {"scorer": 0, "individuals": 1, "bodyparts": 2, "coords": 3}
        if "individuals" in names and "bodyparts" in names and "coords" in names:
            lev = {k: names.index(k) for k in ("individuals", "bodyparts", "coords")}
            lev["scorer"] = names.index("scorer") if "scorer" in names else 0
    scorers = _clean_scorer([c[lev["scorer"]] for c in table.columns])
    coords_seen = []
    for c in table.columns:
        if c[lev["coords"]] not in coords_seen:
            coords_seen.append(c[lev["coords"]])
    dims = [d for d in ("x", "y", "z") if d in coords_seen]
    if dims[:2] != ["x", "y"]:
        raise FormatError(path, "coords", f"expected x and y coordinates, found {coords_seen}")
    unknown = [c for c in coords_seen if c not in ("x", "y", "z", "likelihood")]
    if unknown:
        raise FormatError(path, "coords", f"unexpected coordinate names {unknown} (expected x, y[, z], likelihood)")
    has_lik = "likelihood" in coords_seen

    # (animal, bodypart) for every column
    entries = []
    for c in table.columns:
        animal = c[lev["individuals"]] if "individuals" in lev else ""
        entries.append((animal, c[lev["bodyparts"]], c[lev["coords"]]))
    bodyparts_all = []
    for _, b, _ in entries:
        if b not in bodyparts_all:
            bodyparts_all.append(b)
    info = {"scorer": scorers[0] if len(scorers) == 1 else scorers, "layout": "single-animal"}
    if "individuals" in lev:
        info["layout"] = "multi-animal"
    else:
        detected = _detect_prefixes(bodyparts_all, prefix_sep)
        if split_prefix is None:
            split_prefix = detected is not None
        if split_prefix:
            if detected is None:
                raise FormatError(
                    path,
                    "split_prefix",
                    f"body parts {bodyparts_all[:6]}... do not all start with a "
                    f"prefix and '{prefix_sep}' followed by the same list of parts",
                )
            prefixes, _ = detected
            entries = [(b.split(prefix_sep, 1)[0], b.split(prefix_sep, 1)[1], d) for _, b, d in entries]
            info["layout"] = "prefixed multi-animal"
            info["prefix_sep"] = prefix_sep
    animals, keypoints = [], []
    for a, b, _ in entries:
        if a not in animals:
            animals.append(a)
        if b not in keypoints:
            keypoints.append(b)
    T, A, K, D = table.values.shape[0], len(animals), len(keypoints), len(dims)
    kp = np.full((T, A, K, D), np.nan, dtype=np.float32)
    conf = np.full((T, A, K), np.nan, dtype=np.float32) if has_lik else None
    ai = {a: i for i, a in enumerate(animals)}
    ki = {k: i for i, k in enumerate(keypoints)}
    seen = set()
    for j, (a, b, d) in enumerate(entries):
        if (a, b, d) in seen:
            raise FormatError(path, "columns", f"duplicate column for animal {a or '-'} / {b} / {d}")
        seen.add((a, b, d))
        col = table.values[:, j].astype(np.float32)
        if d == "likelihood":
            conf[:, ai[a], ki[b]] = col
        elif d in dims:
            kp[:, ai[a], ki[b], dims.index(d)] = col
    if zero_missing and has_lik:
        zero = (kp == 0).all(axis=-1) & (conf == 0)
        kp[zero] = np.nan
        info["zero_entries_as_missing"] = int(zero.sum())
    animal_names = ["animal0"] if animals == [""] else [a or f"animal{i}" for i, a in enumerate(animals)]
    return kp, conf, keypoints, animal_names, info


def _place_rows(table: DLCTable, kp, conf, path: Path):
    """Predictions indexed by frame number: put each row at its frame (gaps become NaN)."""
    index = table.index
    if not index or not all(isinstance(i, (int, np.integer)) or (isinstance(i, str) and i.isdigit()) for i in index):
        return kp, conf, None
    frames = np.array([int(i) for i in index], dtype=np.int64)
    if (frames < 0).any():
        return kp, conf, None
    if (np.diff(frames) <= 0).any():
        raise FormatError(path, "index", "frame numbers are not strictly increasing")
    if frames[0] == 0 and frames[-1] == len(frames) - 1:
        return kp, conf, None
    n = int(frames[-1]) + 1
    full = np.full((n,) + kp.shape[1:], np.nan, np.float32)
    full[frames] = kp
    cfull = None
    if conf is not None:
        cfull = np.full((n,) + conf.shape[1:], np.nan, np.float32)
        cfull[frames] = conf
    return full, cfull, frames


def _is_label_index(index) -> bool:
    return bool(index) and all(isinstance(i, str) and i.lower().endswith(IMAGE_SUFFIXES) for i in index)


def _load_one(path: Path, fps, key, engine, split_prefix, prefix_sep, zero_missing) -> Session:
    table = read_dlc_table(path, key=key, engine=engine)
    if table.values.shape[0] == 0:
        raise FormatError(path, None, "the table has no rows")
    kp, conf, keypoints, animals, info = table_to_pose(table, split_prefix, prefix_sep, zero_missing)
    labels = _is_label_index(table.index)
    session = Session(session_id=default_session_id(path), fps=1.0, source_software="DeepLabCut")
    if labels:
        session.attrs["kind"] = "training-labels"
        session.attrs["image_paths"] = [str(i) for i in table.index]
        folders = [str(Path(i).parent) for i in table.index]
        bounds, tnames, start = [], [], 0
        for i in range(1, len(folders) + 1):
            if i == len(folders) or folders[i] != folders[start]:
                bounds.append((start, i))
                tnames.append(folders[start] or ".")
                start = i
        session.trials = np.array(bounds, dtype=np.int64)
        session.trial_names = tnames if len(set(tnames)) == len(tnames) else None
        session.description = f"DeepLabCut training labels ({len(table.index)} labelled images)"
        fps_value, fps_src = (
            resolve_fps(fps, None, path, what="a training-label file") if fps is not None else (1.0, FPS_ASSUMED)
        )
    else:
        kp, conf, frames = _place_rows(table, kp, conf, path)
        if frames is not None:
            session.attrs["frames_with_rows"] = int(len(frames))
        session.attrs["kind"] = "predictions" if conf is not None else "pose"
        session.description = f"DeepLabCut pose ({info['layout']})"
        fps_value, fps_src = resolve_fps(fps, None, path, what="a DeepLabCut table")
    session.fps = fps_value
    session.attrs["fps_source"] = fps_src
    session.attrs.update({k: v for k, v in info.items()})
    session.pose = Pose(keypoints=kp, keypoint_names=keypoints, animal_names=animals, confidence=conf, units="px")
    return session


@register_loader(
    "dlc",
    suffixes=(".h5", ".csv", ".hdf5"),
    sniff=sniff_dlc,
    directories=True,
    priority=40,
    aliases=("deeplabcut", "lightning-pose", "lightningpose"),
    expects="a DeepLabCut table: a CSV whose header rows are scorer, [individuals,] bodyparts, coords, "
    "a pandas HDF5 table with those column levels, or a folder of CollectedData files",
    description="DeepLabCut .h5/.csv (single/multi-animal, predictions or CollectedData labels; "
    "lightning-pose CSVs); a folder joins its CollectedData files; PyTables only for "
    "unusual .h5 layouts",
)
def load_dlc(
    path: Path,
    *,
    fps: float | None = None,
    key: str | None = None,
    engine: str = "auto",
    split_prefix: bool | None = None,
    prefix_sep: str = "_",
    zero_missing: bool = True,
) -> Session:
    """Read a DeepLabCut table (or a folder of label tables) into a Session.

    Parameters
    ----------
    fps
        Frame rate (DLC tables store none; default: the attached video's, else 1).
    key
        The table inside an ``.h5`` file (default: the only one / ``df_with_missing``).
    engine
        ``"auto"`` (h5py, then pandas for unknown layouts), ``"h5py"`` or ``"pandas"``.
    split_prefix
        Split prefixed body parts (``B_Nose``/``W_Nose``) into animals; ``None`` detects it.
    prefix_sep
        Separator between the animal prefix and the body part.
    zero_missing
        Treat entries with x = y = likelihood = 0 as missing.
    """
    opts = dict(
        fps=fps, key=key, engine=engine, split_prefix=split_prefix, prefix_sep=prefix_sep, zero_missing=zero_missing
    )
    if not path.is_dir():
        return _load_one(path, **opts)
    files = _label_files(path)
    if not files:
        raise FormatError(path, None, "no DeepLabCut tables (.h5/.csv) in this folder")
    sessions = [_load_one(p, **opts) for p in files]
    names = [str(p.relative_to(path).with_suffix("")) for p in files]
    joined = concatenate_sessions(sessions, names, session_id=path.name)
    if all(s.attrs.get("kind") == "training-labels" for s in sessions):
        joined.attrs["image_paths"] = [i for s in sessions for i in s.attrs["image_paths"]]
        if len(joined.trial_bounds()) == len(names):
            joined.trial_names = names
    return joined
