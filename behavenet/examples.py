"""Small example data bundled with behavenet, for trying things offline.

``demo_session()``
    the real demo recording the default ``python train.py`` and the bundled pretrained models use
    (31 units and the position of a rodent on a linear track; nelpy's example data, MIT).
``mabe22_demo()``
    a tiny **synthetic** example in the official MABe22 round-1 file formats (mouse triplets:
    ``user_train.npy``, ``submission_keypoints.npy``, ``frame_number_map.npy``,
    ``test_labels.npy``, ``split.json``, ``tasks.json``), made by ``scripts/make_mabe_demo.py``. It
    is not MABe data: it exists to run ``behavenet convert``, ``submit``, ``validate-submission``
    and ``mabe-eval`` end to end before downloading the real data (``docs/pretrained.md``).

``python -m behavenet.examples mabe22 DIR`` copies the MABe22 example into ``DIR`` and prints the
walk-through's commands.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

__all__ = ["copy_mabe22_demo", "demo_session", "mabe22_demo"]

_RESOURCES = Path(__file__).resolve().parent / "resources"


def demo_session() -> Path:
    """Path of the bundled demo recording (``data/linear_track.h5`` or its copy in a wheel)."""
    from behavenet.pretrained import demo_session as _demo

    return _demo()


def mabe22_demo() -> Path:
    """The directory of the bundled synthetic MABe22 example (read-only in an installed package)."""
    return _RESOURCES / "mabe22_demo"


WALKTHROUGH = """\
# a SYNTHETIC example in the MABe22 file formats (not MABe data): convert, train, submit, score
behavenet convert user_train.npy train.h5
behavenet convert submission_keypoints.npy test.h5
behavenet train data=pose "data.files=[$PWD/train.h5]" "data.splits='4;1;1;0'" model=pca eval=none hydra.run.dir=run
behavenet submit --run run --data test.h5 --species mouse --frame-map frame_number_map.npy --out submission.npy
behavenet validate-submission submission.npy --species mouse --frame-map frame_number_map.npy
behavenet mabe-eval --submission submission.npy --labels test_labels.npy --split split.json --tasks tasks.json --json scores.json
"""


def copy_mabe22_demo(dest: str | Path) -> Path:
    """Copy the synthetic MABe22 example into ``dest`` (created; existing files are kept unless
    they have the example's names); returns ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(mabe22_demo().iterdir()):
        if f.is_file():
            shutil.copyfile(f, dest / f.name)
    return dest


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2 or argv[0] != "mabe22":
        print("usage: python -m behavenet.examples mabe22 DIR", file=sys.stderr)
        return 2
    dest = copy_mabe22_demo(argv[1])
    print(f"copied the synthetic MABe22 example into {dest}; then, in {dest}:\n")
    print(WALKTHROUGH)
    return 0


if __name__ == "__main__":
    sys.exit(main())
