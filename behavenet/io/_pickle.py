"""Restricted unpickling for data files that are pickles (MABe ``.npy`` dicts, pandas metadata).

``np.load(path, allow_pickle=True)`` runs whatever the pickle asks for. :class:`SafeUnpickler`
only builds plain containers (dict, list, tuple, set), strings, bytes, numbers, booleans, ``None``
and numpy arrays/dtypes/scalars; any other global (a function, a class, ``os.system``, ...) is
refused with a :class:`FormatError` *before* anything is called, and persistent ids are refused
too. Nothing from the file is executed.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np

from behavenet.errors import FormatError


def _numpy_globals() -> dict[tuple[str, str], object]:
    try:
        from numpy._core import multiarray as _ma  # numpy >= 2
        from numpy._core import numeric as _num
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray as _ma
        from numpy.core import numeric as _num
    allowed = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = _ma._reconstruct
        allowed[(mod, "scalar")] = _ma.scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        if hasattr(_num, "_frombuffer"):
            allowed[(mod, "_frombuffer")] = _num._frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    # dtype classes pickled by numpy >= 1.25 (``numpy.dtypes.Float32DType`` ...)
    import numpy.dtypes as _dtypes

    for name in dir(_dtypes):
        obj = getattr(_dtypes, name)
        if isinstance(obj, type) and issubclass(obj, np.dtype):
            allowed[("numpy.dtypes", name)] = obj
    return allowed


_BUILTINS = {
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
}


class SafeUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that refuses every global outside a small allow-list."""

    _allowed: dict | None = None

    def __init__(self, file, source: str | os.PathLike | None = None, **kwargs):
        super().__init__(file, **kwargs)
        self._source = None if source is None else os.fspath(source)
        if SafeUnpickler._allowed is None:
            SafeUnpickler._allowed = {**_BUILTINS, **_numpy_globals()}

    def find_class(self, module, name):
        obj = self._allowed.get((module, name))
        if obj is None:
            raise FormatError(self._source, "pickle",
                              f"refusing to load '{module}.{name}': only plain containers, strings, "
                              "numbers and numpy arrays are accepted (the file may run code when "
                              "unpickled; nothing was executed)")
        return obj

    def persistent_load(self, pid):
        raise FormatError(self._source, "pickle", "refusing a pickle with persistent ids (not plain data)")


def safe_loads(data: bytes, source=None, **kwargs):
    """Unpickle ``data`` with :class:`SafeUnpickler`."""
    try:
        return SafeUnpickler(io.BytesIO(data), source=source, **kwargs).load()
    except FormatError:
        raise
    except Exception as exc:
        raise FormatError(source, "pickle", f"not a readable pickle (truncated or corrupt?): {exc}") from None


def read_npy_header(f) -> tuple[tuple, np.dtype, bool]:
    """Read the header of an open ``.npy`` file; return ``(shape, dtype, fortran_order)``."""
    from numpy.lib import format as npformat

    version = npformat.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = npformat.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = npformat.read_array_header_2_0(f)
    else:
        shape, fortran, dtype = npformat._read_array_header(f, version)  # 3.0 (utf-8 field names)
    return shape, dtype, fortran


def is_npy_object(path: str | os.PathLike) -> bool:
    """True when ``path`` is an ``.npy`` file holding a pickled object (e.g. a dict)."""
    try:
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":
                return False
            f.seek(0)
            _, dtype, _ = read_npy_header(f)
        return dtype.hasobject
    except Exception:
        return False


def load_npy_object(path: str | os.PathLike):
    """Load an object ``.npy`` file (``np.save`` of a dict, list, ...) without running code.

    Returns the stored object: for the usual 0-d object array, its single item (the dict).
    """
    path = Path(path)
    if not path.exists():
        raise FormatError(path, None, "file not found")
    with open(path, "rb") as f:
        try:
            shape, dtype, _ = read_npy_header(f)
        except Exception as exc:
            raise FormatError(path, None, f"not a .npy file: {exc}") from None
        if not dtype.hasobject:
            raise FormatError(path, None, f"expected a pickled object (np.save of a dict), found a plain {dtype} array of shape {shape}")
        try:
            obj = SafeUnpickler(f, source=path, encoding="latin1").load()
        except FormatError:
            raise
        except Exception as exc:
            raise FormatError(path, None, f"not a readable .npy pickle (truncated or corrupt?): {type(exc).__name__}: {exc}") from None
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
        obj = obj.item()
    return obj


def load_npy_dict(path: str | os.PathLike) -> dict:
    """Load ``np.save(path, some_dict)`` safely and return the dict."""
    obj = load_npy_object(path)
    if not isinstance(obj, dict):
        raise FormatError(path, None, f"expected a dict saved with np.save, found {type(obj).__name__}")
    return obj
