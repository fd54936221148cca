"""Plain Python values from numpy, torch and h5py ones (for JSON files and safe checkpoints)."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

__all__ = ["decode_strings", "to_plain", "to_str"]


def to_plain(obj: Any, *, nan_to_none: bool = False) -> Any:
    """``obj`` with every numpy/torch value replaced by the plain Python one.

    Dicts (anything with ``items()``) become dicts with ``str`` keys, lists and tuples become
    lists (both recursively), numpy scalars and 0-d tensors become Python scalars (``.item()``),
    arrays and tensors nested lists (``.tolist()``), and ``str`` subclasses plain ``str``.
    Anything else is returned unchanged. With ``nan_to_none`` non-finite floats become ``None``
    (strict JSON).
    """
    if isinstance(obj, str):
        return str(obj)  # e.g. numpy's str_ or torch's TorchVersion
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {str(k): to_plain(v, nan_to_none=nan_to_none) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) or type(obj).__name__ == "ListConfig":  # OmegaConf lists too
        return [to_plain(v, nan_to_none=nan_to_none) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    elif isinstance(obj, np.ndarray) or _is_tensor(obj):
        if getattr(obj, "ndim", None) == 0:
            obj = obj.item()
        else:
            values = obj.tolist()
            return to_plain(values, nan_to_none=True) if nan_to_none else values
    if nan_to_none and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def to_str(value: Any, errors: str = "strict") -> str:
    """One string from what h5py returns for a string attribute or scalar dataset.

    ``bytes`` (and ``numpy.bytes_``) are decoded as UTF-8 (``errors`` as in :meth:`bytes.decode`;
    importers of foreign files pass ``"replace"``), a 0-d array is unwrapped first, anything else
    goes through ``str()``.
    """
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors)
    return str(value)


def decode_strings(values: Any, errors: str = "strict") -> list[str]:
    """A string attribute or dataset of any shape (or one string) as a flat list of
    :func:`to_str` values; ``None`` gives ``[]``."""
    if values is None:
        return []
    if isinstance(values, (str, bytes)):
        values = [values]
    return [to_str(v, errors) for v in np.asarray(values).ravel()]


def _is_tensor(obj: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
    return torch is not None and isinstance(obj, torch.Tensor)
