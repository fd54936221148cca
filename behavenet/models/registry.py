"""The one registry of model families.

A family is a package under ``behavenet/models/`` whose ``__init__.py`` declares
``FAMILY = Family(...)`` (or ``FAMILIES = (Family(...), ...)`` for a package holding several
small ones). Nothing else registers it: the registry finds every such package, so adding a family
touches its own folder and its ``conf/model/<name>.yaml`` and nothing else. Everything that builds
a model goes through here: ``train.py`` (the ``family:`` key of ``conf/model/*.yaml``), checkpoint
loading, the estimators and the contract test. The ``Family`` record holds dotted paths, so
listing families imports neither torch nor Lightning.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any

from behavenet.errors import ConfigError

__all__ = ["Family", "get_family", "list_families", "build_core"]


@dataclass(frozen=True)
class Family:
    """What the registry knows about one model family.

    Parameters
    ----------
    name
        The family's name: ``family:`` in ``conf/model/*.yaml``, stored in checkpoints.
    config, core
        ``"module:Class"`` of its :class:`~behavenet.models.config.FamilyConfig` dataclass and of
        its :class:`~behavenet.models.base.Core`.
    estimator
        ``"module:Class"`` of its scikit-learn style estimator (a
        :class:`~behavenet.models.estimator.FamilyEstimator`), or ``None``.
    description
        One line for listings.
    aliases
        Other names accepted for ``name``.
    smoke_overrides
        Hydra overrides (besides ``model=<config>``) that make a tiny ``train.py`` run of this
        family on the bundled demo recording, e.g. ``("data.inputs=[spikes,behavior]",)``; used by
        the contract test.
    config_name
        The ``conf/model/<config_name>.yaml`` holding this family's defaults (default: ``name``).
    """

    name: str
    config: str
    core: str
    estimator: str | None = None
    description: str = ""
    aliases: tuple[str, ...] = ()
    smoke_overrides: tuple[str, ...] = ()
    config_name: str | None = None
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def config_class(self) -> type:
        return self._load("config")

    @property
    def core_class(self) -> type:
        return self._load("core")

    @property
    def estimator_class(self) -> type | None:
        return self._load("estimator") if self.estimator else None

    @property
    def yaml_name(self) -> str:
        return self.config_name or self.name

    def _load(self, what: str):
        if what not in self._cache:
            module, _, attr = getattr(self, what).partition(":")
            self._cache[what] = getattr(importlib.import_module(module), attr)
        return self._cache[what]


_FAMILIES: dict[str, Family] | None = None
_ALIASES: dict[str, str] = {}


def _discover() -> dict[str, Family]:
    global _FAMILIES
    if _FAMILIES is None:
        import behavenet.models as pkg

        found: dict[str, Family] = {}
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
            if not info.ispkg or info.name.startswith("_"):
                continue
            module = importlib.import_module(f"behavenet.models.{info.name}")
            fams = getattr(module, "FAMILIES", None) or ((module.FAMILY,) if hasattr(module, "FAMILY") else ())
            for fam in fams:
                if fam.name in found:  # pragma: no cover - a packaging mistake
                    raise RuntimeError(f"model family {fam.name!r} is declared twice")
                found[fam.name] = fam
                for alias in fam.aliases:
                    _ALIASES[alias] = fam.name
        _FAMILIES = found
    return _FAMILIES


def list_families(pattern: str = "*") -> list[str]:
    """Names of the registered model families matching a glob pattern."""
    return sorted(n for n in _discover() if fnmatch.fnmatch(n, pattern))


def get_family(name: str) -> Family:
    """The :class:`Family` registered as ``name`` (or an alias); one-line error otherwise."""
    families = _discover()
    key = _ALIASES.get(name, name)
    if key not in families:
        import difflib

        near = difflib.get_close_matches(str(name), list(families) + list(_ALIASES), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError("model.family", f"unknown model family {name!r}{hint}; known: {', '.join(sorted(families))}")
    return families[key]


def build_core(family: str, config: Any = None, data_spec: dict | None = None):
    """``Core`` of ``family`` from a config (its dataclass, or plain values validated by
    :meth:`~behavenet.models.config.FamilyConfig.from_dict`) and a data spec."""
    fam = get_family(family)
    cls = fam.config_class
    cfg = config if isinstance(config, cls) else cls.from_dict(config)
    core = fam.core_class(cfg, dict(data_spec or {}))
    core.family = fam.name
    return core
