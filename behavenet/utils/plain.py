"""Plain Python values from numpy, torch and h5py ones (for JSON files and safe checkpoints)."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

__all__ = ["to_plain"]


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
    if isinstance(obj, (list, tuple)):
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


def _is_tensor(obj: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
    return torch is not None and isinstance(obj, torch.Tensor)
