"""``behavenet mabe-eval``: output paths are checked before the evaluation runs; help text."""

from __future__ import annotations

import json

import pytest

import behavenet.eval.mabe as mabe
from behavenet.cli import main
from behavenet.errors import FormatError


def _args(fx, out_json, out_csv=None):
    args = [
        "mabe-eval",
        "--submission",
        str(fx.submission),
        "--labels",
        str(fx.labels),
        "--split",
        str(fx.split),
        "--tasks",
        str(fx.tasks),
        "--json",
        str(out_json),
        "--quiet",
    ]
    return args + (["--csv", str(out_csv)] if out_csv is not None else [])


@pytest.fixture
def no_eval(monkeypatch):
    """Make the evaluation itself fail loudly: a bad output must be refused before it starts."""

    def boom(*a, **k):
        raise AssertionError("the evaluation ran although an output path is unusable")

    monkeypatch.setattr(mabe, "evaluate_files", boom)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("behavenet mabe-eval: error:"), err
    return err


@pytest.mark.parametrize("which", ["--json", "--csv"])
def test_missing_output_directory_fails_before_evaluation(mouse_fixture, tmp_path, capsys, no_eval, which):
    missing = tmp_path / "nonexistent_dir"
    out_json = missing / "x.json" if which == "--json" else tmp_path / "r.json"
    out_csv = missing / "x.csv" if which == "--csv" else tmp_path / "r.csv"
    assert main(_args(mouse_fixture, out_json, out_csv)) == 2
    err = _one_line_error(capsys)
    assert which in err and str(missing) in err and "does not exist" in err
    assert not missing.exists() and not out_json.exists() and not out_csv.exists()
    assert not list(tmp_path.glob(".tmp-*"))


def test_output_that_is_a_directory_or_under_a_file(mouse_fixture, tmp_path, capsys, no_eval):
    d = tmp_path / "adir"
    d.mkdir()
    assert main(_args(mouse_fixture, d)) == 2
    err = _one_line_error(capsys)
    assert "--json" in err and "is a directory" in err
    f = tmp_path / "afile"
    f.write_text("keep")
    assert main(_args(mouse_fixture, tmp_path / "r.json", f / "x.csv")) == 2
    err = _one_line_error(capsys)
    assert "--csv" in err and "is not a directory" in err
    assert f.read_text() == "keep" and not (tmp_path / "r.json").exists()


def test_unwritable_directory(mouse_fixture, tmp_path, capsys, no_eval, monkeypatch):
    import behavenet.utils.files as files

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    # root ignores directory permissions, so simulate the refusal where the probe file is created
    monkeypatch.setattr(files.tempfile, "mkstemp", denied)
    assert main(_args(mouse_fixture, tmp_path / "r.json")) == 2
    err = _one_line_error(capsys)
    assert "--json" in err and "not writable (Permission denied)" in err


def test_output_may_not_overwrite_an_input_or_the_other_output(mouse_fixture, tmp_path, capsys, no_eval):
    fx = mouse_fixture
    before = fx.labels.read_bytes()
    assert main(_args(fx, fx.labels)) == 2
    err = _one_line_error(capsys)
    assert "--json" in err and "is the --labels input" in err
    assert fx.labels.read_bytes() == before
    assert main(_args(fx, tmp_path / "r.out", tmp_path / "r.out")) == 2
    err = _one_line_error(capsys)
    assert "--csv" in err and "is the --json input" in err


def test_good_outputs_still_written(mouse_fixture, tmp_path):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    assert main(_args(mouse_fixture, out_json, out_csv)) == 0
    assert set(json.loads(out_json.read_text())) >= {"scores", "summary"}
    assert out_csv.read_text().startswith("Task ID,")
    assert not list(tmp_path.glob(".tmp-*"))  # the writability probe leaves nothing behind


def test_atomic_write_text_missing_directory_is_a_format_error(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        mabe.atomic_write_text(tmp_path / "no" / "x.json", "{}")


def test_help_shows_a_single_percent(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["mabe-eval", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "90% of SubmissionTrain" in out
    assert "%%" not in out
