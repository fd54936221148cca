"""``behavenet embed`` and ``behavenet.load_embeddings``: embeddings files with provenance."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import behavenet
from behavenet.cli import main
from behavenet.embeddings import embeddings_attrs, load_embeddings
from behavenet.pretrained import BUNDLED_DIR, sha256_file

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "linear_track.h5"
MODEL = "linear-track-contrastive"


def test_embed_cli_writes_the_models_embedding_with_provenance(tmp_path, capsys):
    out = tmp_path / "emb.h5"
    assert main(["embed", "--model", MODEL, "--data", str(DEMO), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}: 1 session(s), 9852 frames x 8 dims ({MODEL})\n"
    (se,) = behavenet.load_embeddings(out)
    expected = behavenet.load_pretrained(MODEL).embed(DEMO)
    np.testing.assert_array_equal(se.embedding, expected.embedding)
    np.testing.assert_array_equal(se.frame_index, np.arange(9852))
    assert se.split is None and se.trial_names == expected.trial_names
    assert se.vocabularies["direction"] == ["rest", "leftward", "rightward"]
    np.testing.assert_array_equal(se.labels["position"], expected.labels["position"])
    attrs = embeddings_attrs(out)
    card = json.loads((BUNDLED_DIR / MODEL / "card.json").read_text())
    assert attrs["source_model"] == MODEL and attrs["model"] == "contrastive"
    assert attrs["checkpoint_sha256"] == card["files"]["model.pt"]["sha256"]
    config = json.loads(attrs["config"])
    assert config["family"] == "contrastive" and config["model"] == card["config"]
    assert config["data"]["input"] == "spikes"
    with h5py.File(out) as f:
        assert f["sessions/s000"].attrs["data_sha256"] == sha256_file(DEMO)


def test_embed_cli_bad_input_is_one_line_and_leaves_no_output(tmp_path, capsys):
    out = tmp_path / "emb.h5"
    cases = [
        (["--model", "nope"], "nope: no such file, run directory or pretrained model (known names: "),
        (
            ["--model", MODEL, "--session-state", "3"],
            "--session-state: expected 0..0 (training sessions) or 'fit', got 3",
        ),
        (["--model", MODEL, "--session-state", "x"], "--session-state: expected an integer or 'fit', got 'x'"),
    ]
    for extra, message in cases:
        assert main(["embed", "--data", str(DEMO), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("behavenet embed: error: ") and message in err and err.count("\n") == 1
    assert main(["embed", "--model", MODEL, "--data", str(tmp_path / "none.h5"), "--out", str(out)]) == 2
    assert (
        capsys.readouterr().err == f"behavenet embed: error: {tmp_path / 'none.h5'}: --data: session file not found\n"
    )
    assert main(["embed", "--model", MODEL, "--data", str(DEMO), "--out", str(tmp_path / "e.npy")]) == 2
    assert "--out: expected a .h5 file name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_embed_cli_interrupted_write_leaves_nothing(tmp_path, monkeypatch, capsys):
    out = tmp_path / "emb.h5"
    out.write_bytes(b"previous")
    real = h5py.Group.create_dataset

    def failing(self, name, *args, **kwargs):
        if name == "trial":
            raise KeyboardInterrupt
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    assert main(["embed", "--model", MODEL, "--data", str(DEMO), "--out", str(out)]) == 130
    assert out.read_bytes() == b"previous"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.h5"]  # no temporary file left


def test_load_embeddings_refuses_other_files(tmp_path):
    with pytest.raises(behavenet.pretrained.FormatError, match="embeddings file not found"):
        load_embeddings(tmp_path / "missing.h5")
    with pytest.raises(behavenet.pretrained.FormatError) as err:
        load_embeddings(DEMO)
    assert str(err.value) == f"{DEMO}: attrs.format: expected 'behavenet-embeddings'"


def test_an_embeddings_file_is_an_input_of_the_data_modules(tmp_path):
    from behavenet.data import SessionDataModule
    from behavenet.embeddings import SessionEmbedding, write_embeddings

    # external features (e.g. a video model's): 3 trials of a 2-D signal, a label of each kind
    n = 300
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(n, 5)).astype(np.float32)
    se = SessionEmbedding(
        session_id="mouse1",
        embedding=feats,
        frame_index=np.arange(n),
        trial=np.repeat(np.arange(3), n // 3),
        labels={"speed": rng.normal(size=(n, 1)).astype(np.float32), "state": rng.integers(0, 2, n)},
        label_kinds={"speed": "continuous", "state": "discrete"},
        vocabularies={"state": ["rest", "run"]},
        fps=30.0,
        trial_names=["a", "b", "c"],
    )
    path = write_embeddings(
        tmp_path / "feats.h5", [se], model="videomodel", embedding_names=[f"f{i}" for i in range(5)]
    )
    dm = SessionDataModule(
        files=[str(path)],
        input="calcium",
        labels=["speed", "state"],
        normalize=False,
        splits="1;0;0;0",
        convert_cache=str(tmp_path / "cache"),
    )
    dm.setup()
    sid, split, _ = next(dm.iter_full_sessions())
    assert sid == "mouse1" and split.fps == 30.0
    np.testing.assert_array_equal(split.inputs["calcium"], feats)
    np.testing.assert_array_equal(split.labels["speed"], se.labels["speed"])
    np.testing.assert_array_equal(split.labels["state"], se.labels["state"])
    assert list(dm.readers[0].trial_names) == ["a", "b", "c"]
    assert dm.readers[0].unit_names("calcium") == [f"f{i}" for i in range(5)]
    dm.teardown()
    assert len(list((tmp_path / "cache").glob("*/*.h5"))) == 1  # converted once, cached


def test_offline_mabe_walkthrough_runs_end_to_end(make_cfg, tmp_path, capsys, monkeypatch):
    """The bundled synthetic MABe22 example: convert -> train -> submit -> validate -> mabe-eval,
    as docs/pretrained.md and ``python -m behavenet.examples mabe22 DIR`` give it."""
    from behavenet.examples import WALKTHROUGH, copy_mabe22_demo
    from behavenet.train import run

    d = copy_mabe22_demo(tmp_path / "mabe")
    assert "SYNTHETIC" in (d / "README.md").read_text()
    monkeypatch.chdir(d)
    steps = [line.split()[1:] for line in WALKTHROUGH.splitlines() if line.startswith("behavenet ")]
    assert [s[0] for s in steps] == ["convert", "convert", "train", "submit", "validate-submission", "mabe-eval"]
    assert main(steps[0]) == 0 and main(steps[1]) == 0
    # the train step, composed the way `behavenet train` composes it
    overrides = [o.strip('"').replace("$PWD", str(d)) for o in steps[2][1:] if not o.startswith("hydra.")]
    run(make_cfg(overrides + ["logger=none", "trainer.enable_progress_bar=false"], d / "run"))
    for step in steps[3:]:
        assert main(step) == 0, step
    out = capsys.readouterr().out
    assert "wrote submission.npy: 1440 rows x 8 dims, valid" in out
    scores = json.loads((d / "scores.json").read_text())
    assert set(scores["scores"]) == {"strain", "lights", "experiment_day", "close", "chases"}
    assert 0 <= scores["summary"]["All-F1"] <= 1

    # features computed elsewhere (here: the run's embedding of the test sequences, written as an
    # embeddings file) go to the leaderboard through model=identity like a model's embedding
    assert main(["embed", "--model", "run", "--data", "test.h5", "--out", "ext.h5"]) == 0
    run(
        make_cfg(
            [
                "data=session",
                "model=identity",
                f"data.files=[{d / 'ext.h5'}]",
                "data.input=calcium",
                "eval=none",
                "data.normalize=false",
            ]
            + ["data.splits='4;1;1;0'", "logger=none", "trainer.enable_progress_bar=false", "callbacks=none"],
            d / "idrun",
        )
    )
    capsys.readouterr()
    args = ["--species", "mouse", "--frame-map", "frame_number_map.npy"]
    assert main(["submit", "--run", "idrun", "--data", "ext.h5", "--out", "ext.npy", *args]) == 0
    assert "wrote ext.npy: 1440 rows x 8 dims, valid" in capsys.readouterr().out
    np.testing.assert_array_equal(
        np.load("ext.npy", allow_pickle=True).item()["embeddings"],
        np.load("submission.npy", allow_pickle=True).item()["embeddings"],
    )


def test_end_of_run_summary_names_steps_time_headline_scores_and_directory(tmp_path):
    from behavenet.train import summary_lines

    metrics = {
        "model": "contrastive",
        "steps": 2000,
        "wall_time_s": 46.12,
        "decoding": {
            "position": {
                "kind": "continuous",
                "knn": {"test": {"r2": 0.6812, "median_abs_error": 33.61}},
                "linear": {"test": {"r2": 0.41, "median_abs_error": 60.2}},
            },
            "direction": {"kind": "discrete", "knn": {"test": {"accuracy": 0.61, "f1_macro": 0.53}}},
        },
    }
    assert summary_lines(metrics, tmp_path) == [
        "contrastive: 2000 steps in 46.1 s; test direction kNN accuracy 0.61, F1 0.53; "
        "test position kNN R² 0.68, median error 33.6",
        f"run directory: {tmp_path}",
    ]
    bare = {"model": "pca", "steps": 0, "wall_time_s": 1.0, "test": {"test/loss": 0.1043}}
    assert summary_lines(bare, tmp_path)[0] == "pca: 0 steps in 1.0 s; test loss 0.1043"


def test_external_features_are_evaluated_like_a_model_with_model_identity(make_cfg, tmp_path):
    """An embeddings file of features computed elsewhere, run through ``model=identity``: the run's
    embeddings are those features, unchanged, and a label they hold linearly is decoded."""
    from behavenet.embeddings import SessionEmbedding, write_embeddings
    from behavenet.train import run

    n = 1200
    rng = np.random.default_rng(0)
    t = np.arange(n) / 30.0
    feats = np.stack([np.sin(t), np.cos(t), rng.normal(size=n)], 1).astype(np.float32)
    se = SessionEmbedding(
        session_id="mouse1",
        embedding=feats,
        frame_index=np.arange(n),
        trial=np.repeat(np.arange(12), n // 12),
        labels={"phase": (np.sin(t) + 0.5 * np.cos(t))[:, None].astype(np.float32)},
        label_kinds={"phase": "continuous"},
        fps=30.0,
    )
    path = write_embeddings(tmp_path / "feats.h5", [se], model="videomodel")
    out = tmp_path / "run"
    cfg = make_cfg(
        [
            "model=identity",
            f"data.files=[{path}]",
            "data.input=calcium",
            "data.labels=[phase]",
            "data.normalize=false",
            f"data.convert_cache={tmp_path / 'cache'}",
            "logger=none",
            "trainer.enable_progress_bar=false",
            "callbacks=none",
        ],
        out,
    )
    metrics = run(cfg)
    (emb,) = load_embeddings(out / "embeddings.h5")
    np.testing.assert_array_equal(emb.embedding, feats)
    assert metrics["embedding_dim"] == 3 and metrics["steps"] == 0
    assert metrics["decoding"]["phase"]["linear"]["test"]["r2"] > 0.99
