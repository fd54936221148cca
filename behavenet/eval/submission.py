"""MABe22 round-1 submission files: writer and validator.

A submission is ``np.save`` of the dict ``{'frame_number_map': {clip_id: (start, end)},
'embeddings': float32 (N, D)}`` with ``D <= 128`` (mice) or ``D <= 256`` (flies), the official
frame-number map copied verbatim (values are ``(start, end)`` tuples, end exclusive) and the rows
of clip ``k`` at ``embeddings[start:end]``.

:func:`write_submission` streams the file: it writes the ``.npy`` header and the pickle opcodes
itself and copies each clip's rows straight into the file, so a 3.4 GB mouse submission is never
held in memory (not even once), and it writes to a temporary file in the destination directory
that replaces the destination only when complete. The result loads with
``np.load(path, allow_pickle=True).item()`` on numpy 1.x and 2.x, exactly like the files written
by the BAMS / hBehaveMAE scripts.

:func:`validate_submission` performs the official evaluator's checks (plus clearer messages) on a
memory-mapped view of the file, checking finiteness chunk by chunk.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from importlib import resources
from typing import Any, BinaryIO

import numpy as np

from behavenet.errors import ConfigError, FormatError
from behavenet.utils.files import atomic_path, temp_path

__all__ = [
    "SPECIES_WIDTH",
    "CLIP_LENGTH",
    "write_submission",
    "validate_submission",
    "check_submission_object",
    "load_frame_map",
    "official_frame_map",
    "check_output_path",
]

SPECIES_WIDTH = {"mouse": 128, "fly": 256}
CLIP_LENGTH = {"mouse": 1800, "fly": 4500}

FrameMap = Mapping[str, tuple[int, int]]
EmbeddingSource = Callable[[str], np.ndarray] | Mapping[str, np.ndarray]

_FLY_MAP_MESSAGE = (
    "no fly frame map is bundled: the official flies_frame_number_map.npy is published without "
    "a licence, so behavenet cannot redistribute it; pass the official file with --frame-map "
    "(flies_frame_number_map.npy from the MABe22 evaluator metadata)"
)


def check_output_path(path: str | os.PathLike, field: str | None = None) -> str:
    """Check that a file can be written at ``path`` before any work is done; returns the path.

    The path must not be a directory and its parent directory must exist and accept a new file
    (tested by creating and removing an empty temporary file there, which also catches read-only
    file systems). ``field`` names the option in the error (e.g. ``"--json"``).

    Raises
    ------
    FormatError
        One line naming the path, ``field`` and what is wrong.
    """
    name = os.fspath(path)
    if not name:
        raise FormatError(None, field, "expected an output file path, got an empty string")
    if os.path.isdir(name):
        raise FormatError(name, field, "is a directory; expected the path of an output file")
    directory = os.path.dirname(os.path.abspath(name))
    if not os.path.exists(directory):
        raise FormatError(name, field, f"directory {directory} does not exist; create it first")
    if not os.path.isdir(directory):
        raise FormatError(name, field, f"{directory} is not a directory")
    try:
        with temp_path(directory, suffix=".probe"):
            pass
    except OSError as exc:
        raise FormatError(name, field, f"directory {directory} is not writable ({exc.strerror or exc})") from None
    return name


# ----------------------------------------------------------------------------------------------
# Frame maps
# ----------------------------------------------------------------------------------------------


def _as_map(raw: Any, path: str | None) -> dict[str, tuple[int, int]]:
    if isinstance(raw, dict) and "frame_number_map" in raw and isinstance(raw["frame_number_map"], dict):
        raw = raw["frame_number_map"]
    if not isinstance(raw, Mapping):
        raise FormatError(path, "frame_number_map", f"expected a dict, found {type(raw).__name__}")
    out: dict[str, tuple[int, int]] = {}
    for k, v in raw.items():
        try:
            s, e = v
            out[str(k)] = (int(s), int(e))
        except (TypeError, ValueError):
            raise FormatError(path, f"frame_number_map[{k!r}]", "expected (start, end)") from None
    return out


def load_frame_map(path: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """Load a frame-number map from the official pickled ``.npy`` (safely) or from JSON.

    JSON may be ``{clip: [start, end]}`` or behavenet's bundled layout
    ``{"frame_number_map": {clip: [start, end]}, ...}``. Values are returned as tuples.
    """
    name = os.fspath(path)
    if name.endswith(".json"):
        try:
            with open(name, encoding="utf-8") as fh:
                raw = json.load(fh)
        except OSError as exc:
            raise FormatError(name, None, f"cannot read ({exc.strerror or exc})") from None
        except json.JSONDecodeError as exc:
            raise FormatError(name, None, f"not valid JSON ({exc})") from None
    else:
        from behavenet.utils.safe_pickle import load_npy_object

        raw = load_npy_object(name)
    return _as_map(raw, name)


def official_frame_map(species: str) -> dict[str, tuple[int, int]]:
    """The official frame-number map bundled with behavenet (mouse triplets only).

    Raises
    ------
    ConfigError
        For ``"fly"``: that map has no licence upstream and is not bundled.
    """
    if species == "fly":
        raise ConfigError("frame_map", _FLY_MAP_MESSAGE)
    if species != "mouse":
        raise ConfigError("species", f"expected 'mouse' or 'fly', got {species!r}")
    ref = resources.files("behavenet") / "resources" / "mabe22" / "mouse_frame_number_map.json"
    raw = json.loads(ref.read_text(encoding="utf-8"))
    return _as_map(raw, "behavenet/resources/mabe22/mouse_frame_number_map.json")


def _resolve_map(frame_map: FrameMap | str | os.PathLike | None, species: str) -> dict:
    if frame_map is None:
        return official_frame_map(species)
    if isinstance(frame_map, (str, os.PathLike)):
        return load_frame_map(frame_map)
    return _as_map(frame_map, None)


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


def _check_width(species: str | None, width: int, path: str | None) -> None:
    if species is None:
        return
    if species not in SPECIES_WIDTH:
        raise ConfigError("species", f"expected 'mouse' or 'fly', got {species!r}")
    limit = SPECIES_WIDTH[species]
    if width > limit:
        raise FormatError(path, "embeddings", f"width {width} exceeds the {species} limit of {limit} dimensions")


def check_submission_object(
    obj: Any,
    *,
    species: str | None,
    frame_map: FrameMap,
    path: str | None = None,
    clip_lengths: Mapping[str, int] | None = None,
    check_finite: bool = True,
    chunk_rows: int = 1 << 18,
) -> None:
    """Check a loaded submission dict; raise :class:`FormatError` with a one-line reason.

    The checks (in order): a dict; ``frame_number_map`` present and a dict; every clip of the
    official map present, as a ``(start, end)`` tuple, spanning the clip's length and at the
    official position; ``embeddings`` present, a 2-D numpy array, at most 128 (mouse) / 256 (fly)
    wide, of dtype float32; as many rows as the clips have frames; all values finite (checked
    in chunks of ``chunk_rows`` rows, so at most one chunk is copied).
    """
    if not isinstance(obj, dict):
        raise FormatError(
            path, None, f"expected a dict with 'frame_number_map' and 'embeddings', found {type(obj).__name__}"
        )
    for key in ("frame_number_map", "embeddings"):
        if key not in obj:
            raise FormatError(path, key, "missing key (a submission needs 'frame_number_map' and 'embeddings')")
    sub_map = obj["frame_number_map"]
    if not isinstance(sub_map, dict):
        raise FormatError(path, "frame_number_map", f"expected a dict, found {type(sub_map).__name__}")
    total = 0
    for clip, (start, end) in frame_map.items():
        if clip not in sub_map:
            raise FormatError(path, "frame_number_map", f"sequence {clip!r} of the official map is missing")
        value = sub_map[clip]
        if not isinstance(value, tuple):
            raise FormatError(
                path,
                f"frame_number_map[{clip!r}]",
                f"is a {type(value).__name__}; the official evaluator compares (start, end) tuples",
            )
        try:
            s, e = (int(v) for v in value)
        except (TypeError, ValueError):
            raise FormatError(path, f"frame_number_map[{clip!r}]", "expected (start, end)") from None
        length = int(clip_lengths[clip]) if clip_lengths is not None else end - start
        if e - s != length:
            raise FormatError(
                path,
                f"frame_number_map[{clip!r}]",
                f"({s}, {e}) spans {e - s} frames but the clip has {length}",
            )
        if (s, e) != (start, end) or value != (start, end):
            raise FormatError(
                path,
                f"frame_number_map[{clip!r}]",
                f"is ({s}, {e}) but the official map has ({start}, {end}) (shifted sequence)",
            )
        total += length
    emb = obj["embeddings"]
    if not isinstance(emb, np.ndarray):
        raise FormatError(path, "embeddings", f"expected a numpy array, found {type(emb).__name__}")
    if emb.ndim != 2:
        raise FormatError(path, "embeddings", f"expected a 2-D array, found {emb.ndim}-D shape {emb.shape}")
    _check_width(species, int(emb.shape[1]), path)
    if emb.dtype.type is not np.float32:
        raise FormatError(path, "embeddings", f"dtype must be float32, found {emb.dtype}")
    if emb.shape[0] != total:
        raise FormatError(path, "embeddings", f"has {emb.shape[0]} rows but the frame map covers {total} frames")
    if check_finite:
        _check_finite(emb, frame_map, path, chunk_rows)


def _check_finite(emb: np.ndarray, frame_map: FrameMap, path: str | None, chunk_rows: int) -> None:
    for a in range(0, emb.shape[0], chunk_rows):
        block = np.asarray(emb[a : a + chunk_rows])
        ok = np.isfinite(block)
        if ok.all():
            continue
        bad = np.argwhere(~ok)[0]
        row, col = a + int(bad[0]), int(bad[1])
        value = block[bad[0], bad[1]]
        what = "NaN" if np.isnan(value) else "infinite"
        where = ""
        for clip, (s, e) in frame_map.items():
            if s <= row < e:
                where = f" (sequence {clip!r}, frame {row - s})"
                break
        raise FormatError(
            path, "embeddings", f"value at row {row}{where}, column {col} is {what}; all values must be finite"
        )


def validate_submission(
    path: str | os.PathLike,
    species: str,
    frame_map: FrameMap | str | os.PathLike | None = None,
    *,
    clip_lengths: Mapping[str, int] | None = None,
) -> None:
    """Validate a submission file as the official evaluator would, with one-line reasons.

    Parameters
    ----------
    path
        The submission ``.npy``.
    species
        ``"mouse"`` (width <= 128) or ``"fly"`` (width <= 256).
    frame_map
        The official map: a dict, or a path to the official ``.npy`` / a JSON copy. Default: the
        bundled mouse map; flies have none bundled (see :func:`official_frame_map`).
    clip_lengths
        Optional ``{clip: n_frames}`` (the official ``clip_lengths_*.json``); default: the
        lengths implied by the map.

    Raises
    ------
    FormatError
        With the first problem found. The file is memory-mapped and checked in chunks, so
        validation needs no more than one copy of the array (in practice: none).
    """
    from behavenet.utils.safe_pickle import load_npy_object

    name = os.fspath(path)
    if species not in SPECIES_WIDTH:
        raise ConfigError("species", f"expected 'mouse' or 'fly', got {species!r}")
    fmap = _resolve_map(frame_map, species)
    obj = load_npy_object(name, mmap=True)
    check_submission_object(obj, species=species, frame_map=fmap, path=name, clip_lengths=clip_lengths)


# ----------------------------------------------------------------------------------------------
# Streaming pickle writer
# ----------------------------------------------------------------------------------------------

_RECONSTRUCT = b"cnumpy.core.multiarray\n_reconstruct\n"  # loadable by numpy 1.x and 2.x
_NDARRAY_SHELL = _RECONSTRUCT + b"cnumpy\nndarray\nK\x00\x85C\x01b\x87R"
_MARK, _TUPLE, _BUILD, _STOP, _POP_MARK = b"(", b"t", b"b", b".", b"1"


def _p_int(i: int) -> bytes:
    if 0 <= i < 256:
        return b"K" + bytes([i])
    if 0 <= i < 65536:
        return b"M" + struct.pack("<H", i)
    if -(2**31) <= i < 2**31:
        return b"J" + struct.pack("<i", i)
    data = i.to_bytes((i.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def _p_str(s: str) -> bytes:
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def _p_obj(o: Any) -> bytes:
    if o is None:
        return b"N"
    if o is True:
        return b"\x88"
    if o is False:
        return b"\x89"
    if isinstance(o, int):
        return _p_int(int(o))
    if isinstance(o, str):
        return _p_str(o)
    if isinstance(o, bytes):
        return (b"C" + bytes([len(o)]) if len(o) < 256 else b"B" + struct.pack("<I", len(o))) + o
    if isinstance(o, tuple):
        body = b"".join(_p_obj(v) for v in o)
        if len(o) == 0:
            return b")"
        if len(o) <= 3:
            return body + {1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(o)]
        return _MARK + body + _TUPLE
    if isinstance(o, np.dtype):
        _func, args, state = o.__reduce__()
        return b"cnumpy\ndtype\n" + _p_obj(args) + b"R" + _p_obj(state) + _BUILD
    raise TypeError(f"cannot serialise {type(o).__name__}")


def _npy_object_header() -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
    return buf.getvalue()


def _submission_stream_parts(
    fmap_items: list[tuple[str, tuple[int, int]]], n_rows: int, width: int
) -> tuple[bytes, bytes, int]:
    """Bytes before the embedding payload, bytes after it, payload size.

    The payload starts on a 64-byte boundary of the file (a MARK / padding string / POP_MARK
    no-op is inserted before it), so memory maps of the embedding matrix are aligned.
    """
    nbytes = n_rows * width * 4
    big = nbytes >= 2**32
    head = _npy_object_header()
    body = bytearray(b"\x80" + bytes([4 if big else 3]))
    body += _NDARRAY_SHELL  # the outer 0-d object array
    body += _MARK + _p_int(1) + b")" + _p_obj(np.dtype("O")) + b"\x89" + b"]"
    body += b"}" + _MARK + _p_str("frame_number_map") + b"}"
    for start in range(0, len(fmap_items), 1000):
        body += _MARK
        for clip, (s, e) in fmap_items[start : start + 1000]:
            body += _p_str(clip) + _p_int(int(s)) + _p_int(int(e)) + b"\x86"
        body += b"u"
    body += _p_str("embeddings") + _NDARRAY_SHELL
    body += _MARK + _p_int(1) + _p_obj((n_rows, width)) + _p_obj(np.dtype("<f4")) + b"\x89"
    op = b"\x8e" + struct.pack("<Q", nbytes) if big else b"B" + struct.pack("<I", nbytes)
    pad = (-(len(head) + len(body) + 7 + len(op))) % 64
    body += _MARK + b"X" + struct.pack("<I", pad) + b" " * pad + _POP_MARK
    body += op
    tail = _TUPLE + _BUILD + b"u" + b"a" + _TUPLE + _BUILD + _STOP
    return head + bytes(body), tail, nbytes


class _RowSink:
    """Writes float32 rows to the payload and checks that exactly ``nbytes`` arrive."""

    def __init__(self, fh: BinaryIO, nbytes: int):
        self.fh = fh
        self.left = nbytes

    def write(self, rows: np.ndarray) -> None:
        data = np.ascontiguousarray(rows, dtype="<f4")
        if data.nbytes > self.left:
            raise RuntimeError("more embedding rows than the frame map covers")
        self.fh.write(memoryview(data).cast("B"))
        self.left -= data.nbytes


def _ordered_clips(frame_map: FrameMap, path: str) -> tuple[list[tuple[str, tuple[int, int]]], int]:
    items = [(str(k), (int(v[0]), int(v[1]))) for k, v in frame_map.items()]
    pos = 0
    for clip, (s, e) in sorted(items, key=lambda kv: kv[1][0]):
        if e <= s:
            raise FormatError(path, f"frame_number_map[{clip!r}]", f"empty span ({s}, {e})")
        if s != pos:
            kind = "gap" if s > pos else "overlap"
            raise FormatError(path, "frame_number_map", f"{kind} before {clip!r} at frame {pos}: clips must tile 0..N")
        pos = e
    return items, pos


class _Transform:
    """Streaming z-scoring and/or PCA: statistics in pass 1, applied in pass 2."""

    def __init__(self, width: int, zscore: bool, pca_dim: int | None):
        self.zscore, self.pca_dim = zscore, pca_dim
        self.n = 0
        self.shift: np.ndarray | None = None
        self.s1 = np.zeros(width)
        self.s2 = np.zeros((width, width)) if pca_dim else np.zeros(width)
        self.mean = self.scale = self.components = None

    def update(self, x: np.ndarray) -> None:
        a = np.asarray(x, dtype=np.float64)
        if self.shift is None:
            self.shift = a.mean(axis=0)
        a = a - self.shift
        self.n += a.shape[0]
        self.s1 += a.sum(axis=0)
        self.s2 += np.dot(a.T, a) if self.pca_dim else np.einsum("ij,ij->j", a, a)

    def finish(self) -> None:
        mu = self.s1 / self.n
        self.mean = self.shift + mu
        if self.pca_dim:
            cov = self.s2 / self.n - np.outer(mu, mu)
            evals, evecs = np.linalg.eigh(cov)
            order = np.argsort(evals)[::-1][: self.pca_dim]
            comp = evecs[:, order]
            # deterministic signs: the largest-magnitude loading of each component is positive
            flip = np.sign(comp[np.argmax(np.abs(comp), axis=0), np.arange(comp.shape[1])])
            self.components = comp * np.where(flip == 0, 1.0, flip)
            var = np.maximum(evals[order], 0.0)
        else:
            var = np.maximum(self.s2 / self.n - mu**2, 0.0)
        std = np.sqrt(var)
        self.scale = 1.0 / np.where(std > 0, std, 1.0) if self.zscore else None

    def apply(self, x: np.ndarray) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64) - self.mean
        if self.components is not None:
            a = a @ self.components
        if self.scale is not None:
            a *= self.scale
        return a


def write_submission(
    out_path: str | os.PathLike,
    frame_number_map: FrameMap,
    get_embedding: EmbeddingSource,
    dim: int | None = None,
    zscore: bool = False,
    pca_dim: int | None = None,
    species: str | None = "mouse",
    *,
    cache: str = "disk",
) -> str:
    """Write a MABe22 round-1 submission file, streaming and atomically.

    Parameters
    ----------
    out_path
        Destination ``.npy``. It is written to a temporary file in the same directory and moved
        into place with :func:`os.replace` only when complete; on any error no file is left.
    frame_number_map
        The official ``{clip_id: (start, end)}`` map. Rows of clip ``k`` go to
        ``[start, end)`` whatever the iteration order of ``get_embedding``; the map is written
        verbatim (as tuples). The spans must tile ``0..N``.
    get_embedding
        ``clip_id -> (end - start, width)`` array, or a mapping with those arrays.
    dim
        Expected width of those arrays (checked); default: the first clip's.
    zscore
        Standardise every output dimension to zero mean and unit variance over all frames
        (the probe is unscaled ridge, so scale matters; BAMS z-scores its embeddings).
    pca_dim
        Project onto the top ``pca_dim`` principal components (exact PCA from a streamed
        float64 covariance; component signs fixed so the largest loading is positive). Required
        when the width exceeds the species limit. With ``zscore`` the components are then
        standardised (whitened).
    species
        ``"mouse"`` (limit 128), ``"fly"`` (limit 256) or ``None`` (no limit).
    cache
        With ``zscore``/``pca_dim`` the data are needed twice. ``"disk"`` (default) spills the
        raw float32 embeddings to a temporary file next to ``out_path`` in the first pass
        (``get_embedding`` is called once per clip); ``"recompute"`` calls ``get_embedding``
        again in the second pass instead.

    Returns
    -------
    str
        ``out_path``.

    Raises
    ------
    FormatError
        If an embedding has the wrong shape or non-finite values, or the map does not tile.
    ConfigError
        If the width exceeds the species limit without ``pca_dim``, or arguments conflict.
    """
    name = check_output_path(out_path, "out_path")
    if cache not in ("disk", "recompute"):
        raise ConfigError("cache", f"expected 'disk' or 'recompute', got {cache!r}")
    if species is not None and species not in SPECIES_WIDTH:
        raise ConfigError("species", f"expected 'mouse', 'fly' or None, got {species!r}")
    getter: Callable[[str], np.ndarray]
    if isinstance(get_embedding, Mapping):
        source = get_embedding

        def getter(clip: str) -> np.ndarray:
            try:
                return source[clip]
            except KeyError:
                raise FormatError(name, f"embeddings[{clip!r}]", "no embedding for this sequence") from None

    else:
        getter = get_embedding
    items, n_rows = _ordered_clips(frame_number_map, name)
    by_start = sorted(items, key=lambda kv: kv[1][0])

    def fetch(clip: str, s: int, e: int) -> np.ndarray:
        x = np.asarray(getter(clip))
        if x.ndim != 2 or x.shape[0] != e - s or (width_in is not None and x.shape[1] != width_in):
            want = f"({e - s}, {width_in if width_in is not None else 'D'})"
            raise FormatError(name, f"embeddings[{clip!r}]", f"expected shape {want}, found {x.shape}")
        if x.dtype.kind not in "fiu":
            raise FormatError(name, f"embeddings[{clip!r}]", f"expected a numeric array, found {x.dtype}")
        if not np.isfinite(x).all():
            raise FormatError(name, f"embeddings[{clip!r}]", "contains NaN or infinite values")
        return x

    width_in = dim
    first = fetch(by_start[0][0], *by_start[0][1])
    width_in = int(first.shape[1])
    if pca_dim is not None and not 0 < pca_dim <= width_in:
        raise ConfigError("pca_dim", f"must be in 1..{width_in} (the embedding width), got {pca_dim}")
    width_out = pca_dim or width_in
    if species is not None and width_out > SPECIES_WIDTH[species]:
        raise ConfigError(
            "pca_dim",
            f"embedding width {width_out} exceeds the {species} limit of {SPECIES_WIDTH[species]}; "
            f"pass pca_dim<={SPECIES_WIDTH[species]}",
        )
    directory = os.path.dirname(os.path.abspath(name))
    spills = (zscore or pca_dim) and cache == "disk"  # raw rows kept on disk for the second pass
    with temp_path(directory, suffix=".raw") if spills else nullcontext() as raw_path, atomic_path(name) as tmp:
        transform = None
        if zscore or pca_dim:
            transform = _Transform(width_in, zscore, pca_dim)
            with open(raw_path, "wb") if raw_path is not None else nullcontext() as spill:
                for i, (clip, (s, e)) in enumerate(by_start):
                    x = first if i == 0 else fetch(clip, s, e)
                    transform.update(x)
                    if spill is not None:
                        spill.write(memoryview(np.ascontiguousarray(x, dtype="<f4")).cast("B"))
            first = None
            transform.finish()
        head, tail, nbytes = _submission_stream_parts(items, n_rows, width_out)
        with open(tmp, "wb") as out:
            out.write(head)
            sink = _RowSink(out, nbytes)
            raw = np.memmap(raw_path, dtype="<f4", mode="r", shape=(n_rows, width_in)) if raw_path else None
            for i, (clip, (s, e)) in enumerate(by_start):
                if raw is not None:
                    x: np.ndarray = raw[s:e]
                elif i == 0 and first is not None:
                    x = first
                else:
                    x = fetch(clip, s, e)
                sink.write(transform.apply(x) if transform is not None else x)
            del raw
            if sink.left != 0:
                raise RuntimeError("the embedding rows do not fill the frame map")
            out.write(tail)
            out.flush()
            os.fsync(out.fileno())
    return name


def iter_clip_rows(frame_map: FrameMap) -> Iterable[tuple[str, int, int]]:
    """Clips of ``frame_map`` as ``(clip, start, end)`` in row order."""
    for clip, (s, e) in sorted(frame_map.items(), key=lambda kv: kv[1][0]):
        yield clip, int(s), int(e)
