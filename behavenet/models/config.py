"""Hyperparameters of a model family: one dataclass, declared once.

Every family declares its hyperparameters in ONE dataclass, a subclass of :class:`FamilyConfig`
(or of :class:`TrainingConfig` when it trains by gradient descent), with a type, a default and a
docstring per field (a string literal on the line after the field, as Sphinx reads attribute
docstrings; see ``behavenet/models/autoencoder/config.py``)::

    @dataclass
    class MyConfig(TrainingConfig):
        width: int = 32
        "Hidden units of each layer."

Everything else is derived from it and held to it by ``tests/models/test_family_contract.py``:
the keys of ``conf/model/<name>.yaml``, the estimator's ``__init__`` signature and
``get_params()``, and the hyperparameters stored in checkpoints (``Config.to_dict()``).
:meth:`FamilyConfig.from_dict` validates plain values from YAML, the command line or a checkpoint
(unknown keys with the nearest valid name, types) with one-line :class:`~behavenet.errors.ConfigError`\\ s.

This module imports neither torch nor Lightning.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import textwrap
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Union

from behavenet.errors import ConfigError

__all__ = ["FamilyConfig", "TrainingConfig", "field_docs", "LR_SCHEDULES"]

LR_SCHEDULES = ("constant", "cosine", "linear")


@dataclass
class FamilyConfig:
    """Base of every family's hyperparameter dataclass (no fields of its own)."""

    @classmethod
    def field_names(cls) -> list[str]:
        """Field names, the family's own first (in declaration order), then inherited ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        order: list[str] = []
        for klass in cls.__mro__:
            for name in klass.__dict__.get("__annotations__", {}):
                if name in names and name not in order:
                    order.append(name)
        return order

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """``{field: default}`` as plain values."""
        return cls().to_dict()

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None = None, prefix: str = "model") -> FamilyConfig:
        """Validate and build from plain values; missing keys take their defaults.

        Unknown keys, and values of the wrong type, raise a one-line :class:`ConfigError` naming
        ``<prefix>.<key>`` (with the nearest valid key for a misspelt one).
        """
        values = dict(values or {})
        names = cls.field_names()
        for key in values:
            if key not in names:
                near = difflib.get_close_matches(str(key), names, n=1)
                hint = f"; did you mean {near[0]!r}?" if near else f"; valid keys: {', '.join(names)}"
                raise ConfigError(f"{prefix}.{key}", f"unknown hyperparameter of {cls.__name__}{hint}")
        hints = _type_hints(cls)
        clean = {k: _coerce(v, hints[k], f"{prefix}.{k}") for k, v in values.items()}
        return cls(**clean)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (lists, dicts, numbers, strings, None): YAML-, JSON- and
        ``torch.load(weights_only=True)``-safe."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes) -> FamilyConfig:
        return dataclasses.replace(self, **changes)


@dataclass
class TrainingConfig(FamilyConfig):
    """Fields shared by every family trained by gradient descent: the optimiser and its schedule.

    ``optimizer`` names any ``torch.optim`` class, case-insensitively (``adam``, ``adamw``,
    ``sgd``, ``rmsprop``, ...); ``optimizer_options`` passes further arguments to it (``betas``,
    ``momentum``, ``eps``, ...). The learning rate follows ``lr_schedule`` over the run's
    training steps after a linear warm-up of ``warmup_steps``.
    """

    optimizer: str = "adam"
    """A ``torch.optim`` class name (case-insensitive): adam | adamw | sgd | rmsprop | ..."""
    learning_rate: float = 1e-3
    """Peak learning rate."""
    weight_decay: float = 0.0
    """Weight decay of the optimiser (L2 for adam/sgd, decoupled for adamw)."""
    lr_schedule: str = "constant"
    """constant | cosine | linear: the learning rate after warm-up, decaying to min_learning_rate
    at the last training step."""
    warmup_steps: int = 0
    """Steps of linear warm-up from 0 to learning_rate."""
    min_learning_rate: float = 0.0
    """Floor of the cosine and linear decays."""
    optimizer_options: dict = field(default_factory=dict)
    """Further keyword arguments of the torch optimiser, e.g. {betas: [0.9, 0.98]}."""


# ---------------------------------------------------------------------------------------------
# field docstrings


def field_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` from the string literal written under each field (inherited ones
    included), as Sphinx reads attribute docstrings."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass) and klass is not object:
            docs.update(_own_field_docs(klass))
    return {f.name: docs.get(f.name, "") for f in dataclasses.fields(cls)}


@cache
def _own_field_docs(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # pragma: no cover - source unavailable (frozen apps)
        return {}
    body = ast.parse(source).body[0].body
    out = {}
    for node, nxt in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            out[node.target.id] = " ".join(nxt.value.value.split())
    return out


# ---------------------------------------------------------------------------------------------
# types


@cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


_NAMES = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    list: "a list",
    dict: "a mapping",
    type(None): "null",
}


def _describe(tp) -> str:
    args = _union_args(tp)
    if args:
        return " or ".join(_describe(a) for a in args)
    origin = typing.get_origin(tp) or tp
    return _NAMES.get(origin, getattr(origin, "__name__", str(origin)))


def _union_args(tp):
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return ()


def _coerce(value, tp, key: str):
    """``value`` checked against the annotation ``tp`` (ints accepted as floats, floats with an
    integer value as ints, tuples as lists); raises :class:`ConfigError` otherwise."""
    ok, out = _try(value, tp)
    if not ok:
        raise ConfigError(key, f"expected {_describe(tp)}, got {value!r}")
    return out


def _try(value, tp):
    if tp is Any:
        return True, _plain(value)
    args = _union_args(tp)
    if args:
        # exact type first (so 3 stays an int in ``int | list[int]``), then conversions
        for a in args:
            if _exact(value, a):
                return _try(value, a)
        for a in args:
            ok, out = _try(value, a)
            if ok:
                return ok, out
        return False, None
    origin = typing.get_origin(tp) or tp
    if tp is type(None):
        return value is None, None
    if origin is bool:
        return (True, value) if isinstance(value, bool) else (False, None)
    if origin is int:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, int) or (
            hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0 and str(value.dtype).startswith(("int", "uint"))
        ):
            return True, int(value)
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        return False, None
    if origin is float:
        if isinstance(value, bool):
            return False, None
        try:
            import numbers

            if isinstance(value, numbers.Real):
                return True, float(value)
        except TypeError:  # pragma: no cover
            pass
        return False, None
    if origin is str:
        return (True, str(value)) if isinstance(value, str) else (False, None)
    if origin in (list, tuple):
        if isinstance(value, (list, tuple)) or _is_listconfig(value):
            (item,) = typing.get_args(tp) or (Any,)
            out = []
            for v in value:
                ok, o = _try(v, item)
                if not ok:
                    return False, None
                out.append(o)
            return True, out
        return False, None
    if origin is dict:
        if isinstance(value, dict) or hasattr(value, "items"):
            return True, _plain(value)
        return False, None
    return True, value  # pragma: no cover - annotations outside this vocabulary are not checked


def _exact(value, tp) -> bool:
    origin = typing.get_origin(tp) or tp
    if tp is type(None):
        return value is None
    if origin is bool:
        return isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is float:
        return isinstance(value, float)
    if origin is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) or _is_listconfig(value)
    if origin is dict:
        return isinstance(value, dict)
    return False


def _is_listconfig(value) -> bool:
    return type(value).__name__ == "ListConfig"


def _plain(obj):
    """Plain python containers and scalars (see :func:`behavenet.utils.plain.to_plain`)."""
    from behavenet.utils.plain import to_plain

    return to_plain(obj)
