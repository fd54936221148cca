"""Names of a package imported on first use (PEP 562), so that importing the package stays light
(e.g. ``behavenet.data.format`` and the estimator never pay for importing Lightning)."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps a public name to the module
    (absolute, or relative to ``package`` when it starts with ``.``) that defines it. A resolved
    name is cached in the package's ``namespace`` (its ``globals()``)."""

    def __getattr__(name: str):
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
