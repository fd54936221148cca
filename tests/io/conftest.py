"""Fixtures for the importer tests: the bundled real data, tiny synthetic files, CLI helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"


def make_video(
    path: Path,
    n_frames: int = 40,
    size=(48, 64),
    fps: int = 10,
    codec: str = "libx264",
    gop: int = 12,
    pix_fmt: str = "yuv420p",
) -> Path:
    """Write a small video whose frame i shows a flat grey level 5 * i (plus a moving bar)."""
    import av

    h, w = size
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        s.gop_size = gop
        if codec == "libx264":
            s.options = {"bf": "2", "keyint": str(gop), "min-keyint": str(gop), "scenecut": "0"}
        for i in range(n_frames):
            img = np.full((h, w, 3), (5 * i) % 256, np.uint8)
            img[:, (2 * i) % w] = 255
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def small_video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "small.mp4")


def run_cli(*args) -> int:
    from behavenet.cli import main

    return main([str(a) for a in args])


def assert_valid(path) -> None:
    assert run_cli("validate", path) == 0


def error_line(capsys) -> str:
    """The CLI's stderr: exactly one 'behavenet ...: error: ...' line (warnings aside)."""
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(lines) == 1, err
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files a failed conversion might leave behind."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith(".") or p.suffix in (".tmp", ".partial"))


def one_line(exc) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


@pytest.fixture
def cwd_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


class _Helpers:
    """Helpers handed to tests as the ``h`` fixture (conftest modules are not importable)."""

    data = DATA
    make_video = staticmethod(make_video)
    run_cli = staticmethod(run_cli)
    assert_valid = staticmethod(assert_valid)
    error_line = staticmethod(error_line)
    leftovers = staticmethod(leftovers)
    one_line = staticmethod(one_line)
    write_text = staticmethod(write_text)


@pytest.fixture(scope="session")
def h():
    return _Helpers()
