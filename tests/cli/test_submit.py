"""behavenet submit: a trained run + converted test sessions -> a valid MABe submission."""

from __future__ import annotations

import json

import numpy as np

from behavenet.api import load_run
from behavenet.cli import main as cli
from behavenet.data.synthetic import generate
from behavenet.train import run


def test_submit_places_rows_by_frame_map(make_cfg, tmp_path):
    out = tmp_path / "run"
    run(
        make_cfg(
            [
                "data=synthetic_social",
                "model=pca",
                "eval=none",
                "logger=none",
                "test=false",
                "trainer.enable_progress_bar=false",
                "trainer.max_steps=5",
                "data.generator.n_sequences=8",
                "data.generator.sequence_length=50",
                f"data.cache_dir={tmp_path / 'cache'}",
                "data.splits='4;1;1;1'",
            ],
            out,
        )
    )
    assert (out / "normalization.json").exists()
    # "test" sessions: two files whose trial names are the sequence ids
    a = generate("social", tmp_path / "test_a.h5", seed=5, n_sequences=3, sequence_length=50)
    b = generate("social", tmp_path / "test_b.h5", seed=6, n_sequences=2, sequence_length=50)
    from behavenet.data.format import write_session
    from behavenet.data.reader import read_session

    sb = read_session(b)
    sb.trial_names = ["other0", "other1"]
    write_session(sb, b, overwrite=True)
    order = ["other1", "seq0002", "seq0000", "other0", "seq0001"]
    fmap = {k: [i * 50, (i + 1) * 50] for i, k in enumerate(order)}
    (tmp_path / "map.json").write_text(json.dumps(fmap))
    sub = tmp_path / "submission.npy"
    assert (
        cli(
            [
                "submit",
                "--run",
                str(out),
                "--data",
                str(a),
                str(b),
                "--species",
                "mouse",
                "--out",
                str(sub),
                "--frame-map",
                str(tmp_path / "map.json"),
            ]
        )
        == 0
    )
    assert cli(["validate-submission", str(sub), "--species", "mouse", "--frame-map", str(tmp_path / "map.json")]) == 0
    obj = np.load(sub, allow_pickle=True).item()
    assert obj["embeddings"].dtype == np.float32 and obj["embeddings"].shape == (250, 8)
    trained = load_run(out)
    emb = {s.session_id: s for s in trained.embed_files([a, b])}
    np.testing.assert_allclose(
        obj["embeddings"][100:150], emb["synthetic-social-5"].trial_embedding("seq0000"), rtol=1e-6
    )
    np.testing.assert_allclose(obj["embeddings"][0:50], emb["synthetic-social-6"].trial_embedding("other1"), rtol=1e-6)


def test_submit_missing_sequence_is_one_line_error(make_cfg, tmp_path, capsys):
    out = tmp_path / "run"
    run(
        make_cfg(
            [
                "data=synthetic_social",
                "model=pca",
                "eval=none",
                "logger=none",
                "test=false",
                "trainer.enable_progress_bar=false",
                "trainer.max_steps=2",
                "data.generator.n_sequences=8",
                "data.generator.sequence_length=40",
                f"data.cache_dir={tmp_path / 'cache'}",
                "data.splits='4;1;1;1'",
            ],
            out,
        )
    )
    a = generate("social", tmp_path / "t.h5", seed=5, n_sequences=2, sequence_length=40)
    (tmp_path / "map.json").write_text(json.dumps({"seq0000": [0, 40], "nope": [40, 80]}))
    sub = tmp_path / "s.npy"
    assert (
        cli(
            [
                "submit",
                "--run",
                str(out),
                "--data",
                str(a),
                "--species",
                "mouse",
                "--out",
                str(sub),
                "--frame-map",
                str(tmp_path / "map.json"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "1 sequences of the frame map are in none of the sessions (first: 'nope')" in err
    assert len(err.splitlines()) == 1 and not sub.exists()


def _fail_if_loaded(monkeypatch):
    import behavenet.api

    def boom(*a, **k):
        raise AssertionError("the run was loaded although the output path is unusable")

    monkeypatch.setattr(behavenet.api, "load_run", boom)


def test_submit_bad_out_fails_before_embedding(tmp_path, capsys, monkeypatch):
    _fail_if_loaded(monkeypatch)
    (tmp_path / "map.json").write_text(json.dumps({"seq0000": [0, 40]}))
    data = tmp_path / "t.h5"
    data.write_bytes(b"not read")
    base = [
        "submit",
        "--run",
        str(tmp_path / "run"),
        "--data",
        str(data),
        "--species",
        "mouse",
        "--frame-map",
        str(tmp_path / "map.json"),
        "--out",
    ]
    adir = tmp_path / "adir"
    adir.mkdir()
    cases = [
        (tmp_path / "nonexistent" / "s.npy", "does not exist"),
        (adir, "is a directory"),
        (data / "s.npy", "is not a directory"),
        (data, "is the --data input"),
        (tmp_path / "map.json", "is the --frame-map input"),
    ]
    for out, expect in cases:
        assert cli(base + [str(out)]) == 2, out
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("behavenet submit: error:"), err
        assert "--out" in err and expect in err, err
    assert not (tmp_path / "nonexistent").exists() and data.read_bytes() == b"not read"
    assert not list(tmp_path.glob(".tmp-*"))


def test_write_submission_checks_out_path_before_fetching(tmp_path):
    from behavenet.errors import FormatError
    from behavenet.eval.submission import write_submission

    def getter(clip):
        raise AssertionError("embedding fetched although the output path is unusable")

    import pytest

    with pytest.raises(FormatError, match="does not exist"):
        write_submission(tmp_path / "no" / "s.npy", {"a": (0, 3)}, getter, species="mouse")
