"""Restricted loading of pickled ``.npy`` files (``np.save`` of a dict).

The MABe file formats (pose files, label files, submissions, frame-number maps) are Python dicts
stored with :func:`numpy.save`, i.e. a ``.npy`` header for a 0-d object array followed by a pickle
stream. ``np.load(path, allow_pickle=True)`` would execute whatever that stream asks for. The
loaders here use an unpickler whose ``find_class`` only hands out:

* numpy's array/scalar reconstruction helpers (``_reconstruct``, ``scalar``, ``_frombuffer``),
  ``numpy.ndarray`` and ``numpy.dtype``;
* plain Python containers and literals (``tuple``, ``list``, ``dict``, ``set``, ``str``, ``int``,
  ``float``, ...), ``collections.OrderedDict`` and ``_codecs.encode`` restricted to latin-1
  (used by protocol-2 pickles of ``bytes``).

Anything else (``os.system``, ``builtins.eval``, arbitrary classes with ``__reduce__``) is refused
with a one-line :class:`~behavenet.errors.FormatError` before it can run.

With ``mmap=True`` large array payloads are not read into memory: the stream is parsed with the
pure-Python unpickler, every large ``bytes`` payload is skipped with ``seek`` and the array is
returned as a read-only :class:`numpy.memmap` onto the file. A 3.4 GB MABe submission then loads
in well under a second and costs no memory until its pages are touched.

Example
-------
>>> from behavenet.utils.safe_pickle import load_npy_dict
>>> sub = load_npy_dict("submission.npy", mmap=True)          # doctest: +SKIP
>>> sub["embeddings"].shape                                     # doctest: +SKIP
(6724800, 128)
"""

from __future__ import annotations

import ast
import codecs
import collections
import io
import os
import pickle
import struct
import warnings
from typing import Any, BinaryIO

import numpy as np

from behavenet.errors import FormatError

__all__ = [
    "SafeUnpickler",
    "load_npy_dict",
    "load_npy_object",
    "safe_load",
    "safe_loads",
]

#: Payloads at least this large are memory-mapped instead of read when ``mmap=True``.
DEFAULT_MMAP_THRESHOLD = 1 << 20

# The numpy helpers, obtained through public reduce protocols rather than private imports so the
# same code works on numpy 1.x (``numpy.core``) and 2.x (``numpy._core``).
_NP_RECONSTRUCT = np.empty(0).__reduce__()[0]
_NP_SCALAR = np.float64(0.0).__reduce__()[0]
_NP_FROMBUFFER = np.empty(1).__reduce_ex__(5)[0]


def _latin1_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for ``bytes``: latin-1 text only."""
    if not isinstance(obj, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError("_codecs.encode is only allowed for latin-1 text")
    return obj.encode("latin-1", errors)


_BUILTINS = {
    "tuple": tuple,
    "list": list,
    "dict": dict,
    "set": set,
    "frozenset": frozenset,
    "str": str,
    "bytes": bytes,
    "bytearray": bytearray,
    "int": int,
    "float": float,
    "complex": complex,
    "bool": bool,
    "slice": slice,
    "range": range,
}

_ALLOWED: dict[tuple[str, str], Any] = {("builtins", k): v for k, v in _BUILTINS.items()}
_ALLOWED.update(
    {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): _latin1_encode,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
)
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = _NP_RECONSTRUCT
    _ALLOWED[(_mod, "scalar")] = _NP_SCALAR
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_mod, "_frombuffer")] = _NP_FROMBUFFER
# Python 2 pickles name the builtins module ``__builtin__``
_ALLOWED.update({("__builtin__", k): v for k, v in _BUILTINS.items()})
# dtype classes, as numpy >= 1.25 pickles them (``numpy.dtypes.Float32DType`` ...)
try:
    import numpy.dtypes as _np_dtypes

    for _name in dir(_np_dtypes):
        _obj = getattr(_np_dtypes, _name)
        if isinstance(_obj, type) and issubclass(_obj, np.dtype):
            _ALLOWED[("numpy.dtypes", _name)] = _obj
except ImportError:  # pragma: no cover - numpy < 1.25
    pass


def _refuse(path: str | None, module: str, name: str) -> FormatError:
    return FormatError(
        path,
        "pickle",
        f"refusing to load '{module}.{name}': only numpy arrays, dtypes, scalars and plain "
        "Python containers are allowed in a pickled .npy file (the file may be malicious)",
    )


class _PolicyMixin:
    """The ``find_class`` allow-list shared by the C and the pure-Python unpicklers."""

    _bn_path: str | None = None

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - pickle API
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _refuse(self._bn_path, module, name) from None


class SafeUnpickler(_PolicyMixin, pickle.Unpickler):
    """A :class:`pickle.Unpickler` that only reconstructs numpy arrays and plain containers.

    Parameters
    ----------
    file
        Binary file object positioned at the start of the pickle stream.
    path
        Name used in error messages.
    """

    def __init__(self, file: BinaryIO, path: str | os.PathLike | None = None):
        super().__init__(file, encoding="latin1")
        self._bn_path = None if path is None else os.fspath(path)


# --------------------------------------------------------------------------------------------
# Memory-mapping unpickler
# --------------------------------------------------------------------------------------------


class _LazyBytes:
    """Placeholder for a large bytes payload left on disk at ``offset``."""

    __slots__ = ("offset", "length")

    def __init__(self, offset: int, length: int):
        self.offset = offset
        self.length = length


class _ArrayShell:
    """What ``_reconstruct`` returns in the mmap unpickler; BUILD turns it into an array."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: Any, dtype: Any):
        self.shape = shape
        self.dtype = dtype


class _LazyUnpickler(_PolicyMixin, pickle._Unpickler):  # type: ignore[name-defined]
    """Pure-Python unpickler that memory-maps large ``bytes`` payloads of numpy arrays."""

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, fh: BinaryIO, path: str, threshold: int, file_size: int):
        super().__init__(fh, encoding="latin1")
        self._fh = fh
        self._bn_path = path
        self._threshold = threshold
        self._file_size = file_size

    # -- find_class: swap numpy's reconstruction helpers for lazy-aware versions ----------------
    def find_class(self, module: str, name: str) -> Any:  # noqa: D102
        obj = super().find_class(module, name)
        if obj is _NP_RECONSTRUCT:
            return self._reconstruct
        if obj is _NP_FROMBUFFER:
            return self._frombuffer
        return obj

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> Any:
        if subtype is not np.ndarray:
            raise pickle.UnpicklingError("only numpy.ndarray can be reconstructed")
        return _ArrayShell(shape, dtype)

    def _memmap(self, lazy: _LazyBytes, dtype: Any, shape: Any, order: str) -> np.ndarray:
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in (shape if isinstance(shape, tuple) else (shape,)))
        if dtype.hasobject:
            raise pickle.UnpicklingError("object arrays cannot be stored as raw bytes")
        if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != lazy.length:
            raise pickle.UnpicklingError(
                f"array of shape {shape} and dtype {dtype} does not match its {lazy.length}-byte payload"
            )
        return np.memmap(self._bn_path, dtype=dtype, mode="r", offset=lazy.offset, shape=shape, order=order)

    def _frombuffer(self, buf: Any, dtype: Any, shape: Any, order: str) -> Any:
        if isinstance(buf, _LazyBytes):
            return self._memmap(buf, dtype, shape, order)
        return _NP_FROMBUFFER(buf, dtype, shape, order)

    # -- large payloads: seek past instead of reading ----------------------------------------
    def _payload(self, n: int, wrap: type) -> Any:
        frame = getattr(getattr(self, "_unframer", None), "current_frame", None)
        if n >= self._threshold and frame is None:
            offset = self._fh.tell()
            if offset + n > self._file_size:
                raise pickle.UnpicklingError("file is truncated (array payload runs past its end)")
            self._fh.seek(n, io.SEEK_CUR)
            return _LazyBytes(offset, n)
        data = self.read(n)
        if len(data) != n:
            raise pickle.UnpicklingError("file is truncated")
        return wrap(data)

    def _load_binbytes(self) -> None:
        (n,) = struct.unpack("<I", self.read(4))
        self.append(self._payload(n, bytes))

    def _load_binbytes8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        self.append(self._payload(n, bytes))

    def _load_bytearray8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        self.append(self._payload(n, bytearray))

    def _load_build(self) -> None:
        inst = self.stack[-2]  # stack: [..., instance, state]
        if not isinstance(inst, _ArrayShell):
            return pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
        state = self.stack.pop()
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("malformed ndarray state")
        shape, dtype, is_fortran, raw = state[-4:]
        if isinstance(raw, _LazyBytes):
            arr: Any = self._memmap(raw, dtype, shape, "F" if is_fortran else "C")
        else:
            arr = _NP_RECONSTRUCT(np.ndarray, inst.shape, inst.dtype)
            arr.__setstate__(state)
        self.stack[-1] = arr
        for key, value in list(self.memo.items()):  # later BINGETs must see the array too
            if value is inst:
                self.memo[key] = arr

    dispatch[pickle.BINBYTES[0]] = _load_binbytes
    dispatch[pickle.BINBYTES8[0]] = _load_binbytes8
    dispatch[pickle.BYTEARRAY8[0]] = _load_bytearray8
    dispatch[pickle.BUILD[0]] = _load_build


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def safe_loads(data: bytes, path: str | None = None) -> Any:
    """Unpickle ``data`` with the allow-list of :class:`SafeUnpickler`."""
    return safe_load(io.BytesIO(data), path)


def safe_load(fh: BinaryIO, path: str | os.PathLike | None = None) -> Any:
    """Unpickle one object from ``fh`` with the allow-list of :class:`SafeUnpickler`.

    Raises
    ------
    FormatError
        If the stream refers to anything outside the allow-list or is not a valid pickle.
    """
    name = None if path is None else os.fspath(path)
    try:
        return SafeUnpickler(fh, name).load()
    except FormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a format problem
        raise FormatError(name, "pickle", f"not a valid pickle stream ({exc})") from None


#: Largest ``.npy`` header accepted (characters); numpy's own safe default.
_MAX_NPY_HEADER = 10000


def _read_npy_header_3_0(fh: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Read a version 3.0 ``.npy`` header (as version 2.0 but utf-8; numpy has no public reader).

    The header is a Python dict literal; it is parsed with :func:`ast.literal_eval` (literals
    only, never code) and checked like numpy checks the 1.0/2.0 headers.
    """
    raw = fh.read(4)
    if len(raw) != 4:
        raise ValueError("file ends inside the array header length")
    (length,) = struct.unpack("<I", raw)
    if length > 4 * _MAX_NPY_HEADER:
        raise ValueError(f"header length {length} exceeds the safe limit")
    data = fh.read(length)
    if len(data) != length:
        raise ValueError("file ends inside the array header")
    header = data.decode("utf-8")
    if len(header) > _MAX_NPY_HEADER:
        raise ValueError(f"header length {len(header)} exceeds the safe limit of {_MAX_NPY_HEADER}")
    try:
        d = ast.literal_eval(header)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise ValueError(f"cannot parse the header dict ({type(exc).__name__})") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise ValueError("header is not a dict with keys 'descr', 'fortran_order', 'shape'")
    shape = d["shape"]
    if not isinstance(shape, tuple) or not all(
        isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in shape
    ):
        raise ValueError(f"shape is not a tuple of non-negative ints: {shape!r}")
    if not isinstance(d["fortran_order"], bool):
        raise ValueError(f"fortran_order is not a bool: {d['fortran_order']!r}")
    try:
        dtype = np.lib.format.descr_to_dtype(d["descr"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"descr is not a valid dtype descriptor: {d['descr']!r}") from exc
    return shape, d["fortran_order"], dtype


def _read_npy_header(fh: BinaryIO, path: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Read the magic string and the header with public numpy API (plus our 3.0 reader)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
    except Exception as exc:  # noqa: BLE001
        raise FormatError(path, "header", f"not a .npy file ({exc})") from None
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise FormatError(
            path, "header", f"unsupported .npy format version {version[0]}.{version[1]} (expected 1.0, 2.0 or 3.0)"
        )
    try:
        # a damaged header is parsed as a Python literal: keep its escape-sequence warnings quiet
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", SyntaxWarning)
            if version == (1, 0):
                return fmt.read_array_header_1_0(fh)
            if version == (2, 0):
                return fmt.read_array_header_2_0(fh)
            return _read_npy_header_3_0(fh)  # utf-8 header
    except Exception as exc:  # noqa: BLE001
        raise FormatError(path, "header", f"not a valid .npy {version[0]}.{version[1]} header ({exc})") from None


def load_npy_object(
    path: str | os.PathLike,
    *,
    mmap: bool = False,
    mmap_threshold: int = DEFAULT_MMAP_THRESHOLD,
) -> Any:
    """Load a ``.npy`` file safely and return the stored object.

    For a pickled 0-d object array (what ``np.save(path, some_dict)`` writes) the contained
    object is returned, like ``np.load(path, allow_pickle=True).item()``. A plain numeric
    ``.npy`` array is returned as an array (memory-mapped when ``mmap``).

    Parameters
    ----------
    path
        The ``.npy`` file.
    mmap
        Memory-map array payloads of at least ``mmap_threshold`` bytes instead of reading them.
        The arrays are read-only :class:`numpy.memmap` objects onto ``path``.
    mmap_threshold
        Size (bytes) from which payloads are memory-mapped.

    Raises
    ------
    FormatError
        If the file is not a ``.npy`` file, is truncated, or its pickle refers to anything but
        numpy arrays and plain Python containers.
    """
    name = os.fspath(path)
    try:
        fh = open(name, "rb")
    except OSError as exc:
        raise FormatError(name, None, f"cannot open ({exc.strerror or exc})") from None
    with fh:
        shape, fortran, dtype = _read_npy_header(fh, name)
        if not dtype.hasobject:
            count = int(np.prod(shape, dtype=np.int64))
            if mmap:
                return np.load(name, mmap_mode="r")
            arr = np.fromfile(fh, dtype=dtype, count=count)
            if arr.size != count:
                raise FormatError(name, "data", "file is truncated")
            return arr.reshape(shape, order="F" if fortran else "C")
        try:
            if mmap:
                size = os.fstat(fh.fileno()).st_size
                obj = _LazyUnpickler(fh, name, mmap_threshold, size).load()
            else:
                obj = SafeUnpickler(fh, name).load()
        except FormatError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise FormatError(name, "pickle", f"not a valid pickled .npy file ({exc})") from None
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
        return obj.item()
    return obj


def load_npy_dict(
    path: str | os.PathLike,
    *,
    mmap: bool = False,
    mmap_threshold: int = DEFAULT_MMAP_THRESHOLD,
) -> dict:
    """Load a ``.npy`` file written by ``np.save(path, a_dict)`` without running arbitrary code.

    Equivalent to ``np.load(path, allow_pickle=True).item()`` for legitimate files, but refuses
    pickles that refer to anything other than numpy arrays and plain containers. See
    :func:`load_npy_object` for the parameters.

    Raises
    ------
    FormatError
        As :func:`load_npy_object`, and if the stored object is not a dict.
    """
    obj = load_npy_object(path, mmap=mmap, mmap_threshold=mmap_threshold)
    if not isinstance(obj, dict):
        raise FormatError(os.fspath(path), None, f"expected a pickled dict, found {type(obj).__name__}")
    return obj
