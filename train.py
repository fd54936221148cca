"""Train a behavenet model: ``python train.py model=... data=... trainer=...`` (Hydra overrides).

Everything happens in :func:`behavenet.train.run`; see README.md and docs/configuration.md.
"""

import sys
from pathlib import Path

import hydra

import behavenet.train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg):
    return behavenet.train.main(cfg)


if __name__ == "__main__":
    behavenet.train.preflight(sys.argv[1:], Path(__file__).resolve().parent / "conf")  # misspelt keys: one line
    main()
