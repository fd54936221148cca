"""MABe22 submission writer and validator."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from behavenet.cli import main
from behavenet.errors import ConfigError, FormatError
from behavenet.eval.submission import (
    load_frame_map,
    official_frame_map,
    validate_submission,
    write_submission,
)

FMAP = {"seqB": (3, 8), "seqA": (0, 3), "seqC": (8, 10)}  # dict order != row order


def _emb(width=4, seed=0, fmap=FMAP):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=(e - s, width)).astype(np.float32) for k, (s, e) in fmap.items()}


def _map_file(tmp_path, fmap=FMAP):
    p = tmp_path / "map.json"
    p.write_text(json.dumps({k: list(v) for k, v in fmap.items()}))
    return p


def _save(tmp_path, obj, name="sub.npy"):
    p = tmp_path / name
    np.save(p, obj, allow_pickle=True)
    return p


def _valid_obj(width=4):
    emb = np.zeros((10, width), dtype=np.float32)
    return {"frame_number_map": dict(FMAP), "embeddings": emb}


# ----------------------------------------------------------------------------------------------
# Writer
# ----------------------------------------------------------------------------------------------


def test_round_trip_places_rows_by_the_map(tmp_path):
    emb = _emb()
    # a mapping iterated in yet another order
    source = {k: emb[k] for k in ("seqC", "seqA", "seqB")}
    out = write_submission(tmp_path / "sub.npy", FMAP, source, species="mouse")
    d = np.load(out, allow_pickle=True).item()
    assert list(d) == ["frame_number_map", "embeddings"]
    assert d["frame_number_map"] == FMAP and list(d["frame_number_map"]) == list(FMAP)
    assert all(type(v) is tuple for v in d["frame_number_map"].values())
    x = d["embeddings"]
    assert x.dtype == np.float32 and x.shape == (10, 4)
    for k, (s, e) in FMAP.items():
        np.testing.assert_array_equal(x[s:e], emb[k])
    validate_submission(out, "mouse", FMAP)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_written_file_is_numpy1_loadable_and_aligned(tmp_path):
    out = write_submission(tmp_path / "sub.npy", FMAP, _emb(), species="mouse")
    raw = open(out, "rb").read()
    assert b"numpy.core.multiarray\n_reconstruct" in raw  # the path numpy 1.x and 2.x both import
    assert b"numpy._core" not in raw
    from behavenet.utils.safe_pickle import load_npy_dict

    mm = load_npy_dict(out, mmap=True, mmap_threshold=64)["embeddings"]
    assert isinstance(mm, np.memmap) and mm.offset % 64 == 0


def test_callable_source(tmp_path):
    emb = _emb(width=3)
    calls = []

    def get(clip):
        calls.append(clip)
        return emb[clip].astype(np.float64)  # any float dtype; written as float32

    out = write_submission(tmp_path / "s.npy", FMAP, get, species="fly")
    x = np.load(out, allow_pickle=True).item()["embeddings"]
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x[3:8], emb["seqB"])
    assert sorted(calls) == sorted(FMAP)


@pytest.mark.parametrize("cache", ["disk", "recompute"])
def test_zscore_and_pca(tmp_path, cache):
    from sklearn.decomposition import PCA

    fmap = {f"c{i}": (i * 50, (i + 1) * 50) for i in range(6)}
    rng = np.random.default_rng(1)
    mix = rng.normal(size=(10, 10))
    emb = {k: (rng.normal(size=(50, 10)) @ mix + 7).astype(np.float32) for k in fmap}
    calls = []

    def get(c):
        calls.append(c)
        return emb[c]

    X = np.concatenate([emb[f"c{i}"] for i in range(6)]).astype(np.float64)
    z = write_submission(tmp_path / "z.npy", fmap, get, zscore=True, cache=cache)
    xz = np.load(z, allow_pickle=True).item()["embeddings"]
    np.testing.assert_allclose(xz, (X - X.mean(0)) / X.std(0), atol=1e-5)
    assert len(calls) == (6 if cache == "disk" else 12)

    p = write_submission(tmp_path / "p.npy", fmap, emb, pca_dim=3, cache=cache)
    xp = np.load(p, allow_pickle=True).item()["embeddings"]
    ref = PCA(3).fit_transform(X)
    np.testing.assert_allclose(np.abs(xp), np.abs(ref), atol=1e-4)
    w = write_submission(tmp_path / "w.npy", fmap, emb, pca_dim=3, zscore=True, cache=cache)
    xw = np.load(w, allow_pickle=True).item()["embeddings"]
    np.testing.assert_allclose(xw.std(0), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.abs(xw), np.abs(ref / ref.std(0)), atol=1e-4)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]


def test_width_limit_requires_pca(tmp_path):
    fmap = {"a": (0, 4)}
    wide = {"a": np.ones((4, 129), dtype=np.float32)}
    with pytest.raises(ConfigError, match="limit of 128"):
        write_submission(tmp_path / "x.npy", fmap, wide, species="mouse")
    assert not os.listdir(tmp_path)
    write_submission(tmp_path / "x.npy", fmap, wide, species="fly")  # 256 for flies


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    emb = _emb()
    dest = tmp_path / "sub.npy"
    dest.write_bytes(b"previous content")

    def failing(clip):
        if clip == "seqC":  # the last clip in row order: part of the file is already written
            raise RuntimeError("model crashed")
        return emb[clip]

    with pytest.raises(RuntimeError, match="model crashed"):
        write_submission(dest, FMAP, failing)
    assert dest.read_bytes() == b"previous content"
    assert sorted(os.listdir(tmp_path)) == ["sub.npy"]

    dest.unlink()
    for bad, match in (
        (dict(emb, seqB=emb["seqB"][:4]), "expected shape"),
        (dict(emb, seqB=np.full((5, 4), np.nan, np.float32)), "NaN"),
        ({k: v for k, v in emb.items() if k != "seqA"}, "no embedding"),
    ):
        with pytest.raises(FormatError, match=match):
            write_submission(dest, FMAP, bad)
        for cache in ("disk", "recompute"):
            with pytest.raises(FormatError):
                write_submission(dest, FMAP, bad, zscore=True, cache=cache)
        assert os.listdir(tmp_path) == []


def test_map_must_tile(tmp_path):
    with pytest.raises(FormatError, match="gap"):
        write_submission(tmp_path / "x.npy", {"a": (0, 2), "b": (3, 5)}, {"a": np.ones((2, 1)), "b": np.ones((2, 1))})
    with pytest.raises(FormatError, match="overlap"):
        write_submission(tmp_path / "x.npy", {"a": (0, 3), "b": (2, 5)}, {"a": np.ones((3, 1)), "b": np.ones((3, 1))})


# ----------------------------------------------------------------------------------------------
# Validator
# ----------------------------------------------------------------------------------------------


def _bad_cases():
    ok = _valid_obj
    shifted = dict(FMAP, seqB=(4, 9))
    short = dict(FMAP, seqB=(3, 7))
    missing = {k: v for k, v in FMAP.items() if k != "seqC"}
    nan = ok()
    nan["embeddings"][6, 2] = np.nan
    inf = ok()
    inf["embeddings"][9, 0] = -np.inf
    return {
        "not a dict": (np.zeros((10, 4), np.float32).tolist(), "expected a dict"),
        "missing frame_number_map": ({"embeddings": ok()["embeddings"]}, "frame_number_map: missing key"),
        "missing embeddings": ({"frame_number_map": dict(FMAP)}, "embeddings: missing key"),
        "missing sequence": (dict(ok(), frame_number_map=missing), "'seqC' of the official map is missing"),
        "shifted sequence": (dict(ok(), frame_number_map=shifted), "shifted sequence"),
        "clip length": (dict(ok(), frame_number_map=short), "spans 4 frames but the clip has 5"),
        "list values": (
            dict(ok(), frame_number_map={k: list(v) for k, v in FMAP.items()}),
            "compares (start, end) tuples",
        ),
        "wrong dtype": (dict(ok(), embeddings=np.zeros((10, 4), np.float64)), "dtype must be float32, found float64"),
        "float16": (dict(ok(), embeddings=np.zeros((10, 4), np.float16)), "dtype must be float32"),
        "1-D": (dict(ok(), embeddings=np.zeros(40, np.float32)), "expected a 2-D array"),
        "width": (dict(ok(), embeddings=np.zeros((10, 129), np.float32)), "width 129 exceeds the mouse limit of 128"),
        "total rows": (dict(ok(), embeddings=np.zeros((11, 4), np.float32)), "has 11 rows but the frame map covers 10"),
        "nan": (nan, "row 6 (sequence 'seqB', frame 3), column 2 is NaN"),
        "inf": (inf, "row 9 (sequence 'seqC', frame 1), column 0 is infinite"),
    }


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_validator_reasons(tmp_path, case, capsys):
    obj, reason = _bad_cases()[case]
    p = _save(tmp_path, obj)
    with pytest.raises(FormatError) as info:
        validate_submission(p, "mouse", FMAP)
    msg = str(info.value)
    assert reason in msg and "\n" not in msg and str(p) in msg
    rc = main(["validate-submission", str(p), "--species", "mouse", "--frame-map", str(_map_file(tmp_path))])
    assert rc != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and reason in err


def test_validator_accepts_valid_and_cli_prints_valid(tmp_path, capsys):
    p = _save(tmp_path, _valid_obj())
    validate_submission(p, "mouse", FMAP)
    validate_submission(p, "fly", _map_file(tmp_path))
    npy_map = tmp_path / "official_map.npy"
    np.save(npy_map, dict(FMAP), allow_pickle=True)
    assert load_frame_map(npy_map) == FMAP
    for m in (_map_file(tmp_path), npy_map):
        assert main(["validate-submission", str(p), "--species", "fly", "--frame-map", str(m)]) == 0
        assert capsys.readouterr().out.strip() == "valid"
    # extra keys and extra map entries are tolerated, as by the official validator
    obj = _valid_obj()
    obj["frame_number_map"]["extra"] = (99, 100)
    obj["note"] = "hello"
    validate_submission(_save(tmp_path, obj, "extra.npy"), "mouse", FMAP)


def test_clip_lengths_file(tmp_path, capsys):
    p = _save(tmp_path, _valid_obj())
    lengths = tmp_path / "lengths.json"
    lengths.write_text(json.dumps({"seqA": 3, "seqB": 6, "seqC": 2}))
    rc = main(
        [
            "validate-submission",
            str(p),
            "--species",
            "mouse",
            "--frame-map",
            str(_map_file(tmp_path)),
            "--clip-lengths",
            str(lengths),
        ]
    )
    assert rc == 2
    assert "spans 5 frames but the clip has 6" in capsys.readouterr().err


def test_bundled_mouse_map_and_fly_refusal(tmp_path, capsys):
    fmap = official_frame_map("mouse")
    assert len(fmap) == 3736
    assert fmap["0D2SPY7EPE05CRPC8DP0"] == (0, 1800)
    assert max(e for _, e in fmap.values()) == 6_724_800
    assert all(e - s == 1800 for s, e in fmap.values())
    # a full-size, 1-dimensional mouse submission against the bundled map (27 MB)
    out = write_submission(tmp_path / "mouse.npy", fmap, lambda c: np.full((1800, 1), 0.5, np.float32))
    assert main(["validate-submission", str(out), "--species", "mouse"]) == 0
    assert capsys.readouterr().out.strip() == "valid"
    # flies: no bundled map, a clear one-line refusal
    rc = main(["validate-submission", str(out), "--species", "fly"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert "flies_frame_number_map.npy" in err and "--frame-map" in err and "licence" in err
    with pytest.raises(ConfigError):
        official_frame_map("fly")


def test_malicious_submission_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    p = _save(tmp_path, {"frame_number_map": dict(FMAP), "embeddings": Payload()})
    with pytest.raises(FormatError, match="refusing to load"):
        validate_submission(p, "mouse", FMAP)
    assert not marker.exists()
