"""Every option of every config group composes, and its objects instantiate."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"  # (never import `tests.*`: sleap-io ships a `tests` package)

GROUPS = [
    "data",
    "model",
    "trainer",
    "logger",
    "callbacks",
    "eval",
    "debug",
    "experiment",
    "paths",
    "hparams_search",
    "launcher",
]


def options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_group_has_options():
    for group in GROUPS + ["hydra"]:
        assert options(group), f"conf/{group} is empty"


@pytest.fixture
def demo_spec(make_cfg):
    cfg = make_cfg(["logger=none"])
    dm = hydra.utils.instantiate(cfg.data)
    return dm.spec


@pytest.mark.parametrize("option", options("data"))
def test_data_option_instantiates(make_cfg, option, demo_path):
    cfg = make_cfg([f"data={option}"])
    extra = []
    if OmegaConf.is_missing(cfg.data, "files"):  # generic options: the user names the file
        extra.append(f"data.files={demo_path}")
    if cfg.data._target_.endswith("PairedDataModule") and not cfg.data.labels:
        extra.append("data.labels=[position]")
    if extra:
        cfg = make_cfg([f"data={option}"] + extra)
    dm = hydra.utils.instantiate(cfg.data)
    assert dm.input in ("spikes", "calcium", "pose", "video", "behavior")
    assert dm.seed == cfg.seed


@pytest.mark.parametrize("option", options("model"))
def test_model_option_instantiates(make_cfg, option, demo_spec):
    cfg = make_cfg([f"model={option}"])
    spec = demo_spec
    if "video" in option:  # video models need a video input spec
        spec = {"input": "video", "input_shapes": [[16, 16, 1]], "session_ids": ["v"], "labels": {}, "fps": 25.0}
    if option in ("autoencoder", "bet"):  # read several inputs (bet: actions from `behavior`)
        spec = {**spec, "inputs": {"spikes": {"shapes": [[31]]}, "behavior": {"shapes": [[3]]}}}
    if option == "bet_pose":  # the keypoints of a pose input (2 animals x 4 keypoints)
        layout = {"animals": 2, "keypoints": 4, "dims": 2, "keypoint_names": list("abcd"), "heading": [3, 0]}
        spec = {"input": "pose", "input_shapes": [[28]], "inputs": {"pose": {"shapes": [[28]]}}, "pose_layout": layout}
    from behavenet.models.lightning import build_module

    model = build_module(OmegaConf.to_container(cfg.model, resolve=True), spec)
    assert model.embedding_dim >= 1
    if option == "bet_pose":
        assert model.needs_keypoints and model.embedding_dim == 128  # 2 x 72 pooled, reduced to 128
    assert model.family == cfg.model.family or cfg.model.family == "cebra"


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_option_composes(make_cfg, option):
    cfg = make_cfg([f"trainer={option}"])
    assert cfg.trainer._target_ == "lightning.pytorch.trainer.Trainer"
    if option in ("default", "cpu", "ddp_sim"):
        trainer = hydra.utils.instantiate(cfg.trainer, logger=False, enable_progress_bar=False)
        assert trainer.max_steps == cfg.trainer.max_steps
    if option == "gpu":
        assert cfg.trainer.precision == "bf16-mixed"
    if option == "ddp":
        assert cfg.trainer.strategy == "ddp" and cfg.trainer.precision == "bf16-mixed"


@pytest.mark.parametrize("option", options("logger"))
def test_logger_option_instantiates(make_cfg, option):
    from behavenet.train import _instantiate_dict

    cfg = make_cfg([f"logger={option}"])
    loggers = _instantiate_dict(cfg.get("logger"))
    if option == "wandb":
        assert cfg.logger.wandb.offline is True  # never needs a login or the network by default
    if option == "none":
        assert loggers == []
    else:
        assert loggers


@pytest.mark.parametrize("option", options("callbacks"))
def test_callbacks_option_instantiates(make_cfg, option):
    from behavenet.train import _instantiate_dict

    cfg = make_cfg([f"callbacks={option}"])
    cbs = _instantiate_dict(cfg.get("callbacks"))
    if option == "none":  # no callbacks, and no bar (Lightning would add its own)
        assert [type(c).__name__ for c in cbs] == ["NoProgressBar"]
    else:
        assert cbs


@pytest.mark.parametrize("group", ["eval", "debug", "experiment", "paths"])
def test_other_groups_compose(make_cfg, group):
    for option in options(group):
        cfg = make_cfg([f"{group}={option}"])
        for key in cfg:
            if key != "hydra":
                OmegaConf.to_container(cfg[key], resolve=True) if OmegaConf.is_config(cfg[key]) else cfg[key]


@pytest.mark.parametrize("group", ["hparams_search", "launcher"])
def test_sweep_groups_compose(make_cfg, group):
    pytest.importorskip(
        "hydra_plugins.hydra_optuna_sweeper" if group == "hparams_search" else "hydra_plugins.hydra_submitit_launcher"
    )
    for option in options(group):
        cfg = make_cfg([f"{group}={option}"])
        assert cfg.hydra.sweeper or cfg.hydra.launcher


def test_variants_inherit_rather_than_copy():
    """Variant files declare a defaults list and only override what differs."""
    for rel in [
        "trainer/gpu.yaml",
        "trainer/ddp.yaml",
        "trainer/cpu.yaml",
        "trainer/ddp_sim.yaml",
        "data/linear_track.yaml",
        "data/pose.yaml",
        "data/video.yaml",
        "data/paired.yaml",
    ]:
        text = (CONF / rel).read_text()
        assert "defaults:" in text, rel
        assert "_target_" not in text or rel.startswith(("data/", "model/"))
