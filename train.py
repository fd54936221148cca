"""Train a behavenet model: ``python train.py model=... data=... trainer=...`` (Hydra overrides)."""

import hydra

from behavenet.train import get_metric_value, run


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg):
    return get_metric_value(run(cfg), cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
