"""Pretrained models: safe loading, ``load_pretrained`` / ``list_pretrained`` / ``save_pretrained``,
round trips through fresh processes, and the bundled models (``docs/pretrained.md``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import behavenet
from behavenet.embeddings import load_embeddings
from behavenet.errors import FormatError
from behavenet.pretrained import BUNDLED_DIR, VersionMismatchWarning, load_pretrained, sha256_file

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "linear_track.h5"
FAST = [
    "trainer.enable_progress_bar=false",
    "logger=none",
    "trainer.max_steps=6",
    "trainer.val_check_interval=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "callbacks=none",
    "eval=none",
    "figures=false",
]
BUNDLED = sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "model.pt").is_file()) if BUNDLED_DIR.is_dir() else []


def _start(code: str) -> subprocess.Popen:
    """Start ``code`` in a fresh interpreter (this checkout first on the path; a UserWarning,
    such as torch's ``weights_only`` one, is an error)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-W", "error::UserWarning", "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
        env=env,
    )


def _result(proc: subprocess.Popen, timeout: int = 300) -> dict:
    """The last stdout line (JSON) of a process started by :func:`_start`."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _python(code: str, timeout: int = 300) -> dict:
    return _result(_start(code), timeout)


def _compose_cfg():
    """``tests/conftest.py``'s ``compose_cfg`` (for module-scoped fixtures, which cannot use
    the function-scoped ``make_cfg``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_behavenet_tests_conftest", ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.compose_cfg


def _train(family: str, out: Path) -> Path:
    from behavenet.models.registry import get_family
    from behavenet.train import run

    fam = get_family(family)
    run(_compose_cfg()([f"model={fam.yaml_name}", *fam.smoke_overrides, *FAST], out))
    return out


@pytest.fixture(scope="module")
def contrastive_run(tmp_path_factory) -> Path:
    return _train("contrastive", tmp_path_factory.mktemp("pretrained") / "run")


# ------------------------------------------------------------------------------- safe loading


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_that_runs_code_is_refused_and_the_code_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"family": "pca"}, "x": _RunsCode(marker)}, ckpt)
    with pytest.raises(FormatError) as err:
        load_pretrained(ckpt)
    assert str(err.value).startswith(
        f"{ckpt}: refused: not a plain-tensor checkpoint (loading it would run code from the file"
    )
    assert "\n" not in str(err.value)
    assert not marker.exists()
    # the same file as a run's checkpoint, a model directory's model.pt, and through the CLI
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("data: {_target_: behavenet.data.SessionDataModule}\n")
    shutil.copy(ckpt, run / "checkpoints" / "last.ckpt")
    with pytest.raises(FormatError, match="refused: not a plain-tensor checkpoint"):
        behavenet.load_run(run)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copy(ckpt, model_dir / "model.pt")
    with pytest.raises(FormatError, match="refused: not a plain-tensor checkpoint"):
        load_pretrained(model_dir)
    assert not marker.exists()


@pytest.mark.parametrize(
    "key, target",
    [("data._target_", "os.system"), ("data.pose._target_", "builtins.eval"), ("trainer._target_", "subprocess.run")],
)
def test_run_directory_naming_a_foreign_target_is_refused(contrastive_run, tmp_path, key, target):
    run = tmp_path / "run"
    shutil.copytree(contrastive_run, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    node = cfg
    *parents, last = key.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = target
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(FormatError) as err:
        load_pretrained(run)
    assert str(err.value) == (
        f"{run / 'config.yaml'}: {key}: names {target!r}; only behavenet.* classes and the allow-list "
        "behavenet.pretrained.ALLOWED_TARGETS may be instantiated from a file"
    )


def test_run_directory_with_an_interpolation_is_refused(contrastive_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(contrastive_run, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["data"]["files"] = "${oc.env:HOME}/x.h5"
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(FormatError) as err:
        load_pretrained(run)
    assert str(err.value) == (
        f"{run / 'config.yaml'}: data.files: holds the interpolation '${{oc.env:HOME}}/x.h5'; "
        "a loaded configuration must be resolved"
    )


def test_model_directory_data_yaml_target_is_checked(contrastive_run, tmp_path):
    d = behavenet.save_pretrained(contrastive_run, tmp_path / "m", description="x")
    (d / "data.yaml").write_text("_target_: os.system\ninput: spikes\n")
    with pytest.raises(FormatError, match=r"data.yaml: data\._target_: names 'os.system'"):
        load_pretrained(d)


def test_gpu_saved_model_loads_on_cpu(contrastive_run, tmp_path, monkeypatch):
    d = behavenet.save_pretrained(contrastive_run, tmp_path / "gpu", description="saved on cuda:0")
    state = torch.load(d / "model.pt", weights_only=True)
    # write the file as a CUDA machine would: every storage tagged "cuda:0"
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    torch.save(state, d / "model.pt")
    monkeypatch.undo()
    card = json.loads((d / "card.json").read_text())
    card["files"]["model.pt"]["sha256"] = sha256_file(d / "model.pt")
    (d / "card.json").write_text(json.dumps(card))
    if not torch.cuda.is_available():  # the file really is GPU-tagged: a plain load fails here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(d / "model.pt", weights_only=True)
    model = load_pretrained(d)
    assert next(model.model.parameters()).device.type == "cpu"
    ref = load_embeddings(contrastive_run / "embeddings.h5")[0].embedding
    np.testing.assert_array_equal(model.embed(DEMO).embedding, ref)


def test_version_mismatch_warns_one_line_and_still_loads(contrastive_run, tmp_path):
    d = behavenet.save_pretrained(contrastive_run, tmp_path / "old", description="x")
    state = torch.load(d / "model.pt", weights_only=True)
    state["versions"]["behavenet"] = "0.0.9"
    torch.save(state, d / "model.pt")
    (d / "card.json").unlink()  # no card: no sha256 to check
    with pytest.warns(VersionMismatchWarning) as rec:
        model = load_pretrained(d)
    assert [str(w.message) for w in rec] == [
        f"{d / 'model.pt'}: saved with behavenet 0.0.9, running behavenet {behavenet.__version__}; "
        "embeddings may differ"
    ]
    assert model.family == "contrastive"


def test_changed_model_file_is_refused_by_its_card(contrastive_run, tmp_path):
    d = behavenet.save_pretrained(contrastive_run, tmp_path / "m", description="x")
    with open(d / "model.pt", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(FormatError) as err:
        load_pretrained(d)
    assert str(err.value) == f"{d / 'model.pt'}: sha256: differs from the one in card.json: the file was changed"


def test_unknown_name_lists_the_known_ones(monkeypatch, tmp_path):
    monkeypatch.setenv("BEHAVENET_HOME", str(tmp_path))
    with pytest.raises(FormatError) as err:
        load_pretrained("no-such-model")
    known = ", ".join(i.name for i in behavenet.list_pretrained()) or "none"
    assert str(err.value) == (f"no-such-model: no such file, run directory or pretrained model (known names: {known})")


# ------------------------------------------------------------------------------- round trips


def test_run_dir_checkpoint_and_model_dir_round_trip_in_a_fresh_process(contrastive_run, tmp_path, monkeypatch):
    ref = load_embeddings(contrastive_run / "embeddings.h5")[0]
    model_dir = behavenet.save_pretrained(contrastive_run, tmp_path / "home" / "models" / "mine", description="mine")
    card = json.loads((model_dir / "card.json").read_text())
    assert card["family"] == "contrastive" and card["embedding_dim"] == ref.embedding.shape[1]
    assert card["files"]["model.pt"]["sha256"] == sha256_file(model_dir / "model.pt")
    assert set(card) >= {"data", "config", "metrics", "licence", "versions", "files"}
    out = tmp_path / "emb.npz"
    got = _python(f"""
        import json, os
        os.environ["BEHAVENET_HOME"] = {str(tmp_path / "home")!r}
        import numpy as np
        import behavenet
        demo = {str(DEMO)!r}
        a = behavenet.load_pretrained({str(contrastive_run)!r}).embed(demo)
        b = behavenet.load_pretrained({str(contrastive_run / "checkpoints" / "last.ckpt")!r}).embed(demo)
        c = behavenet.load_pretrained("mine").embed(demo)
        names = [(i.name, i.source) for i in behavenet.list_pretrained()]
        np.savez({str(out)!r}, a=a.embedding, b=b.embedding, c=c.embedding)
        print(json.dumps({{"names": names, "trials": a.trial_names[:2]}}))
    """)
    assert ["mine", "user"] in got["names"]
    npz = np.load(out)
    for key in "abc":
        np.testing.assert_array_equal(npz[key], ref.embedding)


def test_embed_array_matches_the_session_file(contrastive_run):
    import h5py

    model = load_pretrained(contrastive_run)
    sess = model.embed(DEMO)
    rows = np.flatnonzero(sess.trial == sess.trial[0])
    with h5py.File(DEMO, "r") as f:
        spikes = f["neural/spikes"][()][sess.frame_index[rows]]
    np.testing.assert_allclose(model.embed(spikes), sess.embedding[rows], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"data\['spikes'\]: per-frame shape \[5\]; the model was trained on \[31\]"):
        model.embed(spikes[:, :5])


def test_embedding_a_large_session_gives_arrays(contrastive_run):
    """A session over data.on_disk_threshold_mb is served through row maps; embedding it used to
    return those as frame_index / trial / labels, so `trial == i` was a plain False and
    trial_embedding() silently returned no rows."""
    small = load_pretrained(contrastive_run).embed(DEMO)
    model = load_pretrained(contrastive_run)
    model.data_config["on_disk_threshold_mb"] = 0  # every session "large"
    big = model.embed(DEMO)
    for name in ("frame_index", "trial"):
        assert type(getattr(big, name)) is np.ndarray
        np.testing.assert_array_equal(getattr(big, name), getattr(small, name))
    assert all(type(v) is np.ndarray for v in big.labels.values()) and big.labels.keys() == small.labels.keys()
    first = big.trial_names[0]
    assert len(big.trial_embedding(first)) == len(small.trial_embedding(first)) > 0
    np.testing.assert_allclose(big.embedding, small.embedding, rtol=0, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["contrastive", "mmgpvae", "bet"])
def test_every_family_trains_saves_and_reloads_in_a_fresh_process(family, tmp_path):
    run = _train(family, tmp_path / "run")
    ref = load_embeddings(run / "embeddings.h5")[0].embedding
    behavenet.save_pretrained(run, tmp_path / "model", description=family)
    out = tmp_path / "emb.npz"
    _python(f"""
        import json
        import numpy as np
        import behavenet
        a = behavenet.load_pretrained({str(run)!r}).embed({str(DEMO)!r}).embedding
        b = behavenet.load_pretrained({str(tmp_path / "model")!r}).embed({str(DEMO)!r}).embedding
        np.savez({str(out)!r}, a=a, b=b)
        print(json.dumps({{}}))
    """)
    npz = np.load(out)
    np.testing.assert_array_equal(npz["a"], ref)
    np.testing.assert_array_equal(npz["b"], ref)


# ------------------------------------------------------------------------------- bundled models


def test_every_landed_family_has_a_bundled_model_with_a_card():
    cards = {n: json.loads((BUNDLED_DIR / n / "card.json").read_text()) for n in BUNDLED}
    assert {c["family"] for c in cards.values()} >= {"contrastive", "mmgpvae", "bet"}
    total = 0
    for name, card in cards.items():
        for f, meta in card["files"].items():
            assert sha256_file(BUNDLED_DIR / name / f) == meta["sha256"], f"{name}/{f}"
            total += (BUNDLED_DIR / name / f).stat().st_size
        assert card["licence"] and card["description"] and card["versions"]["torch"]
        assert card["metrics"]["headline"], name
    assert total < 5 * 2**20
    listed = {i.name: i for i in behavenet.list_pretrained()}
    assert set(BUNDLED) <= set(listed) and all(listed[n].description for n in BUNDLED)


#: the default run checks the contrastive model; the others (the MM-GPVAE takes ~15 s to embed the
#: 9,852-frame demo on a busy 2-core CPU) are in the slow tier
SLOW_BUNDLED = {n for n in BUNDLED if "contrastive" not in n}


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(sorted(set(BUNDLED) - SLOW_BUNDLED), id="fast"),
        pytest.param(sorted(SLOW_BUNDLED), id="others", marks=pytest.mark.slow),
    ],
)
def test_bundled_models_embed_the_bundled_session_identically_in_two_fresh_processes(names):
    assert names
    code = f"""
        import hashlib, json
        import behavenet
        from behavenet.pretrained import demo_session
        out = {{}}
        for name in {names!r}:
            emb = behavenet.load_pretrained(name).embed(demo_session()).embedding
            out[name] = [list(emb.shape), hashlib.sha256(emb.astype("<f4").tobytes()).hexdigest()]
        print(json.dumps(out))
    """
    procs = [_start(code), _start(code)]  # two fresh processes, side by side
    first, second = (_result(p) for p in procs)
    assert first == second and sorted(first) == names
    for name, (shape, digest) in first.items():
        check = json.loads((BUNDLED_DIR / name / "card.json").read_text())["demo_check"]
        assert shape == check["embedding_shape"]
        # the digest of the training run's own embeddings.h5, on the machine that made the model
        assert digest == check["embedding_sha256"], f"{name}: differs from the training run's embedding"


def test_an_estimator_file_loads_and_embeds_like_the_estimator(tmp_path):
    from behavenet.models.contrastive.estimator import ContrastiveEmbedding

    params, fit_args, x = ContrastiveEmbedding._contract_example(0)
    est = ContrastiveEmbedding(**params).fit(*fit_args)
    est.save(tmp_path / "est.pt")
    model = load_pretrained(tmp_path / "est.pt")
    assert model.family == "contrastive" and model.data_config is None
    np.testing.assert_array_equal(model.embed(x, normalize=False), est.transform(x))
    with pytest.raises(FormatError, match="no data configuration"):
        model.embed(DEMO)


def test_every_target_conf_names_outside_hydra_is_allowed():
    """A run directory's config.yaml holds every section but ``hydra``: each ``_target_`` that
    ``conf/`` can put there must pass the allow-list, or loading the run would be refused."""
    from behavenet.pretrained import ALLOWED_TARGETS

    hydra_only = {"hparams_search", "launcher", "hydra"}
    found = set()
    for path in (ROOT / "conf").rglob("*.yaml"):
        if hydra_only & set(path.relative_to(ROOT / "conf").parts):
            continue
        for line in path.read_text().splitlines():
            key, _, value = line.strip().partition(":")
            if key == "_target_":
                found.add(value.split("#")[0].strip())
    assert found and all(t.startswith("behavenet.") or t in ALLOWED_TARGETS for t in found), sorted(found)
