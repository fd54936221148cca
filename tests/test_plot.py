"""behavenet.plot and ``behavenet plot``: figures of embeddings and run directories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from behavenet import plot
from behavenet.cli import main
from behavenet.embeddings import SessionEmbedding, load_embeddings, write_embeddings

ROOT = Path(__file__).resolve().parents[1]


def _session(n=600, d=4, seed=0) -> SessionEmbedding:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 6 * np.pi, n)
    emb = np.stack([np.sin(t), np.cos(t)] + [rng.normal(size=n) * 0.1 for _ in range(d - 2)], 1).astype(np.float32)
    block = np.arange(n) // 20
    split = np.where(block % 5 == 2, 2, np.where(block % 5 == 3, 1, 0)).astype(np.int8)  # test, val, train
    return SessionEmbedding(
        session_id="sess",
        embedding=emb,
        frame_index=np.arange(n),
        trial=np.repeat(np.arange(6), n // 6),
        split=split,
        labels={"phase": (t % (2 * np.pi)).astype(np.float32)[:, None], "side": (np.sin(t) > 0).astype(np.int64)},
        label_kinds={"phase": "continuous", "side": "discrete"},
        vocabularies={"side": ["left", "right"]},
        fps=10.0,
    )


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A run directory with embeddings, a CSV log and metrics (no training needed)."""
    run = tmp_path / "run"
    (run / "logs").mkdir(parents=True)
    write_embeddings(run / "embeddings.h5", [_session()], model="toy")
    (run / "logs" / "metrics.csv").write_text(
        "epoch,step,train/loss,val/loss\n0,9,2.0,\n0,19,1.5,\n0,19,,1.7\n0,29,1.2,\n0,39,,1.3\n"
    )
    metrics = {
        "decoding": {
            "phase": {"kind": "continuous", "knn": {"test": {"r2": 0.9, "median_abs_error": 0.2}}},
            "side": {"kind": "discrete", "knn": {"test": {"accuracy": 0.95, "f1_macro": 0.94}}},
        }
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def test_embedding_draws_on_the_given_axes_without_projection_for_2d():
    ax = plot.new_axes()
    emb = np.random.default_rng(0).normal(size=(50, 2))
    y = np.linspace(0, 1, 50)
    assert plot.embedding(emb, y, ax=ax) is ax
    np.testing.assert_allclose(ax.collections[0].get_offsets(), emb)  # 2-D: drawn as given
    np.testing.assert_allclose(ax.collections[0].get_array(), y)
    assert ax.get_xlabel() == "dim 1" and len(ax.figure.axes) == 2  # plus the colour bar


def test_embedding_projects_wide_embeddings_on_principal_components_and_marks_test_frames():
    se = _session(d=6)
    ax = plot.embedding(se, "side")
    assert ax.get_xlabel() == "PC 1"
    # one train/val and one test (cross) collection per class; the legend names the classes
    assert len(ax.collections) == 4
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["left", "right"]
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(se.embedding)
    assert "test frames" in ax.get_title()
    ax3 = plot.embedding(se, "phase", ax=plot.new_axes(projection="3d"))
    assert ax3.name == "3d" and ax3.get_zlabel() == "PC 3"


def test_embedding_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"labels: 3 values for 4 embedding rows"):
        plot.embedding(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"labels/nope: no such label; have \['phase', 'side'\]"):
        plot.embedding(_session(), "nope")


def test_plot_module_does_not_touch_pyplot():
    code = (
        "import sys, numpy as np; from behavenet import plot; "
        "plot.save(plot.embedding(np.eye(3)[:, :2], [0, 1, 1]).figure, sys.argv[1]); "
        "print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "/dev/null"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.strip() == "False"


def test_run_figures_writes_every_figure(run_dir):
    files = plot.run_figures(run_dir)
    names = sorted(p.name for p in files)
    assert names == [
        "decoded_phase.png",
        "decoded_side.png",
        "embedding.png",
        "embedding_3d.png",
        "loss.png",
        "scores.png",
    ]
    for p in files:
        assert p.parent == run_dir / "figures" and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((run_dir / "figures").glob(".tmp-*"))
    ax = plot.loss_curves(run_dir)
    assert [line.get_label() for line in ax.lines] == ["train/loss", "val/loss"]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [9, 19, 29])
    bars = plot.scores(run_dir)
    assert sorted(round(p.get_height(), 2) for p in bars.patches) == [0.9, 0.95]


def test_decoded_vs_true_predicts_a_learnable_label(run_dir):
    se = load_embeddings(run_dir / "embeddings.h5")[0]
    ax = plot.decoded_vs_true(se, "side")
    cm = ax.images[0].get_array()
    assert cm.shape == (2, 2) and np.trace(cm) / 2 > 0.9  # side = sign of dim 0: kNN gets it right
    ax = plot.decoded_vs_true(se, "phase")
    true, decoded = ax.lines[0].get_ydata(), ax.lines[1].get_ydata()
    assert len(true) == (se.split == 2).sum() and np.median(np.abs(true - decoded)) < 0.5


def test_cli_plot_run_dir_and_embeddings_file(run_dir, tmp_path, capsys):
    assert main(["plot", str(run_dir), "--color", "side"]) == 0
    printed = capsys.readouterr().out.split()
    assert str(run_dir / "figures" / "embedding.png") in printed
    assert str(run_dir / "figures" / "decoded_side.png") in printed
    out = tmp_path / "emb.png"
    assert main(["plot", str(run_dir / "embeddings.h5"), "--color", "phase", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", str(run_dir), "--color", "nope", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"behavenet plot: error: {run_dir / 'embeddings.h5'}: --color: no label 'nope' in session 'sess' "
        "(labels: phase, side)\n"
    )
    assert not (tmp_path / "x.png").exists()
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err == (
        f"behavenet plot: error: {tmp_path / 'missing'}: no such run directory or embeddings file\n"
    )


@pytest.mark.slow
def test_cli_plot_adds_the_family_figures(make_cfg, tmp_path, capsys):
    from behavenet.models.registry import get_family
    from behavenet.train import run

    fam = get_family("mmgpvae")
    fast = ["trainer.enable_progress_bar=false", "logger=csv", "trainer.max_steps=4", "callbacks=none", "figures=false"]
    run(make_cfg([f"model={fam.yaml_name}", *fam.smoke_overrides, *fast], tmp_path / "run"))
    assert not (tmp_path / "run" / "figures").exists()
    assert main(["plot", str(tmp_path / "run")]) == 0
    printed = {Path(p).name for p in capsys.readouterr().out.split()}
    assert {"embedding.png", "loss.png", "scores.png", "latents.png", "reconstruction_spikes.png"} <= printed
