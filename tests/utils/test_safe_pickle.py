"""Restricted unpickling of pickled .npy files."""

from __future__ import annotations

import io
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

from behavenet.errors import FormatError
from behavenet.utils.safe_pickle import (
    load_npy_dict,
    load_npy_object,
    safe_loads,
)


class _Payload:
    """Pickles to a call that creates a marker file (a stand-in for malicious code)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _save(path, obj):
    np.save(path, obj, allow_pickle=True)
    return path


@pytest.mark.parametrize("mmap", [False, True])
def test_round_trip_matches_np_load(tmp_path, mmap):
    rng = np.random.default_rng(0)
    obj = {
        "embeddings": rng.normal(size=(5000, 16)).astype(np.float32),  # > 64 KiB payload
        "labels": rng.integers(0, 3, size=(4, 10)).astype(np.int16),
        "fortran": np.asfortranarray(rng.normal(size=(300, 7))),
        "frame_number_map": {"a": (0, 3), "b": (3, 10)},
        "vocabulary": ["x", "y"],
        "nested": {"t": (1, 2.5, None, True), "s": {1, 2}, "b": b"raw", "od": OrderedDict(k=1)},
        "scalar": np.float32(1.5),
        "empty": np.zeros((0, 3)),
    }
    p = _save(tmp_path / "d.npy", obj)
    ref = np.load(p, allow_pickle=True).item()
    got = load_npy_dict(p, mmap=mmap, mmap_threshold=1024)
    assert set(got) == set(ref)
    for k in ("embeddings", "labels", "fortran", "empty"):
        assert got[k].dtype == ref[k].dtype and got[k].shape == ref[k].shape
        np.testing.assert_array_equal(got[k], ref[k])
    assert got["fortran"].flags.f_contiguous
    assert got["frame_number_map"] == ref["frame_number_map"]
    assert isinstance(got["frame_number_map"]["a"], tuple)
    assert got["nested"] == ref["nested"] and got["vocabulary"] == ["x", "y"]
    assert type(got["scalar"]) is np.float32 and got["scalar"] == 1.5
    if mmap:
        assert isinstance(got["embeddings"], np.memmap)
        assert not got["embeddings"].flags.writeable


def test_numpy1_style_protocol3_pickle(tmp_path):
    """Files written by numpy 1.x (protocol 3, numpy.core module path) load too."""
    arr = np.arange(600, dtype=np.float32).reshape(200, 3)
    state = (1, arr.shape, arr.dtype, False, arr.tobytes())
    stream = (
        b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
        + pickle.dumps(state, protocol=3)[2:-1]
        + b"b."
    )
    p = tmp_path / "np1.npy"
    with open(p, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": ()})
        fh.write(b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R")
        fh.write(pickle.dumps((1, (), np.dtype("O"), False, [{"x": 1}]), protocol=3)[2:-1] + b"b.")
    assert load_npy_object(p) == {"x": 1}
    got = safe_loads(stream)
    np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize("mmap", [False, True])
def test_reduce_payload_is_refused_without_running(tmp_path, mmap):
    marker = tmp_path / "pwned"
    p = _save(tmp_path / "evil.npy", {"embeddings": np.zeros(3), "x": _Payload(str(marker))})
    with pytest.raises(FormatError) as info:
        load_npy_dict(p, mmap=mmap)
    msg = str(info.value)
    assert "refusing to load" in msg and "open" in msg and "\n" not in msg
    assert str(p) in msg
    assert not marker.exists()


def test_refuses_os_system_and_eval():
    for module, name in (("os", "system"), ("builtins", "eval"), ("builtins", "getattr"), ("subprocess", "Popen")):
        stream = b"\x80\x03c" + f"{module}\n{name}\n".encode() + b"X\x04\x00\x00\x00trueq\x00\x85R."
        with pytest.raises(FormatError, match="refusing to load"):
            safe_loads(stream)


def test_codecs_encode_only_latin1():
    ok = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00abX\x06\x00\x00\x00latin1\x86R."
    assert safe_loads(ok) == b"ab"
    bad = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00abX\x04\x00\x00\x00zlib\x86R."
    with pytest.raises(FormatError):
        safe_loads(bad)


def test_non_dict_and_garbage(tmp_path):
    p = _save(tmp_path / "list.npy", np.array([[1, 2], [3, 4]], dtype=object))
    with pytest.raises(FormatError, match="expected a pickled dict"):
        load_npy_dict(p)
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not a numpy file at all")
    with pytest.raises(FormatError, match="not a .npy file"):
        load_npy_dict(bad)
    with pytest.raises(FormatError, match="cannot open"):
        load_npy_dict(tmp_path / "missing.npy")


def test_truncated_payload_detected(tmp_path):
    p = _save(tmp_path / "d.npy", {"e": np.ones((4000, 8), dtype=np.float32)})
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    for mmap in (False, True):
        with pytest.raises(FormatError):
            load_npy_dict(p, mmap=mmap, mmap_threshold=1024)


def test_plain_numeric_npy(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    p = tmp_path / "a.npy"
    np.save(p, arr)
    np.testing.assert_array_equal(load_npy_object(p), arr)
    assert isinstance(load_npy_object(p, mmap=True), np.memmap)


def test_shared_array_reference_survives_mmap(tmp_path):
    """An array referenced twice in the pickle (memo BINGET) is the same array both times."""
    a = np.arange(100000, dtype=np.float32)
    p = _save(tmp_path / "d.npy", {"a": a, "b": [a, a]})
    got = load_npy_dict(p, mmap=True, mmap_threshold=1024)
    assert isinstance(got["b"][0], np.ndarray)
    np.testing.assert_array_equal(got["b"][1], a)


def test_error_is_one_line(tmp_path):
    p = _save(tmp_path / "evil.npy", {"x": _Payload(os.devnull)})
    with pytest.raises(FormatError) as info:
        load_npy_object(p)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)
    # also through a plain stream
    with pytest.raises(FormatError):
        safe_loads(io.BytesIO(pickle.dumps(_Payload(os.devnull))).getvalue())
