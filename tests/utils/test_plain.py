import json
import math

import numpy as np
import pytest
import torch

from behavenet.utils.plain import to_plain


class _Version(str):
    pass


def test_to_plain_converts_numpy_torch_and_containers():
    obj = {
        1: np.float32(1.5),
        "t": (np.int64(2), np.bool_(True)),
        "x": torch.tensor(3.5),
        "v": torch.ones(2),
        "a": np.arange(3),
        "z": np.array(2.0),
        "s": _Version("2.13"),
        "n": None,
    }
    out = to_plain(obj)
    assert out == {
        "1": 1.5,
        "t": [2, True],
        "x": 3.5,
        "v": [1.0, 1.0],
        "a": [0, 1, 2],
        "z": 2.0,
        "s": "2.13",
        "n": None,
    }
    assert type(out["s"]) is str and type(out["t"][1]) is bool and type(out["t"][0]) is int
    json.dumps(out)


def test_to_plain_keeps_nan_unless_asked():
    obj = {"f": float("nan"), "g": np.float64(np.inf), "a": np.array([1.0, np.nan])}
    kept = to_plain(obj)
    assert math.isnan(kept["f"]) and kept["g"] == math.inf and math.isnan(kept["a"][1])
    assert to_plain(obj, nan_to_none=True) == {"f": None, "g": None, "a": [1.0, None]}


def test_to_str_and_decode_strings():
    from behavenet.utils.plain import decode_strings, to_str

    assert to_str(b"caf\xc3\xa9") == "café" and to_str(np.bytes_(b"x")) == "x"
    assert to_str(np.array(b"ab")) == "ab" and to_str(np.str_("s")) == "s" and to_str(3) == "3"
    assert to_str(b"\xff", errors="replace") == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        to_str(b"\xff")
    assert decode_strings(None) == [] and decode_strings(b"a") == ["a"]
    assert decode_strings("b") == ["b"]
    assert decode_strings(np.array([[b"a", b"b"]], dtype="S1")) == ["a", "b"]
    assert decode_strings(np.array(["x", "y"], dtype=object)) == ["x", "y"]
