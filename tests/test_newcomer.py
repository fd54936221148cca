"""The newcomer's path of issue 13: the README's own-data recipe on a real tracking file, short
recordings, sweeps, where runs go, progress output, misspelt overrides and log noise."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
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


def test_run_without_labels_says_why_nothing_was_decoded(make_cfg, tmp_path, openfield):
    """A recording with no labels used to end with `decoding: {}` in metrics.json and no word on
    why; the reason is now in metrics.json and in the run's closing lines."""
    from behavenet.train import summary_lines

    out = tmp_path / "run"
    cfg = make_cfg(QUIET + ["data=pose", f"data.files={openfield}", "trainer.max_steps=3"], out)
    metrics = run(cfg)
    assert metrics["decoding"] == {}
    assert "no labels or behaviour variables to decode" in metrics["decoding_skipped"]
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["decoding_skipped"] == metrics["decoding_skipped"]
    assert any(line.startswith("not decoded: the sessions have no labels") for line in summary_lines(metrics, out))


def test_explicit_conditional_without_labels_is_still_an_error(make_cfg, tmp_path, openfield):
    """Asking for time_delta explicitly keeps the one-line error (nothing is silently changed)."""
    from behavenet.errors import ConfigError

    cfg = make_cfg(QUIET + ["data=pose", f"data.files={openfield}", "model.conditional=time_delta"], tmp_path / "r")
    with pytest.raises(ConfigError, match="'time_delta' needs a continuous label; the selected labels are none"):
        run(cfg)


def _gap_runs(roles) -> list[int]:
    """Lengths of the runs of 'gap' frames in a per-frame role array."""
    runs, n = [], 0
    for r in list(roles) + ["end"]:
        if r == "gap":
            n += 1
        elif n:
            runs.append(n)
            n = 0
    return runs


def test_short_recording_is_split_by_time_and_scored(make_cfg, tmp_path, openfield, caplog):
    """Stumble 2: one 78 s recording got no val/test frames (all 2,330 frames trained) and no
    scores; it is now split into train/val/test blocks by time, the split is printed, and the run
    has test scores."""
    out = tmp_path / "run"
    overrides = ["data=pose", f"data.files={openfield}", "model=contrastive_time", "trainer.max_steps=5"]
    with caplog.at_level(logging.INFO, logger="behavenet.data.datamodules"):
        metrics = run(make_cfg(QUIET + overrides + ["trainer.val_check_interval=5"], out))
    assert [r.getMessage() for r in caplog.records if "split by time" in r.getMessage()] == [
        "data: session 'm3v1mp4_DLC_predictions_from_ethome' (2330 frames, 1 trial(s)) is too short for "
        "trial-wise splits '8;1;1;1'; split by time: train 0-1816, val 1846-2073, test 2103-2330 (frames; "
        "gaps of 30 frames; data.time_blocks=false trains on every frame)"
    ]
    assert metrics["test"]["test/loss"] > 0 and metrics["train"]["val/loss"] > 0
    from behavenet.embeddings import load_embeddings

    (sess,) = load_embeddings(out / "embeddings.h5")
    assert [int((sess.split == code).sum()) for code in range(4)] == [1816, 227, 227, 60]


def test_time_block_gaps_cover_the_receptive_field(openfield):
    """A model whose receptive field is longer than the one-second default gap widens the gaps."""
    from behavenet.data import PoseDataModule
    from behavenet.models.lightning import build_module

    dm = PoseDataModule(files=str(openfield))
    dm.setup("fit")
    assert _gap_runs(dm.frame_roles[0]) == [30, 30]
    model = build_module({"family": "contrastive", "conditional": "time", "model_architecture": "offset36"}, dm.spec)
    left, right = model.receptive_field
    assert left + right == 36
    dm.attach_model(model)
    assert _gap_runs(dm.frame_roles[0]) == [36, 36]
    assert {sd.n_frames for s in ("val", "test") for sd in dm.split_data[s]} == {225}
    off = PoseDataModule(files=str(openfield), time_blocks=False)
    off.setup("fit")
    assert off.split_data["val"] == [] and off.split_data["train"][0].n_frames == 2330


def _train_py(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python <checkout>/train.py ARGS` run from ``cwd`` (as from a folder outside the clone)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_runs_go_to_the_working_folder_with_short_quiet_output(tmp_path):
    """Stumbles 4, 5 and 8: a run started elsewhere wrote into <clone>/outputs; the progress bar
    redrew every 10 steps into non-terminal output; "NumExpr defaulting to N threads" was logged."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = ["trainer.max_steps=100", "logger=none", "figures=false", "trainer.val_check_interval=50"]
    res = _train_py(args + ["trainer.limit_val_batches=2", "callbacks.progress_bar.refresh_rate=2"], elsewhere)
    assert res.returncode == 0, res.stderr[-3000:]
    (run_dir,) = (elsewhere / "outputs/train/runs").iterdir()
    assert (run_dir / "metrics.json").exists()
    assert not any(ROOT.joinpath("outputs/train/runs").glob(run_dir.name))
    text = (res.stdout + res.stderr).replace("\r", "\n")
    assert "NumExpr" not in text
    redraws = [ln for ln in text.splitlines() if ln.startswith("train:")]
    assert 10 <= len(redraws) <= 30, redraws  # ~10 updates (x2 for the metrics), not one per 2 steps
    assert redraws[-1].startswith("train: 100%") and "100/100" in redraws[-1]
    assert "Epoch" not in text


def test_no_pbar_shows_no_progress_bar(tmp_path):
    """Stumble 5: `callbacks=no_pbar` still showed Lightning's own bar ("Epoch 0/-2")."""
    res = _train_py(["callbacks=no_pbar", "model=pca", "logger=none", "figures=false", "eval=none"], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    text = res.stdout + res.stderr
    assert "it/s" not in text and "Epoch" not in text and "Validation" not in text
    assert "run directory:" in text


@pytest.mark.slow
def test_documented_optuna_sweep_runs_quietly(tmp_path):
    """Stumble 3: `python train.py -m hparams_search=pca_optuna` (docs/configuration.md) printed
    seven "[HYDRA] setup plugin alembic..." lines."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    res = _train_py(["-m", "hparams_search=pca_optuna", "hydra.sweeper.n_trials=2", "figures=false"], tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    text = res.stdout + res.stderr
    assert "alembic" not in text and "NumExpr" not in text
    assert "Best value:" in text
    assert len(list((tmp_path / "outputs/train/multiruns").glob("*/*/metrics.json"))) == 2


def test_documented_defaults_match_the_config(make_cfg, tmp_path):
    """Stumble 7: docs/configuration.md stated defaults (`threads`, `optimized_metric`) that the
    config did not have. Every `| key | default |` row of its tables is held to conf/."""
    import re

    import yaml
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_container(make_cfg([], tmp_path / "run"), resolve=False)
    text = (ROOT / "docs/configuration.md").read_text()
    rows = re.findall(r"^\| (`[^|]+`) \| ([^|]+) \|", text[text.index("## Top-level keys") :], re.M)
    checked = 0
    for keys, default in rows:
        names = re.findall(r"`([\w.]+)`", keys)
        if not names or not all(re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", n) for n in names):
            continue
        if default.strip() == "family's":
            continue
        values = [v.strip().strip("`") for v in default.split(",")] if len(names) > 1 else [default.strip("` ")]
        if len(values) == 1:
            values *= len(names)
        for name, text in zip(names, values):
            node = cfg
            for part in name.split("."):
                node = node[part]
            assert node == yaml.safe_load(text), f"docs/configuration.md: {name} default {text!r}, conf has {node!r}"
            checked += 1
    assert checked >= 15


def test_misspelt_override_is_one_line_with_the_nearest_key(tmp_path):
    """Stumble 6: `model.output_dim=3` gave Hydra's "Key 'output_dim' is not in struct" and
    `trainer.max_steps=abc` a raw TypeError from Lightning."""
    res = _train_py(["model.output_dim=3"], tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        "behavenet train: error: config model.output_dim: no such key in the config; "
        "did you mean model.output_dimension? (+model.output_dim=... adds a new key)"
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run(
        [sys.executable, "-m", "behavenet.cli", "train", "trainer.max_steps=abc"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        "behavenet train: error: config trainer.max_steps: expected an integer (default 2000), got 'abc'"
    ]
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["model=contrastiv"], "config model: no option 'contrastiv' in conf/model/; did you mean model=contrastive?"),
        (["-m", "seed=0,x"], "config seed: expected an integer (default 0), got 'x'"),
        (["model=pca", "model.windw=3"], "config model.windw: no such key in the config; did you mean model.window?"),
        (["data.splitz=3"], "config data.splitz: no such key in the config; did you mean data.splits?"),
        (["trainer.enable_progress_bar=maybe"], "config trainer.enable_progress_bar: expected true or false"),
    ],
)
def test_override_mistakes(argv, message):
    from behavenet.errors import ConfigError
    from behavenet.train import check_overrides

    with pytest.raises(ConfigError) as err:
        check_overrides(argv, ROOT / "conf")
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    "argv",
    [
        ["model=pca", "model.window=3", "trainer.devices=auto"],
        ["model.time_offsets=[5,10]", "+foo=1", "~tags", "hydra.run.dir=x", "seed=null"],
        ["-m", "model.output_dimension=4,8", "model=pca,contrastive", "--cfg", "job"],
        ["experiment=linear_track_pca", "model.whiten=true"],
        ["-m", "hparams_search=pca_optuna", "model.output_dimension=choice(2,4)"],
        ["--config-name", "other", "model.nothing=1"],  # left to Hydra
    ],
)
def test_valid_overrides_pass(argv):
    from behavenet.train import check_overrides

    check_overrides(argv, ROOT / "conf")
