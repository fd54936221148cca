"""ONE scikit-learn style estimator base for every model family: :class:`FamilyEstimator`.

A family's estimator subclasses it, names its family and adds what is specific to its data
(``fit``/``transform`` turning arrays into :class:`~behavenet.data.splits.SplitData` and a data
spec). The base supplies the rest, the same for every family:

- the ``__init__`` signature, derived from the family's config dataclass (minus the fields set
  from the data, ``config_exclude``) and the estimator's own options (``Options``, a dataclass:
  iterations, device, seed, ...). A hyperparameter is declared once, in the config; scikit-learn's
  ``get_params``/``set_params``/``clone`` read it from the derived signature, and the class
  docstring lists every parameter with the field's docstring;
- building the core seeded, training it with a plain loop (:func:`train_core`: ``fit_data``, then
  the optimiser and schedule of :func:`behavenet.models.optim.make_optimizer`; no Lightning);
- ``save``/``load`` (tensors and plain values only: ``torch.load(weights_only=True)``), ``to``.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import platform
import sys
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator

from behavenet.errors import BehavenetError, ConfigError
from behavenet.models.config import FamilyConfig, field_docs
from behavenet.models.registry import build_core, get_family
from behavenet.utils.plain import to_plain

__all__ = ["EstimatorInputError", "FamilyEstimator", "train_core"]

_FORMAT_VERSION = 2


class EstimatorInputError(BehavenetError, ValueError):
    """A bad array or argument given to an estimator (one-line message)."""

    def __init__(self, what: str, message: str):
        self.what = what
        self.message = " ".join(str(message).split())
        super().__init__(f"{what}: {self.message}")


@dataclasses.dataclass
class EstimatorOptions:
    """Options every estimator has (besides its family's hyperparameters)."""

    device: str = "cpu"
    """cpu | cuda | cuda:N | mps | cuda_if_available."""
    seed: int | None = 0
    """Seeds the weights and every sampled batch: the same seed gives bit-identical results on the
    CPU (same machine, same thread count); None draws one."""
    verbose: bool = False
    """Show a progress bar with the training loss."""


class FamilyEstimator(BaseEstimator):
    """Base of the families' scikit-learn style estimators (see the module docstring).

    Subclasses set ``family`` (a registered name), optionally ``Options`` (a dataclass subclassing
    :class:`EstimatorOptions` with the estimator's own parameters), ``config_exclude`` (config
    fields the estimator sets from the data), ``fitted_attributes`` (what :meth:`save` keeps
    besides the core) and implement ``fit``/``transform``.
    """

    family: ClassVar[str] = ""
    Options: ClassVar[type] = EstimatorOptions
    config_exclude: ClassVar[tuple[str, ...]] = ()
    fitted_attributes: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ parameters
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.family:
            return
        params = cls._parameters()

        def __init__(self, **given):
            unknown = [k for k in given if k not in params]
            if unknown:
                import difflib

                near = difflib.get_close_matches(unknown[0], list(params), n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}{hint}")
            for name, (default, _, _) in params.items():
                value = given[name] if name in given else default
                if name not in given and isinstance(value, (dict, list)):
                    value = type(value)(value)  # a fresh default container per instance
                setattr(self, name, value)

        __init__.__signature__ = inspect.Signature(
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
            + [
                inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
                for n, (d, a, _) in params.items()
            ]
        )
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        __init__.__doc__ = f"See :class:`{cls.__name__}`."
        cls.__init__ = __init__
        cls.__doc__ = (inspect.cleandoc(cls.__doc__ or "") + "\n\n" + _parameter_section(params)).strip()

    @classmethod
    def config_class(cls) -> type[FamilyConfig]:
        return get_family(cls.family).config_class

    @classmethod
    def config_fields(cls) -> list[str]:
        """The config fields the estimator exposes as parameters."""
        return [f for f in cls.config_class().field_names() if f not in cls.config_exclude]

    @classmethod
    def _parameters(cls) -> dict[str, tuple[Any, Any, str]]:
        """``{name: (default, annotation, doc)}``: the family's config fields, then the options."""
        out = {}
        for klass in (cls.config_class(), cls.Options):
            docs = field_docs(klass)
            hints = _hints(klass)
            defaults = klass().__dict__
            names = cls.config_fields() if klass is not cls.Options else [f.name for f in dataclasses.fields(klass)]
            for name in names:
                if name in out:
                    raise TypeError(f"{cls.__name__}: option {name!r} is also a config field")
                out[name] = (defaults[name], hints.get(name, inspect.Parameter.empty), docs.get(name, ""))
        return out

    def _config(self, **from_data) -> FamilyConfig:
        """The family config from the estimator's parameters (and the ``config_exclude`` fields
        set from the data); one-line :class:`EstimatorInputError` for a bad value."""
        values = {name: getattr(self, name) for name in self.config_fields()}
        values.update(from_data)
        try:
            return self.config_class().from_dict(values, prefix="model")
        except ConfigError as err:
            raise _as_input_error(err) from None

    # ------------------------------------------------------------------ device and core
    def _resolve_device(self) -> torch.device:
        dev = str(self.device)
        if dev == "cuda_if_available":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        if dev == "cuda" or dev.startswith("cuda:"):
            if not torch.cuda.is_available():
                raise EstimatorInputError("device", f"{dev!r} requested but CUDA is not available")
            try:
                idx = int(dev.split(":")[1]) if ":" in dev else 0
            except ValueError:
                idx = -1
            if not 0 <= idx < torch.cuda.device_count():
                raise EstimatorInputError("device", f"{dev!r}: expected cuda:0..cuda:{torch.cuda.device_count() - 1}")
            return torch.device("cuda", idx)
        if dev == "mps":
            if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
                raise EstimatorInputError("device", "'mps' requested but MPS is not available")
            return torch.device("mps")
        if dev != "cpu":
            raise EstimatorInputError(
                "device", f"expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'cuda_if_available', got {dev!r}"
            )
        return torch.device("cpu")

    def _seed(self) -> int:
        if self.seed is None:
            return int(np.random.SeedSequence().entropy % (2**31))
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise EstimatorInputError("seed", f"expected an integer or None, got {self.seed!r}")
        return int(self.seed)

    def _build_core(self, config: FamilyConfig, data_spec: dict, seed: int):
        """The family's core, its weights drawn from ``seed`` (the global RNG is left as it was)."""
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return build_core(self.family, config, data_spec)
        except ConfigError as err:
            raise _as_input_error(err) from None

    def _train(self, core, splits, steps: int, seed: int, batch_size: int = 256, **validation):
        """Fit ``core`` on ``splits`` (:func:`train_core`; ``validation``: its ``val_splits``,
        ``eval_every`` and ``patience``); config errors become input errors."""
        try:
            return train_core(
                core, splits, steps, seed, progress=bool(self.verbose), batch_size=batch_size, **validation
            )
        except ConfigError as err:
            raise _as_input_error(err) from None

    # ------------------------------------------------------------------ transform
    def transform(self, X, session_id: int | None = None, batch_size: int | None = None):
        """Embeddings ``(T, D)`` of one session's ``X`` (``session_id`` picks the session of a
        multi-session fit), or, for a list with one ``X`` per session in fit order, a list of them."""
        self._check_fitted()
        n = int(self.num_sessions_)
        if isinstance(X, (list, tuple)):
            if session_id is not None:
                raise EstimatorInputError("X", "pass one session with session_id, or a list of all sessions without it")
            if len(X) != n:
                raise EstimatorInputError("X", f"got {len(X)} sessions, the model was fitted on {n}")
            return [self._transform_one(x, i, batch_size) for i, x in enumerate(X)]
        if session_id is None:
            if n > 1:
                raise EstimatorInputError("session_id", f"the model has {n} sessions; pass session_id=0..{n - 1}")
            session_id = 0
        if isinstance(session_id, bool) or not isinstance(session_id, (int, np.integer)) or not 0 <= session_id < n:
            raise EstimatorInputError("session_id", f"expected an integer in 0..{n - 1}, got {session_id!r}")
        return self._transform_one(X, int(session_id), batch_size)

    def _transform_one(self, X, session_index: int, batch_size: int | None):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _contract_output(cls, output) -> np.ndarray:
        """``transform``'s output as one ``(rows, D)`` array (for the contract test; families whose
        ``transform`` returns several blocks override it)."""
        return np.asarray(output)

    # ------------------------------------------------------------------ persistence
    def to(self, device: str):
        """Move the fitted model to ``device`` (``"cpu"``, ``"cuda"``, ...); returns self."""
        self._check_fitted()
        self.model_.to(torch.device(device))
        self.device = str(device)
        return self

    def _check_fitted(self) -> None:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "model_")

    @classmethod
    def _format_tag(cls) -> str:
        return f"behavenet.{cls.__name__}"

    def save(self, path: str | os.PathLike) -> None:
        """Write a self-contained torch file: the parameters, the core's config and data spec,
        its CPU state dict, the fitted attributes and the library versions. Only tensors and plain
        values, so :meth:`load` uses ``torch.load(weights_only=True)``."""
        self._check_fitted()
        import sklearn

        import behavenet
        from behavenet.utils.files import atomic_path

        core = self.model_
        state = {
            "format": self._format_tag(),
            "format_version": _FORMAT_VERSION,
            "family": core.family,
            "args": to_plain(self.get_params(deep=False)),
            "config": core.config.to_dict(),
            "data_spec": to_plain(core.data_spec),
            "state_dict": {k: v.detach().cpu().clone() for k, v in core.state_dict().items()},
            "fitted": {name: to_plain(getattr(self, name)) for name in self.fitted_attributes},
            "history": torch.as_tensor(np.asarray(getattr(self, "history_", []), dtype=np.float32)),
            "versions": to_plain(
                {
                    "behavenet": behavenet.__version__,
                    "torch": torch.__version__,
                    "numpy": np.__version__,
                    "sklearn": sklearn.__version__,
                    "python": platform.python_version(),
                }
            ),
        }
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Load a file written by :meth:`save`, on the CPU (use :meth:`to` to move it)."""
        path = os.fspath(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise EstimatorInputError(path, "file not found") from None
        except Exception as err:  # noqa: BLE001 - any unpickling problem is a format problem
            raise EstimatorInputError(path, f"not a {cls.__name__} file ({type(err).__name__})") from None
        if not isinstance(state, dict) or state.get("format") != cls._format_tag():
            raise EstimatorInputError(path, f"not a {cls.__name__} file (missing format tag)")
        version = int(state.get("format_version", 0))
        if version > _FORMAT_VERSION:
            raise EstimatorInputError(
                path,
                f"file format {version} is newer than this behavenet "
                f"understands ({_FORMAT_VERSION}); upgrade behavenet",
            )
        state = cls._upgrade_state(state)
        valid = cls._parameters()
        est = cls(**{k: _tuples(v) for k, v in state["args"].items() if k in valid})
        try:
            core = build_core(cls.family, state["config"], state["data_spec"])
            core.load_state_dict(state["state_dict"])
        except (ConfigError, RuntimeError, TypeError, KeyError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise EstimatorInputError(path, f"cannot rebuild the model from this file ({first})") from None
        core.eval()
        est.model_ = core
        for name in cls.fitted_attributes:
            setattr(est, name, state["fitted"].get(name))
        est.history_ = state["history"].numpy()
        est.versions_ = state.get("versions", {})
        est.device = "cpu"  # the model is on the CPU; the saved device is never replayed
        return est

    @classmethod
    def _upgrade_state(cls, state: dict) -> dict:
        """Hook for reading older file formats (default: unchanged)."""
        return state


# ---------------------------------------------------------------------------------------------
# the training loop without Lightning


def train_core(
    core,
    splits,
    steps: int,
    seed: int = 0,
    progress: bool = False,
    batch_size: int = 256,
    history=None,
    val_splits=None,
    eval_every: int = 0,
    patience: int = 0,
):
    """Fit ``core`` on ``splits`` with a plain loop: ``core.fit_data``, then ``steps`` optimiser
    steps on batches of the core's training dataset (seeded), the schedule stepped per step.

    With ``val_splits`` and ``eval_every`` > 0, the mean validation loss is computed every
    ``eval_every`` steps; training stops after ``patience`` evaluations (0: never) without a new
    best, and the core ends with the weights of its best evaluation. The evaluations are in
    ``history.validation`` as ``(step, loss)`` pairs and the step of the weights kept in
    ``history.best_step``.

    The same arithmetic as a ``python train.py`` run of the same core with the same seed and
    weights. Returns the :class:`~behavenet.models.base.LossHistory` of the training losses
    (Lightning is not imported). The training data kept by the core are released at the end.
    """
    from behavenet.models.base import LossHistory

    history = history if history is not None else LossHistory()
    # the global torch generator drives dropout and reparameterised samples: seed it for this fit
    # only (the caller's random state is restored afterwards), so a seed makes fits bit-identical
    devices = [core.device] if core.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        return _train_loop(
            core, splits, steps, seed, progress, batch_size, history, val_splits, int(eval_every), int(patience)
        )


def _train_loop(core, splits, steps, seed, progress, batch_size, history, val_splits, eval_every, patience):
    from behavenet.data.loaders import make_loader, move_to_device

    core.fit_data(splits)
    if not core.trainable or int(steps) <= 0:
        core.eval()
        return history
    dataset = core.make_dataset(splits, "train", seed)
    if dataset is None:
        raise ConfigError("data", "no training data")
    loader = make_loader(dataset, batch_size, "train", seed)
    optimizer, scheduler = core.configure_optimizers(int(steps))
    device = core.device
    core.train()
    bar = _Progress(int(steps)) if progress else None
    val_loader = None
    if val_splits and eval_every > 0:
        val_set = core.make_dataset(val_splits, "val", seed)
        val_loader = make_loader(val_set, batch_size, "val", seed) if val_set is not None else None
    history.validation, history.best_step = [], None
    best, best_state, waited = float("inf"), None, 0
    try:
        batches = _forever(loader)
        for step in range(int(steps)):
            batch = next(batches)
            if device.type != "cpu":
                batch = move_to_device(batch, device)
            loss, _ = core.loss(batch, "train")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss = loss.detach()
            history.record(loss)
            if bar is not None:
                bar.update(loss)
            if val_loader is not None and ((step + 1) % eval_every == 0 or step + 1 == int(steps)):
                value = _mean_loss(core, val_loader, device)
                history.validation.append((step + 1, value))
                if value < best:
                    best, waited, history.best_step = value, 0, step + 1
                    best_state = {k: v.detach().clone() for k, v in core.state_dict().items()}
                else:
                    waited += 1
                    if patience > 0 and waited >= patience:
                        break
        if best_state is not None:
            core.load_state_dict(best_state)
    finally:
        if bar is not None:
            bar.close()
        core.release("train")
    core.eval()
    return history


def _mean_loss(core, loader, device) -> float:
    """Mean of ``core.loss`` over ``loader``'s batches in eval mode (the core is left training)."""
    from behavenet.data.loaders import move_to_device

    core.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            if device.type != "cpu":
                batch = move_to_device(batch, device)
            total += float(core.loss(batch, "val")[0])
            n += 1
    core.train()
    return total / max(n, 1)


def _forever(loader):
    """Batches of ``loader``, epoch after epoch."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ConfigError(
                "data", "the training dataset yields no batches (too few frames for the model's receptive field?)"
            )


class _Progress:
    """A one-line progress display on stderr (tqdm when installed)."""

    def __init__(self, total: int):
        self.total, self.done, self._bar = total, 0, None
        self._every = max(1, total // 20)
        try:
            from tqdm import tqdm
        except ImportError:  # pragma: no cover - tqdm is optional
            tqdm = None
        if tqdm is not None:
            self._bar = tqdm(total=total, desc="fit", unit="step")

    def update(self, loss: torch.Tensor) -> None:
        self.done += 1
        if self.done % self._every and self.done != self.total:
            return
        value = float(loss)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            self._bar.update(self.done - self._bar.n)
        else:  # pragma: no cover
            print(f"fit: step {self.done}/{self.total}, loss {value:.4f}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# ---------------------------------------------------------------------------------------------
# helpers


def _as_input_error(err: ConfigError) -> EstimatorInputError:
    """A model config error re-labelled as the estimator argument of the same name."""
    return EstimatorInputError(err.key.replace("model.", ""), err.message)


def _tuples(value):
    return tuple(value) if isinstance(value, list) else value


def _hints(klass) -> dict:
    import typing

    try:
        return typing.get_type_hints(klass)
    except Exception:  # noqa: BLE001 - annotations that cannot be resolved are left out
        return {}


def _parameter_section(params: dict[str, tuple[Any, Any, str]]) -> str:
    lines = ["Parameters", "----------"]
    for name, (default, _, doc) in params.items():
        lines.append(f"{name} (default {default!r})")
        if doc:
            lines.append(f"    {doc}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# estimators over plain arrays


@dataclasses.dataclass
class ArrayOptions(EstimatorOptions):
    """Options of the estimators that take plain arrays."""

    max_iterations: int = 1000
    """Training steps (families fitted in closed form take none)."""
    batch_size: int = 256
    """Windows (or trials) per training step."""


class ArrayEstimator(FamilyEstimator):
    """An estimator for families that learn from inputs alone (no labels), on plain arrays.

    ``X`` is one session's ``(T, *F)`` array, a dict ``{input name: (T, *F) array}`` for a family
    that reads several inputs, or a list of either (one per session, in a fixed order).
    :meth:`transform` returns ``(T, D)`` embeddings (a list for a list). Arrays are used as given
    (no normalisation); NaN or infinite values are refused.
    """

    Options = ArrayOptions
    fitted_attributes = ("input_names_", "feature_shapes_", "num_sessions_", "multi_session_", "seed_")
    #: The input name given to a bare array.
    default_input: ClassVar[str] = "features"

    def _sessions(self, X) -> tuple[list[dict], bool]:
        multi = isinstance(X, (list, tuple))
        items = list(X) if multi else [X]
        if not items:
            raise EstimatorInputError("X", "got an empty list of sessions")
        out = []
        for s, item in enumerate(items):
            what = f"X[{s}]" if multi else "X"
            arrays = dict(item) if isinstance(item, dict) else {self.default_input: item}
            clean = {}
            for name, arr in arrays.items():
                if isinstance(arr, torch.Tensor):
                    arr = arr.detach().cpu().numpy()
                arr = np.asarray(arr)
                label = f"{what}[{name!r}]" if isinstance(item, dict) else what
                if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                    raise EstimatorInputError(label, f"expected a numeric array, got dtype {arr.dtype}")
                if arr.ndim < 2:
                    raise EstimatorInputError(label, f"expected (time, features), got shape {arr.shape}")
                arr = arr.astype(np.float32)
                if not np.isfinite(arr).all():
                    raise EstimatorInputError(label, "contains NaN or infinite values")
                clean[str(name)] = arr
            lengths = {len(a) for a in clean.values()}
            if len(lengths) != 1:
                raise EstimatorInputError(what, f"inputs differ in length: {sorted(lengths)} frames")
            out.append(clean)
        return out, multi

    def fit(self, X, y=None):
        """Fit on ``X`` (see the class docstring); ``y`` is ignored."""
        from behavenet.data.splits import SplitData

        sessions, multi = self._sessions(X)
        names = list(sessions[0])
        for s, arrays in enumerate(sessions):
            if list(arrays) != names:
                raise EstimatorInputError(f"X[{s}]", f"has inputs {list(arrays)}, the first session {names}")
        spec = {
            "input": names[0],
            "input_shapes": [list(a[names[0]].shape[1:]) for a in sessions],
            "inputs": {n: {"shapes": [list(a[n].shape[1:]) for a in sessions]} for n in names},
            "session_ids": [f"session{s}" for s in range(len(sessions))],
            "labels": {},
            "fps": None,
        }
        splits = [
            SplitData(session_id=f"session{s}", session_index=s, inputs=arrays) for s, arrays in enumerate(sessions)
        ]
        device = self._resolve_device()
        seed = self._seed()
        core = self._build_core(self._config(**self._config_from_data(seed)), spec, seed)
        left, right = core.receptive_field
        for s, arrays in enumerate(sessions):
            n = len(next(iter(arrays.values())))
            if n < left + right:
                raise EstimatorInputError(
                    f"X[{s}]" if multi else "X",
                    f"has {n} frames; the model's receptive field needs at least {left + right}",
                )
        core.to(device)
        history = self._train(core, splits, int(self.max_iterations), seed, batch_size=int(self.batch_size))
        self.model_ = core
        self.input_names_ = names
        self.feature_shapes_ = [{n: list(a[n].shape[1:]) for n in names} for a in sessions]
        self.num_sessions_ = len(sessions)
        self.multi_session_ = multi
        self.seed_ = seed
        self.history_ = history.numpy()
        return self

    def _config_from_data(self, seed: int) -> dict:
        """Values of ``config_exclude`` fields (default: none)."""
        return {}

    def _transform_one(self, X, session_index: int, batch_size: int | None):
        """``(T, D)`` embedding of one session's ``X`` with the encoder of ``session_index``."""
        (arrays,), _ = self._sessions(X)
        if list(arrays) != list(self.input_names_):
            raise EstimatorInputError("X", f"has inputs {list(arrays)}, the model was fitted on {self.input_names_}")
        want = self.feature_shapes_[session_index]
        for name, arr in arrays.items():
            if list(arr.shape[1:]) != want[name]:
                raise EstimatorInputError(
                    "X",
                    f"input {name!r} has per-frame shape {list(arr.shape[1:])}, the "
                    f"model (session {session_index}) was fitted with {want[name]}",
                )
        emb = self.model_.embed(arrays, session_index, batch_size)
        return emb.float().cpu().numpy()
