"""The importers' names for the shared restricted unpickler in :mod:`behavenet.utils.safe_pickle`.

Data files that are pickles (MABe ``.npy`` dicts, suite2p ``ops.npy``, the pandas metadata in
DeepLabCut ``.h5`` tables) are read with an allow-list of plain containers, strings, numbers and
numpy arrays/dtypes/scalars. Any other global is refused with a one-line :class:`FormatError`
before anything from the file runs.
"""

from __future__ import annotations

import os

import numpy as np

from behavenet.utils.safe_pickle import SafeUnpickler, _read_npy_header, load_npy_dict, load_npy_object
from behavenet.utils.safe_pickle import safe_loads as _safe_loads

__all__ = ["SafeUnpickler", "is_npy_object", "load_npy_dict", "load_npy_object", "read_npy_header", "safe_loads"]


def safe_loads(data: bytes, source=None):
    """Unpickle ``data`` with the allow-list; ``source`` names the file in errors."""
    return _safe_loads(data, None if source is None else os.fspath(source))


def read_npy_header(f) -> tuple[tuple, np.dtype, bool]:
    """Read the header of an open ``.npy`` file; return ``(shape, dtype, fortran_order)``."""
    shape, fortran, dtype = _read_npy_header(f, getattr(f, "name", "<npy>"))
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
    except Exception:  # noqa: BLE001 - not an object .npy
        return False
