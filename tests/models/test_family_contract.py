"""The contract every registered model family passes (``docs/adding_a_model.md``).

Parametrised over :func:`behavenet.models.registry.list_families`, so a family added later is
tested here without editing this file, and fails here until it keeps the contract:

- its hyperparameters are declared once: ``conf/model/<family>.yaml``, the estimator's
  ``get_params()`` and the checkpoint's hyperparameters all hold exactly the config's fields;
- a tiny ``train.py`` run on the bundled demo writes a complete run directory whose checkpoint
  loads in a fresh process, without Hydra, and reproduces ``embeddings.h5``; the same seed gives
  bit-identical embeddings; ``trainer=ddp_sim`` runs;
- the estimator fits, saves, loads in a fresh process with identical embeddings, and the same
  seed gives bit-identical results;
- (``gpu``) a bf16 training run on one GPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from behavenet.embeddings import load_embeddings
from behavenet.models.registry import get_family, list_families
from behavenet.train import run

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = list_families()
FAST = [
    "trainer.enable_progress_bar=false",
    "logger=none",
    "trainer.max_steps=6",
    "trainer.val_check_interval=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "callbacks=none",
    "eval=none",
]


def _overrides(name: str) -> list[str]:
    fam = get_family(name)
    return [f"model={fam.yaml_name}", *fam.smoke_overrides, *FAST]


def _python(code: str, timeout: int = 300) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=str(ROOT), timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_family_is_complete():
    assert {"contrastive", "pca", "random_projection", "autoencoder"} <= set(FAMILIES)
    for name in FAMILIES:
        fam = get_family(name)
        assert (ROOT / "conf" / "model" / f"{fam.yaml_name}.yaml").exists(), f"{name}: no conf/model yaml"
        assert fam.estimator_class is not None, f"{name}: no estimator"
        assert hasattr(fam.estimator_class, "_contract_example"), f"{name}: estimator lacks _contract_example"
        assert fam.description, f"{name}: no description"


@pytest.mark.parametrize("name", FAMILIES)
def test_hyperparameters_are_declared_once(name, make_cfg):
    from behavenet.models.config import field_docs
    from behavenet.models.lightning import build_module

    fam = get_family(name)
    config_cls = fam.config_class
    fields = config_cls.field_names()
    assert all(field_docs(config_cls)[f] for f in fields), f"{name}: every field needs a docstring"
    # conf/model/<family>.yaml: exactly the config's fields (plus `family`), values of the right types
    raw = yaml.safe_load((ROOT / "conf" / "model" / f"{fam.yaml_name}.yaml").read_text())
    assert raw.pop("family") == name
    assert set(raw) == set(fields), (
        f"conf/model/{fam.yaml_name}.yaml differs from {config_cls.__name__}: "
        f"missing {sorted(set(fields) - set(raw))}, extra {sorted(set(raw) - set(fields))}"
    )
    composed = OmegaConf.to_container(make_cfg([f"model={fam.yaml_name}"]).model, resolve=True)
    config = config_cls.from_dict({k: v for k, v in composed.items() if k != "family"})
    # the estimator's parameters: the config's fields less those set from the data, plus its options
    est_cls = fam.estimator_class
    assert set(est_cls.config_exclude) <= set(fields)
    options = {f for f in est_cls.Options.__dataclass_fields__}
    assert set(est_cls().get_params()) == (set(fields) - set(est_cls.config_exclude)) | options
    assert not options & (set(fields) - set(est_cls.config_exclude))  # an option never shadows a field
    # the checkpoint's hyperparameters: the whole config, every default filled in
    spec = _demo_spec(make_cfg, name)
    module = build_module(composed, spec)
    assert module.hparams["family"] == name and set(module.hparams["config"]) == set(fields)
    assert config_cls.from_dict(module.hparams["config"]) == config


def _demo_spec(make_cfg, name):
    import hydra

    cfg = make_cfg([f"model={get_family(name).yaml_name}", *get_family(name).smoke_overrides])
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    return dm.spec


@pytest.mark.parametrize("name", FAMILIES)
def test_train_py_run_reloads_in_a_fresh_process_and_is_seeded(name, make_cfg, tmp_path):
    runs = {}
    for key, seed in (("a", 0), ("b", 0)):
        out = tmp_path / key
        metrics = run(make_cfg(_overrides(name) + [f"seed={seed}"], out))
        runs[key] = load_embeddings(out / "embeddings.h5")[0].embedding
    assert metrics["model"] == name
    out = tmp_path / "a"
    for f in (
        "config.yaml",
        "checkpoints/last.ckpt",
        "embeddings.h5",
        "metrics.json",
        "normalization.json",
        "status.json",
    ):
        assert (out / f).exists(), f
    assert np.array_equal(runs["a"], runs["b"]), "the same seed must give bit-identical CPU results"
    assert np.isfinite(runs["a"]).all()
    # the checkpoint rebuilds the model in a fresh process without Hydra (no `_target_` is read)
    npy = tmp_path / "reloaded.npy"
    got = _python(f"""
        import json, sys
        import numpy as np
        from behavenet.models.lightning import FamilyModule
        module = FamilyModule.load_from_checkpoint({str(out / "checkpoints/last.ckpt")!r}, weights_only=True)
        without_hydra = not any(m.startswith(("hydra", "omegaconf")) for m in sys.modules)
        from behavenet.api import load_run
        trained = load_run({str(out)!r})
        files = trained.cfg.data.files
        emb = trained.embed_files([files if isinstance(files, str) else files[0]])[0].embedding
        np.save({str(npy)!r}, emb)
        print(json.dumps({{"family": module.family, "without_hydra": without_hydra}}))
    """)
    assert got["family"] == name and got["without_hydra"]
    np.testing.assert_array_equal(np.load(npy), runs["a"])


@pytest.mark.parametrize("name", FAMILIES)
def test_estimator_fit_save_load_in_a_fresh_process(name, tmp_path):
    est_cls = get_family(name).estimator_class
    params, fit_args, transform_arg = est_cls._contract_example(0)
    a = est_cls(**params).fit(*fit_args)
    emb = est_cls._contract_output(a.transform(transform_arg))
    assert emb.ndim == 2 and np.isfinite(emb).all()
    again = est_cls._contract_output(est_cls(**params).fit(*fit_args).transform(transform_arg))
    assert np.array_equal(emb, again), "the same seed must give bit-identical CPU results"
    a.save(tmp_path / "model.pt")
    npy = tmp_path / "emb.npy"
    module, _, cls_name = get_family(name).estimator.partition(":")
    got = _python(f"""
        import json
        import numpy as np
        from {module} import {cls_name} as Est
        est = Est.load({str(tmp_path / "model.pt")!r})
        _, _, x = Est._contract_example(0)
        np.save({str(npy)!r}, Est._contract_output(est.transform(x)))
        print(json.dumps({{"params": sorted(est.get_params())}}))
    """)
    assert got["params"] == sorted(a.get_params())
    np.testing.assert_array_equal(np.load(npy), emb)


@pytest.mark.parametrize("name", FAMILIES)
def test_ddp_sim_runs(name, tmp_path):
    run_dir = tmp_path / "hrun"
    res = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), f"hydra.run.dir={run_dir}", *_overrides(name), "trainer=ddp_sim"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == name and (run_dir / "embeddings.h5").exists()


@pytest.mark.gpu
@pytest.mark.parametrize("name", FAMILIES)
def test_gpu_bf16_run(name, make_cfg, tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    metrics = run(make_cfg(_overrides(name) + ["trainer=gpu"], tmp_path / "run"))
    assert metrics["model"] == name
    emb = load_embeddings(tmp_path / "run" / "embeddings.h5")[0].embedding
    assert np.isfinite(emb).all()
