"""``behavenet train [OVERRIDES...]``: the same as ``python train.py [OVERRIDES...]``.

Everything after ``train`` goes to Hydra unchanged (``model=pca trainer.max_steps=100``, ``-m`` for
multirun, ``--cfg job`` to print the config). The config directory is ``$BEHAVENET_CONF`` if set,
else the ``conf/`` folder of the behavenet checkout, else the copy inside an installed wheel, else
``./conf``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NAME = "train"
HELP = "train a model (Hydra overrides, exactly like `python train.py ...`)"


def register(parser):
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=pca trainer=gpu")


def conf_dir() -> Path:
    env = os.environ.get("BEHAVENET_CONF")
    if env:
        return Path(env).resolve()
    repo = Path(__file__).resolve().parents[3] / "conf"
    if (repo / "train.yaml").exists():
        return repo
    bundled = Path(__file__).resolve().parents[2] / "_bundled" / "conf"  # an installed wheel
    if (bundled / "train.yaml").exists():
        return bundled
    return (Path.cwd() / "conf").resolve()


def run_hydra(argv: list[str]) -> int:
    import hydra

    import behavenet.train
    from behavenet.errors import ConfigError

    cdir = conf_dir()
    if not (cdir / "train.yaml").exists():
        raise ConfigError(
            "BEHAVENET_CONF",
            f"no train.yaml in {cdir}; run from a behavenet checkout, install behavenet from a wheel, or set BEHAVENET_CONF",
        )

    behavenet.train.preflight(argv, cdir)  # a misspelt key or a wrongly typed value: one line, exit 2

    @hydra.main(version_base="1.3", config_path=str(cdir), config_name="train")
    def _main(cfg):
        return behavenet.train.main(cfg)

    saved = sys.argv
    sys.argv = ["behavenet train", *argv]
    try:
        _main()
    finally:
        sys.argv = saved
    return 0


def run(args) -> int:
    return run_hydra(list(args.overrides))
