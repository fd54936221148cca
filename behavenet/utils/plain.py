"""Plain Python values (dict, list, str, int, float, bool, None) from numpy, torch and OmegaConf
objects: what JSON, YAML and ``torch.load(weights_only=True)`` accept."""

from __future__ import annotations

from typing import Any

__all__ = ["to_plain"]


def to_plain(obj: Any) -> Any:
    """``obj`` with containers turned into dicts/lists (recursively), numpy/torch scalars and
    0-d arrays into Python numbers, arrays into nested lists and ``str`` subclasses (e.g. torch's
    ``TorchVersion``) into ``str``. Other objects are returned unchanged."""
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, dict) or (hasattr(obj, "items") and hasattr(obj, "keys")):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, (list, tuple)) or type(obj).__name__ == "ListConfig":
        return [to_plain(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy arrays/scalars, torch tensors
        return obj.tolist()
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    return obj
