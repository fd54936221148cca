"""The safe .npy loader reads format versions 1.0, 2.0 and 3.0 with public numpy API only."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from behavenet.errors import FormatError, one_line
from behavenet.utils.safe_pickle import load_npy_dict, load_npy_object

VERSIONS = [(1, 0), (2, 0), (3, 0)]


def _write(path, arr, version):
    with open(path, "wb") as fh:
        np.lib.format.write_array(fh, arr, version=version, allow_pickle=True)
    with open(path, "rb") as fh:  # the file really has that version
        assert np.lib.format.read_magic(fh) == version
    return path


def _dict_array(obj):
    a = np.empty((), dtype=object)
    a[()] = obj
    return a


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mmap", [False, True])
def test_numeric_arrays_of_every_version(tmp_path, version, mmap):
    c = np.arange(24, dtype="<f4").reshape(4, 6)
    f = np.asfortranarray(np.arange(12, dtype="<i8").reshape(3, 4))
    for name, arr in (("c", c), ("f", f)):
        p = _write(tmp_path / f"{name}.npy", arr, version)
        got = load_npy_object(p, mmap=mmap)
        assert got.dtype == arr.dtype and got.shape == arr.shape
        np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mmap", [False, True])
def test_pickled_dict_of_every_version(tmp_path, version, mmap):
    emb = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    obj = {"frame_number_map": {"seqA": (0, 20), "seqB": (20, 50)}, "embeddings": emb}
    p = _write(tmp_path / "d.npy", _dict_array(obj), version)
    got = load_npy_dict(p, mmap=mmap, mmap_threshold=64)
    assert got["frame_number_map"] == obj["frame_number_map"]
    np.testing.assert_array_equal(np.asarray(got["embeddings"]), emb)


def test_version_3_utf8_field_names(tmp_path):
    arr = np.zeros(3, dtype=[("größe", "<f8"), ("x", "<i4")])
    arr["größe"] = [1.5, 2.5, 3.5]
    p = _write(tmp_path / "u.npy", arr, (3, 0))
    got = load_npy_object(p)
    assert got.dtype.names == ("größe", "x")
    np.testing.assert_array_equal(got["größe"], [1.5, 2.5, 3.5])


def _v3_file(path, header: str, payload: bytes = b"") -> str:
    h = header.encode("utf-8")
    pad = (-(len(np.lib.format.MAGIC_PREFIX) + 2 + 4 + len(h) + 1)) % 64
    h = h + b" " * pad + b"\n"
    path.write_bytes(np.lib.format.MAGIC_PREFIX + b"\x03\x00" + struct.pack("<I", len(h)) + h + payload)
    return str(path)


@pytest.mark.parametrize("version", [(4, 0), (1, 1), (0, 9)])
def test_unknown_version_is_a_one_line_error_naming_it(tmp_path, version):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.arange(3.0), version=(1, 0))
    raw = bytearray(buf.getvalue())
    raw[6:8] = bytes(version)
    p = tmp_path / "v.npy"
    p.write_bytes(bytes(raw))
    with pytest.raises(FormatError) as exc:
        load_npy_object(p)
    msg = one_line(exc.value)
    assert msg == str(exc.value) and "\n" not in str(exc.value)
    assert f"version {version[0]}.{version[1]}" in msg and str(p) in msg


@pytest.mark.parametrize(
    "header, expect",
    [
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", None),
        ("__import__('os').system('echo pwned')", "cannot parse the header dict"),
        ("{'descr': '<f8', 'shape': (3,), }", "keys"),
        ("{'descr': '<f8', 'fortran_order': 0, 'shape': (3,), }", "fortran_order"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", "shape"),
        ("{'descr': 'nonsense', 'fortran_order': False, 'shape': (3,), }", "descr"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), '" + "x" * 20000 + "': 1}", "safe limit"),
    ],
)
def test_version_3_header_is_parsed_as_literals_and_checked(tmp_path, header, expect):
    p = _v3_file(tmp_path / "h.npy", header, np.arange(3.0).astype("<f8").tobytes())
    if expect is None:
        np.testing.assert_array_equal(load_npy_object(p), np.arange(3.0))
        return
    with pytest.raises(FormatError) as exc:
        load_npy_object(p)
    msg = str(exc.value)
    assert "\n" not in msg and "3.0 header" in msg and expect in msg


def test_truncated_version_3_header(tmp_path):
    p = tmp_path / "t.npy"
    p.write_bytes(np.lib.format.MAGIC_PREFIX + b"\x03\x00" + struct.pack("<I", 200) + b"{'descr'")
    with pytest.raises(FormatError, match="file ends inside the array header"):
        load_npy_object(p)


def test_not_npy_still_reported(tmp_path):
    p = tmp_path / "x.npy"
    p.write_bytes(b"hello world, not numpy")
    with pytest.raises(FormatError, match="not a .npy file"):
        load_npy_object(p)
