"""eval=probes: MABe-style probes on a run's labels, run automatically after training."""

from __future__ import annotations

import json

import numpy as np

from behavenet.embeddings import SessionEmbedding
from behavenet.eval.downstream import clip_runs, probe_metrics
from behavenet.train import run


def test_clip_runs_split_on_trial_and_split_changes():
    se = SessionEmbedding(
        "s",
        np.zeros((8, 2)),
        np.arange(8),
        trial=np.array([0, 0, 0, 0, 1, 1, 1, 1]),
        split=np.array([0, 0, 3, 3, 3, 1, 1, 1], np.int8),
    )
    assert clip_runs(se).tolist() == [0, 0, 1, 1, 2, 3, 3, 3]


def test_probes_recover_a_linearly_decodable_label():
    rng = np.random.default_rng(0)
    n_trials, length = 40, 50
    trial = np.repeat(np.arange(n_trials), length)
    cond = (np.arange(n_trials) % 2)[trial]
    beh = (rng.random(n_trials * length) < 0.3).astype(np.int64)
    emb = np.c_[
        beh + 0.1 * rng.normal(size=len(beh)), cond + 0.1 * rng.normal(size=len(beh)), rng.normal(size=len(beh))
    ].astype(np.float32)
    split = np.where(np.arange(n_trials) % 4 == 3, 2, 0)[trial].astype(np.int8)
    se = SessionEmbedding(
        "s",
        emb,
        np.arange(len(beh)),
        trial,
        split,
        labels={"beh": beh, "cond": cond, "speed": emb[:, :1] * 2.0},
        label_kinds={"beh": "discrete", "cond": "discrete", "speed": "continuous"},
    )
    res = probe_metrics([se], {"tasks": None, "knn_neighbors": 5, "plot": False})
    assert res["beh"]["level"] == "frame" and res["beh"]["ridge"] > 0.95
    assert res["cond"]["level"] == "sequence" and res["cond"]["ridge_pooled"] == 1.0
    assert res["speed"]["metric"] == "mse" and res["speed"]["ridge"] < 0.05


def test_eval_probes_after_training(make_cfg, tmp_path):
    out = tmp_path / "run"
    cfg = make_cfg(
        [
            "data=synthetic_social",
            "model=pca",
            "eval=probes",
            "logger=none",
            "trainer.enable_progress_bar=false",
            "trainer.max_steps=10",
            "data.generator.n_sequences=16",
            "data.generator.sequence_length=100",
            f"data.cache_dir={tmp_path / 'cache'}",
            "data.splits='4;1;1;1'",
        ],
        out,
    )
    metrics = run(cfg)
    probes = json.loads((out / "metrics.json").read_text())["probes"]
    assert set(probes) == {"approach", "contact", "condition", "day"}
    assert probes["condition"]["level"] == "sequence" and probes["day"]["metric"] == "mse"
    assert (out / "probes.png").stat().st_size > 1000 and (out / "probes.csv").exists()
    assert "probes/contact/ridge" in metrics["flat"]
