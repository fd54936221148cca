"""A wheel carries the configs and the demo recording, so `behavenet train` works after a plain
`pip install` outside a checkout (setup.py's build hook; conf_dir() and the bundled_data resolver)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory):
    pytest.importorskip("setuptools")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_bundled", "local")
    shutil.copytree(ROOT / "behavenet", src / "behavenet", ignore=ignore)
    shutil.copytree(ROOT / "conf", src / "conf", ignore=ignore)
    (src / "data" / "nelpy-linear-track").mkdir(parents=True)
    shutil.copy2(ROOT / "data/linear_track.h5", src / "data/linear_track.h5")
    shutil.copy2(ROOT / "data/nelpy-linear-track/LICENSE.upstream.txt", src / "data/nelpy-linear-track/")
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if res.returncode != 0 and "No module named" in res.stderr:
        pytest.skip(f"cannot build a wheel here: {res.stderr.strip().splitlines()[-1]}")
    assert res.returncode == 0, res.stderr[-2000:]
    (whl,) = out.glob("behavenet-*.whl")
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        z.extractall(site)
    assert "behavenet/_bundled/conf/train.yaml" in names
    assert "behavenet/_bundled/data/linear_track.h5" in names
    assert "behavenet/_bundled/data/linear_track.LICENSE.txt" in names
    return site


def test_installed_wheel_trains_from_any_folder(wheel_site, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(wheel_site)}
    env.pop("BEHAVENET_CONF", None)
    code = "import sys; from behavenet.cli import main; sys.exit(main(['train', '--cfg', 'job', '--resolve']))"
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    files = [ln.split("files:", 1)[1].strip() for ln in res.stdout.splitlines() if ln.strip().startswith("files:")]
    assert files and files[0] == str(wheel_site / "behavenet/_bundled/data/linear_track.h5")
    assert Path(files[0]).exists()
    assert f"log_dir: {tmp_path}/outputs" in res.stdout  # run directories go under the working folder
