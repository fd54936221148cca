"""Training entry point: ``run(cfg)`` builds everything from a Hydra config, trains, tests,
exports embeddings and evaluates; ``python train.py`` and ``behavenet train`` both call it.

The run directory (``cfg.paths.output_dir``) follows the contract in ``docs/run_directory.md``::

    config.yaml            resolved config, written before training starts
    checkpoints/last.ckpt  final weights (Lightning checkpoint of a FamilyModule: family, config
                           and data spec included, loadable without Hydra)
    embeddings.h5          per-session (T, D) embeddings of every frame, split and labels
    metrics.json           train/val/test losses, decoding and downstream scores
    status.json            {"status": "running" | "completed" | "failed", ...}
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from behavenet.utils.files import atomic_write_text, write_json

log = logging.getLogger("behavenet.train")


def _repo_root() -> str:
    here = Path(__file__).resolve().parents[1]
    return str(here if (here / "conf").is_dir() else Path.cwd())


def _bundled_data(data_dir: str, name: str) -> str:
    """``data_dir/name`` if it exists, else the copy bundled in an installed wheel
    (``behavenet/_bundled/data/name``), else ``data_dir/name`` (whose absence is then reported)."""
    local = Path(data_dir) / name
    if local.exists():
        return str(local)
    bundled = Path(__file__).resolve().parent / "_bundled" / "data" / name
    return str(bundled if bundled.exists() else local)


if not OmegaConf.has_resolver("repo_root"):
    OmegaConf.register_new_resolver("repo_root", _repo_root)
if not OmegaConf.has_resolver("cwd"):  # paths.log_dir: ./outputs of the folder a run starts from
    OmegaConf.register_new_resolver("cwd", os.getcwd)
if not OmegaConf.has_resolver("bundled_data"):
    OmegaConf.register_new_resolver("bundled_data", _bundled_data)


# Hydra's command-line flags that take a value; with the ones in _HYDRA_OWN the command is left to Hydra.
_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p"}
_HYDRA_OWN = {
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
    "-h",
    "--help",
    "--hydra-help",
    "--info",
    "-i",
    "--shell-completion",
    "-sc",
    "--version",
}
_STRING_OK = {"trainer.devices"}  # numeric defaults that also take words ("auto")


def check_overrides(argv: list[str], conf_dir) -> None:
    """Raise :class:`~behavenet.errors.ConfigError` for a command-line override whose key is not in
    the composed config (naming the nearest valid key) or whose value has the wrong type (a word
    for a number or a flag), before Hydra or Lightning report it less clearly. Anything this check
    cannot judge is left to Hydra."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    from behavenet.errors import ConfigError

    if any(a.split("=", 1)[0] in _HYDRA_OWN for a in argv):
        return
    tokens, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a.startswith("-"):
            skip = a in _FLAGS_WITH_VALUE
        else:
            tokens.append(a)
    try:
        parsed = OverridesParser.create().parse_overrides(tokens)
    except Exception:  # noqa: BLE001 - a syntax error: Hydra's message is precise
        return
    conf_dir = Path(conf_dir)

    def is_group(key: str) -> bool:
        return "." not in key and ((conf_dir / key).is_dir() or key.startswith("hydra/"))

    compose_with, values = [], []
    for o in parsed:
        key = o.key_or_group
        if key == "hydra" or key.startswith(("hydra.", "hydra/")):
            continue
        if o.type == OverrideType.CHANGE and not is_group(key) and o.package is None:
            values.append(o)
        elif is_group(key) and o.type == OverrideType.CHANGE:
            try:
                choices = list(o.sweep_iterator()) if o.is_sweep_override() else [o.value()]
            except Exception:  # noqa: BLE001 - glob(), interval(): Hydra expands them
                return
            for choice in choices:
                if choice is not None and not (conf_dir / key / f"{choice}.yaml").exists():
                    import difflib

                    options = sorted(f.stem for f in (conf_dir / key).glob("*.yaml"))
                    near = difflib.get_close_matches(str(choice), options, n=1)
                    hint = f"did you mean {key}={near[0]}? " if near else ""
                    raise ConfigError(
                        key, f"no option {choice!r} in conf/{key}/; {hint}(options: {', '.join(options)})"
                    )
            compose_with.append(f"{key}={choices[0]}" if choices[0] is not None else o.input_line)
        elif not o.is_sweep_override():
            compose_with.append(o.input_line)
    if not values:
        return
    cfg = _compose_quietly(conf_dir, compose_with)
    if cfg is None:
        return
    for o in values:
        _check_value(cfg, o)


def compose_run_config(overrides: list[str] | None = None, output_dir=None, conf_dir=None):
    """``conf/train.yaml`` composed with ``overrides`` as ``python train.py`` would (with the
    hydra node, so ``${hydra:...}`` resolves), writing into ``output_dir``: the config that
    :func:`run` takes, for scripts and tests that train without the Hydra command line."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    conf_dir = Path(conf_dir) if conf_dir is not None else Path(__file__).resolve().parents[1] / "conf"
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir.resolve())):
        cfg = compose(config_name="train", overrides=list(overrides or []), return_hydra_config=True)
    if output_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
            cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig().set_config(cfg)
    GlobalHydra.instance().clear()
    return cfg


def _compose_quietly(conf_dir: Path, overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(conf_dir.resolve())):
            return compose(config_name="train", overrides=overrides)
    except Exception:  # noqa: BLE001 - Hydra will say what is wrong
        return None
    finally:
        GlobalHydra.instance().clear()


def _flat_keys(node, prefix: str = "") -> list[str]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            out.append(key)
            out += _flat_keys(v, key)
    return out


def _check_value(cfg, override) -> None:
    import difflib

    from behavenet.errors import ConfigError

    key = override.key_or_group
    plain = OmegaConf.to_container(cfg, resolve=False)
    parent_key, _, leaf = key.rpartition(".")
    parent = plain
    for part in parent_key.split(".") if parent_key else []:
        parent = parent.get(part) if isinstance(parent, dict) else None
    if not isinstance(parent, dict) or leaf not in parent:
        siblings = [f"{parent_key}.{k}" if parent_key else str(k) for k in parent] if isinstance(parent, dict) else []
        near = difflib.get_close_matches(key, siblings or _flat_keys(plain), n=1, cutoff=0.6)
        hint = f"did you mean {near[0]}? " if near else ""
        raise ConfigError(key, f"no such key in the config; {hint}(+{key}=... adds a new key)")
    default = parent[leaf]
    if key in _STRING_OK or default is None or isinstance(default, str) and default.startswith("${"):
        return
    try:
        given = list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
    except Exception:  # noqa: BLE001 - interval() and the like: the sweeper samples them
        return
    for value in given:
        if isinstance(default, bool):
            ok, expected = isinstance(value, bool), "true or false"
        elif isinstance(default, (int, float)):
            # lists and mappings are left alone (e.g. time_offsets takes an int or a list)
            ok = not isinstance(value, (str, bool))
            expected = "an integer" if isinstance(default, int) else "a number"
        else:
            continue
        if value is not None and not ok:
            shown = str(default).lower() if isinstance(default, bool) else default
            raise ConfigError(key, f"expected {expected} (default {shown}), got {value!r}")


def preflight(argv: list[str], conf_dir) -> None:
    """:func:`check_overrides` for ``python train.py`` / ``behavenet train``: a mistake is one line
    on stderr and exit status 2."""
    from behavenet.errors import ConfigError, one_line

    try:
        check_overrides(argv, conf_dir)
    except ConfigError as exc:
        print(f"behavenet train: error: {one_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None


def _instantiate_dict(section) -> list:
    """Instantiate every entry with a ``_target_`` in a dict-like config section."""
    import hydra

    out = []
    if not section:
        return out
    if isinstance(section, DictConfig) and "_target_" in section:
        return [hydra.utils.instantiate(section)]
    for _, conf in section.items():
        if isinstance(conf, DictConfig) and "_target_" in conf:
            out.append(hydra.utils.instantiate(conf))
    return out


def _single_log_stream() -> None:
    """Lightning adds its own console handler when imported before logging is configured; under
    Hydra (which logs to console and train.log) that prints every line twice. Route Lightning's
    records through the root handlers only."""
    root = logging.getLogger()
    if not root.handlers:
        return
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                lg.removeHandler(h)
        lg.propagate = True


class _DropAdvertising(logging.Filter):
    """Drop Lightning's "Tip: ... try installing litlogger" line, printed on every fit."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in str(record.msg)


def _quiet_lightning_tips() -> None:
    lg = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropAdvertising) for f in lg.filters):
        lg.addFilter(_DropAdvertising())


def _configure_determinism(cfg: DictConfig) -> None:
    import lightning as L
    import torch

    seed = cfg.get("seed")
    if seed is not None:
        L.seed_everything(int(seed), workers=True, verbose=False)
    if cfg.get("deterministic", True):
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    threads = cfg.get("threads")
    if threads:
        torch.set_num_threads(int(threads))


def _flatten(prefix: str, obj: Any, out: dict) -> dict:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}/{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = obj
    return out


def _is_primary_process() -> bool:
    """False in the extra processes of a multi-process (DDP) launch, which must not write the
    run directory's files. Lightning's launcher sets ``LOCAL_RANK``/``NODE_RANK`` in the processes
    it starts; torchrun and SLURM set ``RANK`` and ``SLURM_PROCID``."""
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        value = os.environ.get(key)
        if value not in (None, "", "0"):
            return False
    return True


def _multi_process(trainer_cfg) -> bool:
    strategy = str(trainer_cfg.get("strategy", "auto") or "auto")
    devices = trainer_cfg.get("devices", 1)
    try:
        n = int(devices)
    except (TypeError, ValueError):  # "auto", lists of ids
        n = len(devices) if isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices) else 1
    return "ddp" in strategy or "fsdp" in strategy or n > 1 or int(trainer_cfg.get("num_nodes", 1) or 1) > 1


def _user_overrides() -> list[str]:
    """The command-line overrides of this Hydra run ([] outside Hydra)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except Exception:  # noqa: BLE001 - no Hydra context (run() called with a plain config)
        return []


def _default_to_time_contrastive(cfg: DictConfig, spec: dict) -> bool:
    """The default model (``model=contrastive``, ``conditional: time_delta``) conditions on a
    continuous label. When the data serve no labels at all and the user chose neither a variant nor
    ``model.conditional``, train time-contrastive instead (saying so in one line) rather than
    failing. Returns whether ``cfg.model.conditional`` was changed."""
    model = cfg.get("model")
    if model is None or model.get("family") not in ("contrastive", "cebra") or spec.get("labels"):
        return False
    if model.get("conditional") != "time_delta":
        return False
    overrides = _user_overrides()
    if any(o.lstrip("+~").split("=", 1)[0] in ("model.conditional", "model.hybrid") for o in overrides):
        return False  # the user asked for it: the family's error says what is missing
    try:
        from hydra.core.hydra_config import HydraConfig

        choice = HydraConfig.get().runtime.choices.get("model")
    except Exception:  # noqa: BLE001 - no Hydra context
        choice = None
    if choice not in (None, "contrastive", "cebra"):
        return False  # a variant chosen by name (e.g. model=contrastive_time_delta) keeps its conditional
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.model.conditional = "time"
    log.info(
        "model.conditional=time (time-contrastive, no labels): the data serve no labels; "
        "name some with data.labels=[...] to condition on behaviour"
    )
    return True


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train, test, export embeddings and evaluate as configured; return the metrics dict.

    This is what ``python train.py`` runs, and what tests call with a composed config.
    """
    import hydra
    import lightning as L
    import torch

    from behavenet import __version__

    t_start = time.time()
    out = Path(cfg.paths.output_dir)
    primary = _is_primary_process()
    out.mkdir(parents=True, exist_ok=True)
    (out / "checkpoints").mkdir(exist_ok=True)
    resolved = {
        k: (OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v)
        for k, v in cfg.items()
        if k != "hydra"
    }
    resolved["_behavenet_version"] = __version__
    if primary:
        atomic_write_text(out / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved)))
        write_json(out / "status.json", {"status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S")})

    _configure_determinism(cfg)
    _single_log_stream()
    _quiet_lightning_tips()
    import warnings

    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")  # torch/lightning internal deprecation
    # A Lightning notice that describes intended behaviour here: finite contrastive streams
    # define __len__ (each data-loader worker draws its own batches, see ContrastiveStream).
    warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined")
    wandb_used = False
    try:
        from behavenet.models.lightning import build_module

        _check_ckpt_path(cfg.get("ckpt_path"), out)

        datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
        datamodule.setup("fit")
        if _default_to_time_contrastive(cfg, datamodule.spec) and primary:
            resolved["model"]["conditional"] = "time"
            atomic_write_text(out / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved)))
        model = build_module(OmegaConf.to_container(cfg.model, resolve=True), datamodule.spec)
        datamodule.attach_model(model)
        callbacks = _instantiate_dict(cfg.get("callbacks"))
        if not cfg.trainer.get("enable_progress_bar", True):  # `trainer.enable_progress_bar=false` wins
            from lightning.pytorch.callbacks import ProgressBar

            callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
        loggers = _instantiate_dict(cfg.get("logger"))
        wandb_used = any(type(lg).__name__ == "WandbLogger" for lg in loggers)
        for lg in loggers:
            if hasattr(lg, "log_hyperparams"):
                lg.log_hyperparams({"config": resolved})
        trainer_cfg = cfg.trainer
        if _multi_process(trainer_cfg) and not model.trainable:
            # PCA / random projection are fitted in closed form: DDP refuses a module without
            # trainable parameters, and one process computes them as fast.
            log.warning(
                "model %s has no trainable parameters: fitting on one device instead of strategy=%s, devices=%s",
                model.family,
                trainer_cfg.get("strategy"),
                trainer_cfg.get("devices"),
            )
            trainer_cfg = OmegaConf.to_container(trainer_cfg, resolve=True)
            trainer_cfg.update(strategy="auto", devices=1, num_nodes=1)
            trainer_cfg.pop("sync_batchnorm", None)
        trainer: L.Trainer = hydra.utils.instantiate(trainer_cfg, callbacks=callbacks, logger=loggers or False)

        metrics: dict[str, Any] = {"model": model.family, "seed": cfg.get("seed"), "behavenet_version": __version__}
        if cfg.get("train", True) and model.trainable:
            trainer.fit(model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
            metrics["train"] = _stage_metrics(trainer.callback_metrics, ("train/", "val/"))
            metrics["steps"] = int(trainer.global_step)
        elif cfg.get("train", True):
            # fitted in closed form (no optimiser, no training steps); then scored on val
            model.fit_data(datamodule)
            trainer.validate(model=model, datamodule=datamodule, verbose=False)
            metrics["train"] = _stage_metrics(trainer.callback_metrics, ("train/", "val/"))
            metrics["steps"] = 0
        # every rank calls save_checkpoint (it synchronises the ranks); rank 0 writes the file
        # (atomically: a temporary file renamed onto last.ckpt)
        from behavenet.utils.callbacks import save_checkpoint_atomic

        save_checkpoint_atomic(trainer, out / "checkpoints" / "last.ckpt", weights_only=False)  # resumable
        if cfg.get("test", True) and datamodule.split_data.get("test"):
            res = trainer.test(model=model, datamodule=datamodule, verbose=False)
            metrics["test"] = {k: float(v) for k, v in (res[0] if res else {}).items()}
        if not trainer.is_global_zero:
            return metrics  # only rank 0 exports and evaluates

        from behavenet.embeddings import export_embeddings

        write_json(
            out / "normalization.json",
            {"inputs": datamodule.inputs, "sessions": datamodule.session_ids, "state": datamodule.normalizers},
        )

        model = model.to("cpu") if cfg.get("export_on_cpu", False) else model
        emb_path = export_embeddings(model, datamodule, out / "embeddings.h5")
        metrics["embedding_dim"] = int(model.embedding_dim)
        if cfg.get("figures", True):
            held_out = datamodule.split_data.get("test") or datamodule.split_data.get("val") or []
            figures = model.core.write_figures(held_out, out / "figures")
            if figures:
                metrics["figures"] = [str(Path(f).relative_to(out)) for f in figures]
        metrics["n_parameters"] = int(sum(p.numel() for p in model.parameters()))
        eval_cfg = cfg.get("eval")
        if eval_cfg:
            from behavenet.eval.run import evaluate_run

            metrics.update(evaluate_run(emb_path, eval_cfg, out))
        metrics["wall_time_s"] = round(time.time() - t_start, 2)
        metrics["machine"] = {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "platform": platform.platform(),
        }
        # the losses already carry their stage ("train/loss", "val/loss", "test/loss")
        flat = {**metrics.get("train", {}), **metrics.get("test", {})}
        flat.update(_flatten("", {k: metrics[k] for k in metrics if k in ("decoding", "probes")}, {}))
        metrics["flat"] = {k: v for k, v in flat.items() if isinstance(v, (int, float))}
        if cfg.get("figures", True):
            metrics.setdefault("figures", []).extend(_run_plots(out, metrics, bool(eval_cfg)))
        write_json(out / "metrics.json", metrics)
        write_json(out / "status.json", {"status": "completed", "wall_time_s": metrics["wall_time_s"]})
        for line in summary_lines(metrics, out):
            log.info("%s", line)
        return metrics
    except BaseException as exc:
        if primary:
            write_json(out / "status.json", {"status": "failed", "error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        if wandb_used and "wandb" in sys.modules:
            import wandb

            wandb.finish()


def main(cfg: DictConfig) -> float | None:
    """What ``train.py``'s Hydra main calls: :func:`run`, with user mistakes reported as one line
    on stderr and exit status 2 (no traceback), and the optimised metric returned for sweepers."""
    from behavenet.errors import BehavenetError, one_line

    missing = sorted(k for k in OmegaConf.missing_keys(cfg) if not k.startswith("hydra."))
    if missing:
        example = "data.files=[path/to/session.h5]" if "data.files" in missing else f"{missing[0]}=..."
        print(
            f"behavenet train: error: {', '.join(missing)}: required but not set; give it on the command "
            f"line, e.g. {example}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    try:
        metrics = run(cfg)
    except Exception as exc:  # noqa: BLE001 - unwrap Hydra's instantiate errors
        cause = exc
        while cause is not None and not isinstance(cause, BehavenetError):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        print(f"behavenet train: error: {one_line(cause)}", file=sys.stderr)
        raise SystemExit(cause.exit_code) from None
    return get_metric_value(metrics, cfg.get("optimized_metric"))


def _check_ckpt_path(ckpt_path, out: Path | None = None) -> None:
    """``ckpt_path`` must be ``last``/``best`` (found by Lightning in the run's checkpoints/) or
    a readable checkpoint file; else one line instead of Lightning's traceback mid-setup.

    A checkpoint that will be read (the file given, or ``checkpoints/last.ckpt`` of the run
    directory for ``last``) is opened first with :func:`behavenet.pretrained.load_checkpoint`
    (``torch.load(weights_only=True)``): a truncated file, or one that would run code when
    unpickled, is refused here, naming the file; training then resumes with
    ``weights_only=True`` as well."""
    from behavenet.errors import ConfigError, FormatError
    from behavenet.pretrained import load_checkpoint

    if ckpt_path in (None, "best", "hpc", "registry") or "://" in str(ckpt_path):
        return
    if ckpt_path == "last":
        if out is None or not (out / "checkpoints" / "last.ckpt").is_file():
            return  # Lightning says it found none and starts from scratch
        path = out / "checkpoints" / "last.ckpt"
    else:
        path = Path(str(ckpt_path))
        if not path.is_file():
            raise ConfigError("ckpt_path", f"checkpoint file not found: {path}")
    import zipfile

    if not zipfile.is_zipfile(path):
        raise FormatError(path, "ckpt_path", "not a readable checkpoint (truncated or corrupt?)")
    try:
        state = load_checkpoint(path)
    except FormatError as err:
        raise FormatError(path, "ckpt_path", err.message) from None
    if "state_dict" not in state or "global_step" not in state:
        raise FormatError(
            path,
            "ckpt_path",
            "not a resumable training checkpoint (no state_dict / global_step: a weights-only export?)",
        )


def _run_plots(out: Path, metrics: dict, evaluated: bool) -> list[str]:
    """The run's figures (:func:`behavenet.plot.run_figures`) into ``out/figures``; a plotting
    failure is logged as one line and never fails the run."""
    try:
        from behavenet.plot import run_figures

        files = run_figures(out, metrics=metrics, three_d=False, max_points=5000, decoded=evaluated)
    except Exception as exc:  # noqa: BLE001 - a figure is never worth a failed run
        log.warning("figures not written: %s: %s", type(exc).__name__, " ".join(str(exc).split())[:200])
        return []
    return [str(Path(f).relative_to(out)) for f in files]


def summary_lines(metrics: dict, out: Path) -> list[str]:
    """What a finished run prints: the model, steps and time, the headline held-out scores
    (best decoder per label, test frames) and the run directory."""
    from behavenet.pretrained import headline_scores

    steps = metrics.get("steps")
    head = f"{metrics.get('model')}: {steps if steps is not None else 0} steps in {metrics.get('wall_time_s', 0):.1f} s"
    scores = headline_scores(metrics)
    if not scores and metrics.get("test", {}).get("test/loss") is not None:
        scores = [f"test loss {metrics['test']['test/loss']:.4g}"]
    lines = [head + ("; " + "; ".join(scores) if scores else "")]
    if metrics.get("decoding_skipped"):
        lines.append(f"not decoded: {metrics['decoding_skipped']}")
    lines.append(f"run directory: {out}")
    return lines


def _stage_metrics(callback_metrics, prefixes) -> dict[str, float]:
    out = {}
    for k, v in callback_metrics.items():
        if k.startswith(prefixes):
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                pass
    return out


def get_metric_value(metrics: dict, name: str | None) -> float | None:
    """Value of ``name`` (a key of ``metrics["flat"]`` such as ``decoding/position/knn/test/r2``)
    for Hydra sweepers."""
    if not name:
        return None
    flat = metrics.get("flat", {})
    if name not in flat:
        log.warning(
            "optimized_metric %r is not among this run's metrics (available: %s)",
            name,
            ", ".join(sorted(flat)) or "none",
        )
        return None
    return float(flat[name])
