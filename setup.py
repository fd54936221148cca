"""Build hook: a wheel carries the Hydra configs (``conf/``) and the bundled demo recording, so
``behavenet train`` works after a plain ``pip install``. The project metadata is in pyproject.toml.

They are copied into ``behavenet/_bundled/`` of the build (never into the checkout). Editable
installs need no copy: they read ``conf/`` and ``data/`` of the checkout.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = [
    ("conf", "conf"),
    ("data/linear_track.h5", "data/linear_track.h5"),
    ("data/nelpy-linear-track/LICENSE.upstream.txt", "data/linear_track.LICENSE.txt"),
]


class BuildWithBundledFiles(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "behavenet" / "_bundled"
        for src, dst in BUNDLED:
            s, d = HERE / src, target / dst
            if s.is_dir():
                shutil.copytree(s, d, dirs_exist_ok=True, ignore=shutil.ignore_patterns("local", "__pycache__"))
            elif s.exists():
                d.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(s, d)


setup(cmdclass={"build_py": BuildWithBundledFiles})
