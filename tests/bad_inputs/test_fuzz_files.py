"""Fuzzing (hypothesis): random truncations and byte flips of session files, MABe ``.npy``
pickles and submissions. Whatever the damage, reading either succeeds or raises the package's own
error (:class:`behavenet.errors.BehavenetError`, one line); no other exception escapes, and no code
from a pickle runs.

The default run tries ``FUZZ_EXAMPLES`` (40) inputs per reader; the ``slow`` variants (the second
CI step) try 400.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from behavenet.errors import BehavenetError

FUZZ_EXAMPLES = 40
SLOW_EXAMPLES = 400
FMAP = {"seqA": (0, 30), "seqB": (30, 50)}


class _Sentinel:
    """Unpickling this would create the file PWNED in the working directory."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _session_bytes() -> bytes:
    from behavenet.data.format import Behavior, FrameLabel, Pose, Session, Spikes, write_session

    rng = np.random.default_rng(0)
    n = 60
    s = Session(
        session_id="fuzz",
        fps=30.0,
        spikes=Spikes(rng.poisson(1.0, (n, 4)).astype(np.uint16), bin_width=1 / 30),
        behavior=Behavior(rng.normal(size=(n, 2)).astype(np.float32), ["x", "y"]),
        pose=Pose(rng.normal(size=(n, 2, 3, 2)).astype(np.float32), ["a", "b", "c"], ["m1", "m2"]),
        frame_labels={"state": FrameLabel(rng.integers(0, 2, n), ["off", "on"])},
        trials=np.array([[0, 30], [30, 60]]),
    )
    with tempfile.TemporaryDirectory() as d:
        path = write_session(s, Path(d) / "s.h5", compression=None)
        return path.read_bytes()


def _npy_bytes(obj) -> bytes:
    import io

    arr = np.empty((), dtype=object)
    arr[()] = obj
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _mabe_bytes(evil: bool = False) -> bytes:
    rng = np.random.default_rng(1)
    seqs = {f"S{i:019d}": {"keypoints": rng.uniform(1, 800, (20, 3, 12, 2)).astype(np.float32)} for i in range(2)}
    data = {"sequences": seqs, "vocabulary": ["lights"]}
    if evil:
        data["extra"] = _Sentinel()
    return _npy_bytes(data)


def _submission_bytes(evil: bool = False) -> bytes:
    obj = {"frame_number_map": dict(FMAP), "embeddings": np.random.default_rng(2).normal(size=(50, 8)).astype("f4")}
    if evil:
        obj["extra"] = _Sentinel()
    return _npy_bytes(obj)


BASES = {
    "session": _session_bytes(),
    "mabe": _mabe_bytes(),
    "mabe-evil": _mabe_bytes(evil=True),
    "submission": _submission_bytes(),
    "submission-evil": _submission_bytes(evil=True),
}


@st.composite
def damaged(draw, base: bytes) -> bytes:
    """``base`` cut at a random length, or with 1-16 random bytes overwritten (or both)."""
    data = bytearray(base)
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data) - 1))]
    if data and draw(st.booleans() | st.just(True)):
        for _ in range(draw(st.integers(1, 16))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255).filter(lambda b, old=data[i]: b != old))
    return bytes(data)


def _read_session(path: Path) -> None:
    from behavenet.data.format import validate_file
    from behavenet.data.reader import read_session

    validate_file(path)
    read_session(path)


def _read_mabe(path: Path) -> None:
    from behavenet import io

    io.load(path, source="mabe")


def _read_submission(path: Path) -> None:
    from behavenet.eval.submission import validate_submission

    validate_submission(path, "mouse", frame_map=dict(FMAP))


READERS = {
    "session": ("s.h5", _read_session),
    "mabe": ("user_train.npy", _read_mabe),
    "mabe-evil": ("user_train.npy", _read_mabe),
    "submission": ("sub.npy", _read_submission),
    "submission-evil": ("sub.npy", _read_submission),
}


def _check(kind: str, data: bytes, folder: Path) -> None:
    name, reader = READERS[kind]
    path = folder / name
    path.write_bytes(data)
    cwd = os.getcwd()
    os.chdir(folder)  # a pickle that ran its code would create PWNED here
    try:
        reader(path)
    except BehavenetError as exc:
        assert "\n" not in str(exc), str(exc)
    finally:
        os.chdir(cwd)
    assert not (folder / "PWNED").exists(), "code from the pickle ran"


def _fuzz(kind: str, examples: int, folder: Path) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=damaged(BASES[kind]))
    def run(data):
        _check(kind, data, folder)

    run()


def test_undamaged_files_are_read(tmp_path):
    for kind in ("session", "mabe", "submission"):
        _check(kind, BASES[kind], tmp_path)
    for kind in ("mabe-evil", "submission-evil"):
        name, reader = READERS[kind]
        (tmp_path / name).write_bytes(BASES[kind])
        with pytest.raises(BehavenetError, match="refus|not allowed|posix.system"):
            reader(tmp_path / name)
        assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("kind", list(BASES))
def test_fuzz(tmp_path, kind):
    _fuzz(kind, FUZZ_EXAMPLES, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(BASES))
def test_fuzz_more(tmp_path, kind):
    _fuzz(kind, SLOW_EXAMPLES, tmp_path)
