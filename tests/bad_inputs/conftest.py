"""Helpers of the bad-inputs suite (docs/reliability.md lists its cases).

Every case feeds one broken input to a public entry point and asserts the contract of
``behavenet/errors.py``: exactly one ``behavenet COMMAND: error: ...`` line naming the file (or
config key), the field and what was expected; exit status 2; no traceback; and no output file (nor
a temporary one) left behind.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """Run ``behavenet ARGS`` in this process; return (status, stdout, stderr)."""
    from behavenet.cli import main

    capsys.readouterr()  # drop what earlier set-up printed
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def error_line(err: str, command: str, *parts: str) -> str:
    """The one error line of ``err``; checks it holds each of ``parts`` and that no traceback was printed."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"behavenet {command}: error: "), line
    for part in parts:
        assert str(part) in line, f"{part!r} not in {line!r}"
    return line


def assert_rejected(capsys, command: str, args, parts, outputs=()) -> str:
    """``behavenet COMMAND ARGS`` exits 2 with one error line holding ``parts``; ``outputs`` do not exist."""
    status, _, err = run_cli(capsys, command, *args)
    line = error_line(err, command, *parts)
    assert status == 2, (status, line)
    for out in outputs:
        out = Path(out)
        assert not out.exists(), f"{out} was written"
        if out.parent.is_dir():
            tmp = [p.name for p in out.parent.iterdir() if p.name.startswith(".tmp-")]
            assert not tmp, f"temporary files left: {tmp}"
    return line


def assert_one_line(exc: BaseException, *parts: str) -> str:
    """A raised error's message: one line holding each of ``parts``."""
    from behavenet.errors import BehavenetError

    assert isinstance(exc, BehavenetError), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    assert "\n" not in text, text
    for part in parts:
        assert str(part) in text, f"{part!r} not in {text!r}"
    return text


@pytest.fixture
def session_file(tmp_path):
    """``session_file(name)`` → a valid session (pose, spikes, behaviour, labels, trials)."""
    from behavenet.data.format import Behavior, FrameLabel, Pose, Session, Spikes, write_session

    def _make(name="s.h5", n_frames=400, n_trials=4, seed=0):
        rng = np.random.default_rng(seed)
        bounds = np.linspace(0, n_frames, n_trials + 1).astype(int)
        s = Session(
            session_id=f"s{seed}",
            fps=20.0,
            spikes=Spikes(rng.poisson(1.0, (n_frames, 6)).astype(np.uint16), bin_width=0.05),
            behavior=Behavior(rng.normal(size=(n_frames, 2)).astype(np.float32), ["x", "y"]),
            pose=Pose(rng.normal(size=(n_frames, 2, 3, 2)).astype(np.float32), ["nose", "neck", "tail"], ["a", "b"]),
            frame_labels={"state": FrameLabel(rng.integers(0, 2, n_frames), ["low", "high"])},
            trials=np.stack([bounds[:-1], bounds[1:]], 1),
        )
        return write_session(s, tmp_path / name, overwrite=True)

    return _make


def edit_h5(path, fn) -> Path:
    """Apply ``fn(h5py.File)`` to ``path`` opened for writing."""
    with h5py.File(path, "r+") as f:
        fn(f)
    return Path(path)
