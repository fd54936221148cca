"""Pretrained models: load one by name or path, embed new data, publish your own.

>>> import behavenet
>>> behavenet.list_pretrained()                                   # doctest: +SKIP
[PretrainedInfo(name='linear-track-contrastive', ...), ...]
>>> model = behavenet.load_pretrained("linear-track-contrastive")  # doctest: +SKIP
>>> emb = model.embed("session.h5")       # a SessionEmbedding: (T, D), one row per frame
>>> emb = model.embed(array)              # (T, D) from a (T, F) array of the model's input

``load_pretrained(name_or_path)`` accepts

* a **run directory** (``config.yaml`` + ``checkpoints/last.ckpt``, see ``docs/run_directory.md``);
* a **checkpoint file** (a run's ``.ckpt``; its run directory's ``config.yaml`` and
  ``normalization.json`` are used when it lies in ``<run>/checkpoints/``), a ``model.pt`` of a
  model directory, or a file of an estimator's ``save()`` (arrays are then embedded as given);
* a **model directory** (``model.pt``, ``card.json``, ``data.yaml``, ``normalization.json``;
  written by :func:`save_pretrained`);
* a **name**: a model directory ``$BEHAVENET_HOME/models/<name>/`` (default
  ``~/.behavenet/models``), else one bundled with the package (``behavenet/resources/pretrained``).

Loading is safe for files from strangers (``docs/pretrained.md``): tensors go through
``torch.load(weights_only=True)`` (a pickle that would run code is refused before anything runs),
configurations are YAML/JSON, and when a configuration is instantiated every ``_target_`` must be
a behavenet class or one of :data:`ALLOWED_TARGETS`. The behavenet and torch versions a model
was saved with are checked against the running ones (one warning line on a mismatch). Models are
always loaded on the CPU, wherever they were saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from behavenet.errors import BehavenetError, FormatError

__all__ = [
    "ALLOWED_TARGETS",
    "PretrainedInfo",
    "PretrainedModel",
    "VersionMismatchWarning",
    "check_targets",
    "demo_session",
    "list_pretrained",
    "load_checkpoint",
    "load_pretrained",
    "save_pretrained",
    "sha256_file",
]

#: ``_target_`` values besides ``behavenet.*`` that a loaded configuration may name: the trainer,
#: loggers and callbacks that ``conf/`` uses. Nothing else is ever instantiated from a file.
ALLOWED_TARGETS = frozenset(
    {
        "lightning.pytorch.trainer.Trainer",
        "lightning.pytorch.Trainer",
        "lightning.pytorch.loggers.CSVLogger",
        "lightning.pytorch.loggers.TensorBoardLogger",
        "lightning.pytorch.loggers.WandbLogger",
        "lightning.pytorch.callbacks.ModelCheckpoint",
        "lightning.pytorch.callbacks.TQDMProgressBar",
        "lightning.pytorch.callbacks.RichProgressBar",
        "lightning.pytorch.callbacks.EarlyStopping",
        "lightning.pytorch.callbacks.LearningRateMonitor",
    }
)

MODEL_FORMAT = "behavenet-model"
MODEL_FORMAT_VERSION = 1
BUNDLED_DIR = Path(__file__).resolve().parent / "resources" / "pretrained"


class VersionMismatchWarning(UserWarning):
    """A model was saved by another behavenet or torch (major.minor) than the running one."""


def behavenet_home() -> Path:
    """``$BEHAVENET_HOME`` (default ``~/.behavenet``): user models live in its ``models/``."""
    return Path(os.environ.get("BEHAVENET_HOME") or Path.home() / ".behavenet").expanduser()


def demo_session() -> Path:
    """The bundled demo recording (``data/linear_track.h5`` of a checkout, or its copy in an
    installed wheel): the session the bundled models were trained on."""
    from behavenet.train import _bundled_data

    root = Path(__file__).resolve().parents[1]
    return Path(_bundled_data(str(root / "data"), "linear_track.h5"))


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# safe loading


def check_targets(cfg: Any, source: str | os.PathLike, prefix: str = "") -> None:
    """Refuse a configuration naming any ``_target_`` (at any depth) that is not a behavenet
    class or in :data:`ALLOWED_TARGETS`, or holding an OmegaConf interpolation (``${...}``):
    one-line :class:`FormatError` naming the key."""
    if hasattr(cfg, "items"):
        for key, value in cfg.items():
            where = f"{prefix}.{key}" if prefix else str(key)
            if key == "_target_":
                target = str(value)
                if not (target.startswith("behavenet.") or target in ALLOWED_TARGETS):
                    raise FormatError(
                        source,
                        where,
                        f"names {target!r}; only behavenet.* classes and the allow-list "
                        "behavenet.pretrained.ALLOWED_TARGETS may be instantiated from a file",
                    )
            else:
                check_targets(value, source, where)
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            check_targets(value, source, f"{prefix}[{i}]")
    elif isinstance(cfg, str) and "${" in cfg:
        # a saved config is fully resolved; an interpolation could read the environment or call
        # a resolver when the config is instantiated
        raise FormatError(
            source, prefix, f"holds the interpolation {cfg[:80]!r}; a loaded configuration must be resolved"
        )


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint's content, on the CPU, through ``torch.load(weights_only=True)``: tensors and
    plain values only. A file that needs anything else to unpickle (a class, a function: code that
    would run) is refused with a one-line :class:`FormatError` before any of it runs."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise FormatError(path, None, "checkpoint file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()
        detail = next((line for line in first if "GLOBAL" in line or "Unsupported" in line), "")
        raise FormatError(
            path,
            None,
            "refused: not a plain-tensor checkpoint (loading it would run code from the file"
            + (f": {detail.strip()[:160]}" if detail else "")
            + ")",
        ) from None
    except Exception as err:  # noqa: BLE001 - zip/pickle/format problems are all format problems
        raise FormatError(path, None, f"not a readable torch checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict):
        raise FormatError(path, None, f"expected a checkpoint dict, found {type(state).__name__}")
    return state


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(str(version).split("+")[0].split(".")[:2])


def check_versions(saved: dict, source: str | os.PathLike) -> list[str]:
    """Compare the ``{"behavenet": ..., "torch": ...}`` versions a model was saved with against
    the running ones; warn once per mismatch (:class:`VersionMismatchWarning`, one line).
    Returns the messages."""
    import torch

    import behavenet

    running = {"behavenet": behavenet.__version__, "torch": str(torch.__version__)}
    messages = []
    for lib, now in running.items():
        then = saved.get(lib)
        if then and _major_minor(then) != _major_minor(now):
            messages.append(f"{source}: saved with {lib} {then}, running {lib} {now}; embeddings may differ")
    for msg in messages:
        warnings.warn(msg, VersionMismatchWarning, stacklevel=3)
    return messages


def _module_from_state(family: str, config: dict, data_spec: dict, state_dict: dict, source) -> Any:
    """A :class:`~behavenet.models.lightning.FamilyModule` rebuilt from plain values (the family is
    looked up in the registry: no class name is read from the file)."""
    from behavenet.models.lightning import FamilyModule

    try:
        module = FamilyModule(family=str(family), config=dict(config or {}), data_spec=dict(data_spec or {}))
        module.load_state_dict(state_dict)
    except BehavenetError as err:
        raise FormatError(source, "config", f"cannot rebuild the model ({err})") from None
    except (RuntimeError, TypeError, KeyError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FormatError(source, "state_dict", f"does not fit the model it describes ({first[:200]})") from None
    module.eval()
    return module


# ---------------------------------------------------------------------------------------------
# the loaded model


class PretrainedModel:
    """A trained model ready to embed: :func:`load_pretrained` returns one.

    Attributes
    ----------
    name
        The registry name, or the path it was loaded from.
    model
        The :class:`~behavenet.models.lightning.FamilyModule` (on the CPU, in eval mode).
    family, embedding_dim
        The model family and the embedding width.
    data_config
        How the training data were read (the ``data`` section of the run's config), used to read
        new session files the same way; None for a bare checkpoint.
    normalization
        The statistics fitted on the training frames (``normalization.json``), applied unchanged
        to new data; None when unknown.
    card
        The model card (``card.json``) of a model directory, else ``{}``.
    versions
        The behavenet/torch versions it was saved with (``{}`` when unrecorded).
    """

    def __init__(
        self,
        model,
        name: str,
        path: Path,
        data_config: dict | None = None,
        normalization: dict | None = None,
        card: dict | None = None,
        versions: dict | None = None,
    ):
        self.model = model
        self.name = str(name)
        self.path = Path(path)
        self.data_config = data_config
        self.normalization = normalization
        self.card = dict(card or {})
        self.versions = dict(versions or {})

    def __repr__(self) -> str:
        return f"PretrainedModel({self.name!r}, family={self.family!r}, embedding_dim={self.embedding_dim})"

    @property
    def family(self) -> str:
        return self.model.family

    @property
    def embedding_dim(self) -> int:
        return int(self.model.embedding_dim)

    @property
    def input_names(self) -> list[str]:
        """The inputs the model embeds from (e.g. ``["spikes"]``)."""
        return list(self.model.core.embedding_inputs)

    # ------------------------------------------------------------------ embedding
    def embed(self, data, session_index: int = 0, batch_size: int | None = None, normalize: bool = True):
        """Embed ``data``:

        * a session file path (``str``/``Path``) -> a
          :class:`~behavenet.embeddings.SessionEmbedding` (every frame, one row per frame), read and
          normalised as the training data were;
        * a list of paths -> a list of them;
        * an array ``(T, F)`` (or ``{input: array}`` for a model with several inputs) -> a float32
          ``(T, D)`` array. With ``normalize`` (default) z-scored inputs are standardised with the
          training statistics of session ``session_index``; other inputs are used as given.
        """
        if isinstance(data, (str, os.PathLike)):
            return self.embed_files([data], session_state=session_index, batch_size=batch_size)[0]
        if isinstance(data, (list, tuple)) and data and all(isinstance(d, (str, os.PathLike)) for d in data):
            return self.embed_files(list(data), session_state=session_index, batch_size=batch_size)
        inputs = self._array_inputs(data)
        if normalize:
            inputs = self._normalize_arrays(inputs, session_index)
        n_sessions = len(self.model.core.data_spec.get("session_ids") or [None])
        core_session = session_index if 0 <= session_index < n_sessions else 0
        return self.model.embed(inputs, core_session, batch_size).float().cpu().numpy()

    def _array_inputs(self, data) -> dict[str, np.ndarray]:
        import torch

        from behavenet.models.estimator import EstimatorInputError

        names = self.input_names
        items = dict(data) if isinstance(data, dict) else (None if len(names) != 1 else {names[0]: data})
        if items is None:
            raise EstimatorInputError("data", f"this model reads {len(names)} inputs {names}: pass a dict")
        out = {}
        for name in names:
            if name not in items:
                raise EstimatorInputError("data", f"missing input {name!r}; got {sorted(items)}")
            arr = items[name]
            arr = arr.detach().cpu().numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr)
            if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
                raise EstimatorInputError(f"data[{name!r}]", f"expected a numeric array, got dtype {arr.dtype}")
            if arr.ndim < 2:
                raise EstimatorInputError(f"data[{name!r}]", f"expected (time, features), got shape {arr.shape}")
            shapes = (self.model.core.data_spec.get("inputs", {}).get(name) or {}).get("shapes") or []
            if shapes and list(arr.shape[1:]) not in [list(s) for s in shapes]:
                raise EstimatorInputError(
                    f"data[{name!r}]", f"per-frame shape {list(arr.shape[1:])}; the model was trained on {shapes[0]}"
                )
            out[name] = arr.astype(np.float32)
        return out

    def _normalize_arrays(self, inputs: dict, session_index: int) -> dict:
        if not self.normalization:
            return inputs
        states = self.normalization.get("state") or []
        if not states:
            return inputs
        state = states[min(max(int(session_index), 0), len(states) - 1)]
        if "kind" in state:  # older files: one input's statistics
            state = {self.input_names[0]: state}
        out = dict(inputs)
        for name, arr in inputs.items():
            st = state.get(name) or {}
            if st.get("kind") == "zscore" and "mean" in st:
                from behavenet.data.transforms import ZScore

                out[name] = ZScore(np.asarray(st["mean"], np.float32), np.asarray(st["std"], np.float32))(arr)
            elif st.get("kind") == "pose":
                raise FormatError(
                    self.name, name, "pose inputs are features computed from keypoints: pass a session file"
                )
        return out

    def datamodule(self, files, session_state: int | str = 0):
        """A data module reading ``files`` the way the model's training data were read, with the
        training normalisation (``session_state``: index of the training session whose statistics
        to use, or ``"fit"`` to fit new statistics on the files)."""
        import hydra

        if not self.data_config:
            raise FormatError(
                self.path, "data", "this checkpoint has no data configuration (config.yaml or data.yaml): embed arrays"
            )
        data_cfg = json.loads(json.dumps(self.data_config))  # a deep copy of plain values
        for key in ("kind", "generator", "cache_dir"):  # synthetic modules → plain session module
            data_cfg.pop(key, None)
        if str(data_cfg.get("_target_", "")).endswith("SyntheticDataModule"):
            data_cfg["_target_"] = "behavenet.data.SessionDataModule"
        data_cfg.setdefault("_target_", "behavenet.data.SessionDataModule")
        check_targets(data_cfg, self.path, "data")
        data_cfg["files"] = [str(f) for f in (files if isinstance(files, (list, tuple)) else [files])]
        data_cfg["splits"] = "1;0;0;0"  # every trial is "train": no frame is dropped as a gap
        data_cfg["trial_seconds"] = None
        data_cfg.pop("convert_cache", None)
        data_cfg.pop("on_disk_dir", None)  # a folder of the machine that trained it
        if session_state != "fit" and self.normalization is not None:
            data_cfg["normalization_state"] = self.normalization["state"][int(session_state)]
        return hydra.utils.instantiate(data_cfg, _convert_="all")

    def embed_files(self, files, session_state: int | str = 0, batch_size: int | None = None) -> list:
        """Embed every frame of every session file (a list of
        :class:`~behavenet.embeddings.SessionEmbedding`, ``split=None``)."""
        from behavenet.embeddings import SessionEmbedding

        dm = self.datamodule(files, session_state)
        dm.keep_keypoints = bool(getattr(self.model, "needs_keypoints", False))  # BeT per animal
        dm.setup()
        out = []
        try:
            for i, (sid, split, _) in enumerate(dm.iter_full_sessions()):
                reader = dm.readers[i]
                out.append(
                    SessionEmbedding(
                        session_id=sid,
                        embedding=self.model.embed_split(split, batch_size=batch_size),
                        frame_index=split.frame_index,
                        trial=split.trial_index,
                        labels=dict(split.labels),
                        label_kinds=dict(split.label_kinds),
                        vocabularies={
                            k: list(v.get("vocabulary") or [])
                            for k, v in getattr(dm, "_label_info", {}).items()
                            if v.get("vocabulary")
                        },
                        source_file=str(dm.files[i]),
                        fps=float(split.fps or 0.0),
                        trial_names=list(reader.trial_names),
                    )
                )
        finally:
            dm.teardown()
        return out


# ---------------------------------------------------------------------------------------------
# resolving names and paths


@dataclass
class PretrainedInfo:
    """One entry of :func:`list_pretrained`."""

    name: str
    description: str
    family: str
    source: str  # "user" or "bundled"
    path: str

    def __str__(self) -> str:
        return f"{self.name} ({self.family}, {self.source}): {self.description}"


def _model_dirs() -> list[tuple[str, Path]]:
    out = []
    for source, root in (("user", behavenet_home() / "models"), ("bundled", BUNDLED_DIR)):
        if root.is_dir():
            for d in sorted(root.iterdir()):
                if (d / "model.pt").is_file():
                    out.append((source, d))
    return out


def list_pretrained() -> list[PretrainedInfo]:
    """The models :func:`load_pretrained` finds by name: user models (``$BEHAVENET_HOME/models``)
    first, then the bundled ones; a user model hides a bundled one of the same name."""
    seen, out = set(), []
    for source, d in _model_dirs():
        if d.name in seen:
            continue
        seen.add(d.name)
        try:
            card = json.loads((d / "card.json").read_text())
        except (OSError, ValueError):
            card = {}
        out.append(
            PretrainedInfo(
                name=d.name,
                description=" ".join(str(card.get("description", "")).split()),
                family=str(card.get("family", "")),
                source=source,
                path=str(d),
            )
        )
    return out


def load_pretrained(name_or_path: str | os.PathLike) -> PretrainedModel:
    """Load a pretrained model from a run directory, a checkpoint file, a model directory or a
    registry name (see the module docstring); one-line :class:`FormatError` otherwise."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if (path / "model.pt").is_file():
            return _load_model_dir(path, str(name_or_path))
        if (path / "config.yaml").is_file() or (path / "checkpoints").is_dir():
            return _load_run_dir(path)
        raise FormatError(path, None, "not a run directory (config.yaml, checkpoints/last.ckpt) or model directory")
    if path.is_file():
        if path.name == "model.pt" and (path.parent / "card.json").is_file():
            return _load_model_dir(path.parent, str(name_or_path))
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
        if run_dir is not None and not (run_dir / "config.yaml").is_file():
            run_dir = None
        return _load_checkpoint_file(path, run_dir)
    name = str(name_or_path)
    for _, d in _model_dirs():
        if d.name == name:
            return _load_model_dir(d, name)
    known = ", ".join(i.name for i in list_pretrained()) or "none"
    raise FormatError(name, None, f"no such file, run directory or pretrained model (known names: {known})")


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        value = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise FormatError(path, None, f"not readable YAML ({type(err).__name__})") from None
    if not isinstance(value, dict):
        raise FormatError(path, None, "expected a mapping")
    return value


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise FormatError(path, None, f"not valid JSON ({err})") from None


def _load_run_dir(run_dir: Path) -> PretrainedModel:
    for name in ("config.yaml", "checkpoints/last.ckpt"):
        if not (run_dir / name).exists():
            raise FormatError(run_dir, name, "missing: not a complete behavenet run directory")
    return _load_checkpoint_file(run_dir / "checkpoints" / "last.ckpt", run_dir, name=str(run_dir))


def _load_checkpoint_file(path: Path, run_dir: Path | None, name: str | None = None) -> PretrainedModel:
    data_config = normalization = None
    if run_dir is not None:
        cfg = _read_yaml(run_dir / "config.yaml")
        check_targets(cfg, run_dir / "config.yaml")  # before the checkpoint is even opened
        data_config = cfg.get("data")
        normalization = _read_json(run_dir / "normalization.json")
    state = load_checkpoint(path)
    if state.get("format") == MODEL_FORMAT:
        return _from_model_state(state, path, name or str(path), data_config, normalization, {})
    fmt = str(state.get("format", ""))
    if fmt.startswith("behavenet.") and {"family", "config", "data_spec", "state_dict"} <= set(state):
        # a file of an estimator's save() (e.g. ContrastiveEmbedding): the core's own state dict
        core_state = {f"core.{k}": v for k, v in state["state_dict"].items()}
        plain = {k: v for k, v in state.items() if k != "format_version"}
        return _from_model_state({**plain, "state_dict": core_state}, path, name or str(path), None, None, {})
    hp = state.get("hyper_parameters")
    if not isinstance(hp, dict) or "family" not in hp or "state_dict" not in state:
        raise FormatError(path, "hyper_parameters", "not a behavenet checkpoint (expected family, config, data_spec)")
    versions = dict(state.get("behavenet") or {})
    versions = {"behavenet": versions.get("version"), "torch": versions.get("torch")}
    check_versions(versions, path)
    module = _module_from_state(hp["family"], hp.get("config"), hp.get("data_spec"), state["state_dict"], path)
    model = PretrainedModel(module, name or str(path), path, data_config, normalization, versions=versions)
    if run_dir is not None:
        model.cfg = _omegaconf(run_dir / "config.yaml")
    return model


def _omegaconf(path: Path):
    from omegaconf import OmegaConf

    return OmegaConf.load(path)


def _from_model_state(state: dict, path: Path, name: str, data_config, normalization, card) -> PretrainedModel:
    version = int(state.get("format_version", 0))
    if version > MODEL_FORMAT_VERSION:
        raise FormatError(path, "format_version", f"{version} is newer than this behavenet reads; upgrade behavenet")
    for key in ("family", "config", "data_spec", "state_dict"):
        if key not in state:
            raise FormatError(path, key, "missing from the model file")
    versions = dict(state.get("versions") or {})
    check_versions(versions, path)
    module = _module_from_state(state["family"], state["config"], state["data_spec"], state["state_dict"], path)
    return PretrainedModel(module, name, path, data_config, normalization, card, versions)


def _load_model_dir(d: Path, name: str) -> PretrainedModel:
    card = _read_json(d / "card.json") or {}
    expected = (card.get("files") or {}).get("model.pt", {}).get("sha256")
    if expected and sha256_file(d / "model.pt") != expected:
        raise FormatError(d / "model.pt", "sha256", "differs from the one in card.json: the file was changed")
    data_config = None
    if (d / "data.yaml").is_file():
        data_config = _read_yaml(d / "data.yaml")
        check_targets(data_config, d / "data.yaml", "data")
    normalization = _read_json(d / "normalization.json")
    state = load_checkpoint(d / "model.pt")
    if state.get("format") != MODEL_FORMAT:
        raise FormatError(d / "model.pt", "format", f"expected {MODEL_FORMAT!r}")
    return _from_model_state(state, d / "model.pt", name, data_config, normalization, card)


# ---------------------------------------------------------------------------------------------
# publishing


def save_pretrained(
    source: str | os.PathLike | PretrainedModel,
    out_dir: str | os.PathLike,
    *,
    description: str = "",
    licence: str = "",
    data: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write a model directory (``model.pt``, ``data.yaml``, ``normalization.json``,
    ``card.json``, ``README.md``) from a run directory, checkpoint or loaded model.

    ``model.pt`` holds only tensors and plain values (the family, its config, the data spec, the
    weights, the versions); ``card.json`` records ``description``, ``licence``, ``data`` (what
    it was trained on), the config, the run's headline metrics, the versions and the sha256 of
    every file. Copy the directory into ``$BEHAVENET_HOME/models/`` to load it by name.
    """
    import platform

    import torch
    import yaml

    import behavenet
    from behavenet.utils.files import atomic_path, atomic_write_text, write_json

    model = source if isinstance(source, PretrainedModel) else load_pretrained(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    module = model.model
    hp = dict(module.hparams)
    versions = {
        "behavenet": behavenet.__version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }
    state = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "family": str(hp["family"]),
        "config": hp["config"],
        "data_spec": hp["data_spec"],
        "state_dict": {k: v.detach().cpu().clone() for k, v in module.state_dict().items()},
        "versions": versions,
    }
    with atomic_path(out / "model.pt") as tmp:
        torch.save(state, tmp)
    files = ["model.pt"]
    if model.data_config:
        data_cfg = {k: v for k, v in model.data_config.items() if k not in ("files", "convert_cache", "on_disk_dir")}
        atomic_write_text(out / "data.yaml", yaml.safe_dump(data_cfg, sort_keys=False))
        files.append("data.yaml")
    if model.normalization is not None:
        write_json(out / "normalization.json", model.normalization)
        files.append("normalization.json")
    metrics = {}
    run_dir = model.path.parent.parent if model.path.parent.name == "checkpoints" else None
    if run_dir is not None and (run_dir / "metrics.json").is_file():
        m = json.loads((run_dir / "metrics.json").read_text())
        metrics = {
            "steps": m.get("steps"),
            "wall_time_s": m.get("wall_time_s"),
            "headline": headline_scores(m),
            "flat": {k: v for k, v in (m.get("flat") or {}).items() if "/test/" in k or k.startswith("test/")},
        }
    card = {
        "name": out.name,
        "description": " ".join(description.split()),
        "family": state["family"],
        "embedding_dim": int(module.embedding_dim),
        "inputs": list(module.core.embedding_inputs),
        "data": dict(data or {}),
        "config": state["config"],
        "metrics": metrics,
        "licence": licence,
        "versions": versions,
        "files": {f: {"sha256": sha256_file(out / f), "bytes": (out / f).stat().st_size} for f in files},
        **dict(extra or {}),
    }
    write_json(out / "card.json", card)
    atomic_write_text(out / "README.md", render_card(card))
    return out


def headline_scores(metrics: dict) -> list[str]:
    """Short phrases of a run's held-out decoding scores (``metrics.json``), e.g.
    ``"test position kNN R² 0.68, median error 33.6"``; the best decoder per label."""
    out = []
    for label, res in sorted((metrics.get("decoding") or {}).items()):
        if not isinstance(res, dict):
            continue
        best = None
        for dec in ("knn", "linear"):
            test = ((res.get(dec) or {}).get("test")) or {}
            key = "r2" if "r2" in test else "accuracy" if "accuracy" in test else None
            if key and (best is None or test[key] > best[2][best[1]]):
                best = (dec, key, test)
        if best is None:
            continue
        dec, key, test = best
        name = {"knn": "kNN", "linear": "linear"}[dec]
        if key == "r2":
            text = f"test {label} {name} R² {test['r2']:.2f}"
            if test.get("median_abs_error") is not None:
                text += f", median error {test['median_abs_error']:.3g}"
        else:
            text = f"test {label} {name} accuracy {test['accuracy']:.2f}"
            if test.get("f1_macro") is not None:
                text += f", F1 {test['f1_macro']:.2f}"
        out.append(text)
    return out


def render_card(card: dict) -> str:
    """The model card as Markdown (``README.md`` of a model directory)."""
    lines = [f"# {card.get('name', 'model')}", "", card.get("description", ""), ""]
    lines += [
        f"- family: `{card.get('family')}`, embedding dimension {card.get('embedding_dim')}, "
        f"inputs {', '.join(card.get('inputs') or [])}",
        f"- licence: {card.get('licence') or 'not stated'}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in (card.get("versions") or {}).items()),
    ]
    data = card.get("data") or {}
    if data:
        lines.append("- data: " + "; ".join(f"{k}: {v}" for k, v in data.items()))
    metrics = card.get("metrics") or {}
    if metrics.get("headline"):
        lines.append("- held-out scores: " + "; ".join(metrics["headline"]))
    if metrics.get("steps") is not None:
        lines.append(f"- training: {metrics['steps']} steps, {metrics.get('wall_time_s')} s")
    lines += ["", "## Files", "", "| file | sha256 |", "|---|---|"]
    lines += [f"| `{f}` | `{v['sha256']}` |" for f, v in (card.get("files") or {}).items()]
    lines += ["", "## Config", "", "```json", json.dumps(card.get("config", {}), indent=2), "```", ""]
    return "\n".join(lines)
