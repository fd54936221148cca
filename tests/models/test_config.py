"""Config dataclasses: validation from plain values, one-line errors, field docstrings, order."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from behavenet.errors import ConfigError
from behavenet.models.config import FamilyConfig, TrainingConfig, field_docs


@dataclass
class Toy(TrainingConfig):
    width: int = 4
    "Hidden units."
    scale: float = 1.0
    "A number."
    offsets: int | list[int] = 10
    "One or several."
    names: list[str] | None = None
    "Optional names."
    flag: bool = False
    "A switch."
    learning_rate: float = 0.5
    "Overridden default."


def test_from_dict_validates_types_and_fills_defaults():
    cfg = Toy.from_dict({"width": 8.0, "scale": 2, "offsets": [1, 2], "names": ("a", "b")})
    assert cfg.width == 8 and isinstance(cfg.width, int)
    assert cfg.scale == 2.0 and isinstance(cfg.scale, float)
    assert cfg.offsets == [1, 2] and cfg.names == ["a", "b"]
    assert Toy.from_dict({"offsets": 3}).offsets == 3
    assert Toy.from_dict({}).learning_rate == 0.5 and Toy().optimizer == "adam"
    for key, value, expected in [
        ("width", "abc", "expected an integer, got 'abc'"),
        ("width", 2.5, "expected an integer"),
        ("flag", 1, "expected true or false"),
        ("scale", None, "expected a number"),
        ("offsets", [1, "x"], "expected an integer or a list"),
        ("names", "ab", "expected a list or null"),
    ]:
        with pytest.raises(ConfigError) as err:
            Toy.from_dict({key: value})
        assert str(err.value).startswith(f"config model.{key}: {expected}"), str(err.value)
        assert "\n" not in str(err.value)


def test_unknown_key_names_the_nearest():
    with pytest.raises(ConfigError, match=r"config model.widht: unknown hyperparameter of Toy; did you mean 'width'"):
        Toy.from_dict({"widht": 3})
    with pytest.raises(ConfigError, match="valid keys: width, scale"):
        Toy.from_dict({"zzz": 3})


def test_to_dict_is_plain_and_round_trips():
    import numpy as np

    cfg = Toy(width=np.int64(3), offsets=(1, 2), optimizer_options={"betas": (0.9, 0.99)})
    d = cfg.to_dict()
    assert d["width"] == 3 and type(d["width"]) is int and d["offsets"] == [1, 2]
    assert d["optimizer_options"] == {"betas": [0.9, 0.99]}
    assert Toy.from_dict(d) == Toy(width=3, offsets=[1, 2], optimizer_options={"betas": [0.9, 0.99]})


def test_field_order_and_docs():
    names = Toy.field_names()
    assert names[:6] == ["width", "scale", "offsets", "names", "flag", "learning_rate"]  # own fields first
    assert set(names[6:]) == set(TrainingConfig.field_names()) - {"learning_rate"}
    docs = field_docs(Toy)
    assert docs["width"] == "Hidden units." and docs["learning_rate"] == "Overridden default."
    assert docs["warmup_steps"].startswith("Steps of linear warm-up")
    assert FamilyConfig.field_names() == []
