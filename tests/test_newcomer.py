"""The newcomer's path of issue 13: the README's own-data recipe on a real tracking file, short
recordings, sweeps, where runs go, progress output, misspelt overrides and log noise."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from behavenet.train import run

ROOT = Path(__file__).resolve().parents[1]
DLC_CSV = ROOT / "data/dlc-openfield/m3v1mp4_DLC_predictions_from_ethome.csv"
QUIET = ["trainer.enable_progress_bar=false", "logger=none", "figures=false"]


@pytest.fixture(scope="module")
def openfield(tmp_path_factory):
    """The README's own-data recipe, step one: `behavenet convert` on a real DeepLabCut table
    (one mouse, 4 keypoints, 2,330 frames at 30 fps, no labels)."""
    if not DLC_CSV.exists():
        pytest.skip("data/dlc-openfield is not in this checkout")
    from behavenet import io

    out = tmp_path_factory.mktemp("openfield") / "s.h5"
    io.convert(str(DLC_CSV), str(out), fps=30)
    return out


def test_own_data_without_labels_trains_time_contrastive(make_cfg, tmp_path, openfield, caplog):
    """Stumble 1: `python train.py data=pose data.files=s.h5` failed with "'time_delta' needs a
    continuous label"; the default model now trains time-contrastive and says so in one line."""
    out = tmp_path / "run"
    cfg = make_cfg(QUIET + ["data=pose", f"data.files={openfield}", "trainer.max_steps=5", "eval=none"], out)
    with caplog.at_level(logging.INFO, logger="behavenet.train"):
        metrics = run(cfg)
    assert metrics["model"] == "contrastive" and metrics["steps"] == 5
    lines = [r.getMessage() for r in caplog.records if "model.conditional" in r.getMessage()]
    assert lines == [
        "model.conditional=time (time-contrastive, no labels): the data serve no labels; "
        "name some with data.labels=[...] to condition on behaviour"
    ]
    from omegaconf import OmegaConf

    assert OmegaConf.load(out / "config.yaml").model.conditional == "time"
    import torch

    ckpt = torch.load(out / "checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["config"]["conditional"] == "time"


def test_explicit_conditional_without_labels_is_still_an_error(make_cfg, tmp_path, openfield):
    """Asking for time_delta explicitly keeps the one-line error (nothing is silently changed)."""
    from behavenet.errors import ConfigError

    cfg = make_cfg(QUIET + ["data=pose", f"data.files={openfield}", "model.conditional=time_delta"], tmp_path / "r")
    with pytest.raises(ConfigError, match="'time_delta' needs a continuous label; the selected labels are none"):
        run(cfg)
