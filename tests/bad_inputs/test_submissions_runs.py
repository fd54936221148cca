"""Bad MABe submissions, run directories, checkpoints and embeddings files."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from behavenet.errors import BehavenetError

from .conftest import assert_one_line, assert_rejected

FMAP = {"seqA": (0, 3), "seqB": (3, 8)}


def _map_file(tmp_path):
    p = tmp_path / "map.json"
    p.write_text(json.dumps({k: list(v) for k, v in FMAP.items()}))
    return p


def _sub(tmp_path, obj, name="sub.npy"):
    p = tmp_path / name
    np.save(p, np.array(obj, dtype=object) if isinstance(obj, dict) else obj, allow_pickle=True)
    return p


def _valid(width=4):
    return {"frame_number_map": dict(FMAP), "embeddings": np.zeros((8, width), np.float32)}


def validate_rejected(capsys, tmp_path, path, parts):
    return assert_rejected(
        capsys, "validate-submission", [path, "--species", "mouse", "--frame-map", _map_file(tmp_path)], parts
    )


def test_valid_submission_is_accepted(capsys, tmp_path):
    from .conftest import run_cli

    status, out, _ = run_cli(
        capsys,
        "validate-submission",
        _sub(tmp_path, _valid()),
        "--species",
        "mouse",
        "--frame-map",
        _map_file(tmp_path),
    )
    assert (status, out.strip()) == (0, "valid")


def test_submission_not_a_dict(capsys, tmp_path):
    path = _sub(tmp_path, np.zeros((8, 4), np.float32))
    validate_rejected(capsys, tmp_path, path, [str(path), "expected a dict"])


def test_submission_without_embeddings(capsys, tmp_path):
    path = _sub(tmp_path, {"frame_number_map": dict(FMAP)})
    validate_rejected(capsys, tmp_path, path, [str(path), "embeddings", "missing key"])


def test_submission_nan(capsys, tmp_path):
    obj = _valid()
    obj["embeddings"][5, 1] = np.nan
    path = _sub(tmp_path, obj)
    validate_rejected(capsys, tmp_path, path, [str(path), "embeddings"])


def test_submission_too_wide(capsys, tmp_path):
    path = _sub(tmp_path, _valid(width=129))
    validate_rejected(capsys, tmp_path, path, [str(path), "embeddings", "width 129 exceeds the mouse limit of 128"])


def test_submission_float64(capsys, tmp_path):
    obj = _valid()
    obj["embeddings"] = obj["embeddings"].astype(np.float64)
    path = _sub(tmp_path, obj)
    validate_rejected(capsys, tmp_path, path, [str(path), "embeddings", "float32, found float64"])


def test_submission_shifted_sequence(capsys, tmp_path):
    obj = _valid()
    obj["frame_number_map"]["seqB"] = (4, 9)
    path = _sub(tmp_path, obj)
    validate_rejected(capsys, tmp_path, path, [str(path), "frame_number_map['seqB']", "official map has (3, 8)"])


def test_submission_truncated(capsys, tmp_path):
    path = _sub(tmp_path, _valid())
    path.write_bytes(path.read_bytes()[:-40])
    validate_rejected(capsys, tmp_path, path, [str(path)])


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_submission_pickle_that_runs_code_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    obj = _valid()
    obj["extra"] = _Boom()
    path = _sub(tmp_path, obj)
    validate_rejected(capsys, tmp_path, path, [str(path), "posix.system"])
    assert not (tmp_path / "PWNED").exists()


def test_submission_missing(capsys, tmp_path):
    validate_rejected(capsys, tmp_path, tmp_path / "gone.npy", [str(tmp_path / "gone.npy")])


# ---- run directories, checkpoints, embeddings -------------------------------------------------

_RUN: dict = {}


@pytest.fixture
def run_dir(make_cfg, tmp_path_factory, tmp_path):
    """A copy of a finished PCA run on the bundled demo (trained once per session)."""
    if "dir" not in _RUN:
        from behavenet.train import run

        out = tmp_path_factory.mktemp("pca") / "run"
        run(
            make_cfg(
                ["model=pca", "logger=none", "trainer.enable_progress_bar=false", "eval=none", "figures=false"],
                output_dir=out,
            )
        )
        _RUN["dir"] = out
    dst = tmp_path / "run"
    shutil.copytree(_RUN["dir"], dst)
    return dst


def _submit_args(run, tmp_path, out):
    return ["--run", run, "--data", tmp_path / "any.h5", "--species", "mouse", "--out", out]


def test_submit_run_without_checkpoint(capsys, tmp_path, run_dir):
    (run_dir / "checkpoints" / "last.ckpt").unlink()
    out = tmp_path / "sub.npy"
    assert_rejected(
        capsys, "submit", _submit_args(run_dir, tmp_path, out), [str(run_dir), "checkpoints/last.ckpt"], [out]
    )


def test_submit_output_folder_missing(capsys, tmp_path, run_dir):
    out = tmp_path / "nowhere" / "sub.npy"
    assert_rejected(capsys, "submit", _submit_args(run_dir, tmp_path, out), ["--out", str(out.parent)], [out])


@pytest.mark.parametrize(
    "damage,expected",
    [("truncate", "not a readable torch checkpoint"), ("garbage", "refused: not a plain-tensor checkpoint")],
)
def test_load_run_with_damaged_checkpoint(tmp_path, run_dir, damage, expected):
    from behavenet.api import load_run

    ckpt = run_dir / "checkpoints" / "last.ckpt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"garbage" * 10)
    with pytest.raises(BehavenetError) as exc:
        load_run(run_dir)
    assert_one_line(exc.value, str(ckpt), expected)


def test_load_embeddings_truncated(run_dir):
    from behavenet.embeddings import load_embeddings

    path = run_dir / "embeddings.h5"
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(BehavenetError) as exc:
        load_embeddings(path)
    assert_one_line(exc.value, str(path))


def test_load_embeddings_without_sessions(run_dir):
    from behavenet.embeddings import load_embeddings

    path = run_dir / "embeddings.h5"
    with h5py.File(path, "r+") as f:
        del f["sessions"]
    with pytest.raises(BehavenetError) as exc:
        load_embeddings(path)
    assert_one_line(exc.value, str(path), "/sessions")


def test_load_embeddings_session_without_embedding(run_dir):
    from behavenet.embeddings import load_embeddings

    path = run_dir / "embeddings.h5"
    with h5py.File(path, "r+") as f:
        key = sorted(f["sessions"])[0]
        del f["sessions"][key]["embedding"]
    with pytest.raises(BehavenetError) as exc:
        load_embeddings(path)
    assert_one_line(exc.value, str(path), "embedding")
