"""``ContrastiveEmbedding``: a scikit-learn style estimator around :class:`ContrastiveCore`.

::

    from behavenet.models.contrastive import ContrastiveEmbedding

    est = ContrastiveEmbedding(model_architecture="offset10", output_dimension=8,
                               batch_size=512, max_iterations=2000, time_offsets=10, seed=0)
    est.fit(neural, position)                 # float label -> continuous (time_delta)
    z = est.transform(neural)                 # (T, 8) numpy array
    est.save("model.pt"); est2 = ContrastiveEmbedding.load("model.pt")

Labels are typed explicitly, never by dtype alone: pass ``label_types=("continuous",
"discrete")`` (one entry per label given to :meth:`fit`). Without ``label_types`` a floating-point
label is taken as continuous; any other dtype (integers, booleans, strings) is refused with a
message asking for ``label_types``. Lists of arrays (one per session) train one encoder per
session in one shared embedding space (labels are needed to align the sessions).

Inputs per session: ``(T, N)`` neural or feature arrays; ``(T, K, 2|3)`` or ``(T, A, K, 2|3)``
float keypoints (egocentric pose features, see :func:`behavenet.data.transforms.pose_features`;
NaN keypoints are allowed and filled after centring); ``(T, H, W)``, ``(T, H, W, C)`` or
``(T, C, H, W)`` uint8 video (a per-frame CNN feeds the temporal encoder). ``input_type``
overrides the automatic choice.

The estimator is a :class:`~behavenet.models.estimator.FamilyEstimator`: its parameters are the
fields of :class:`~behavenet.models.contrastive.config.ContrastiveConfig` (less ``labels``,
``input``, ``val_batches``, ``frame_encoder`` and ``frame_layout``, which it sets from the data)
and its own options (``max_iterations``, ``label_types``, ``input_type``, ``device``, ``seed``,
``verbose``). It trains the same :class:`~behavenet.models.contrastive.core.ContrastiveCore` as
``python train.py model=contrastive``, with a plain loop, and imports no Lightning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import TransformerMixin

from behavenet.data.splits import SplitData
from behavenet.models.estimator import EstimatorInputError, EstimatorOptions, FamilyEstimator

__all__ = ["ContrastiveEmbedding", "EstimatorInputError"]

_INPUT_TYPES = ("auto", "neural", "pose", "video")
_LABEL_TYPES = ("continuous", "discrete")


@dataclass
class ContrastiveOptions(EstimatorOptions):
    """The estimator's own parameters (besides the family's hyperparameters)."""

    max_iterations: int = 10000
    """Training steps (CEBRA's name)."""
    label_types: Sequence[str] | None = None
    """One of continuous | discrete per label passed to fit; None accepts float labels as
    continuous and refuses other dtypes."""
    input_type: str = "auto"
    """auto | neural | pose | video: how to read X."""


class ContrastiveEmbedding(TransformerMixin, FamilyEstimator):
    """Contrastive (CEBRA-like) embedding with a scikit-learn interface.

    Parameters use CEBRA's names where the concept is the same (see ``docs/contrastive.md`` for
    the migration table): Adam for ``max_iterations`` steps of ``batch_size`` references (and as
    many negatives) per session. The same seed gives bit-identical embeddings on the CPU (same
    machine, same thread count).
    """

    family = "contrastive"
    Options = ContrastiveOptions
    config_exclude = ("labels", "input", "val_batches", "frame_encoder", "frame_layout")
    fitted_attributes = (
        "input_kind_",
        "input_scale_",
        "feature_shapes_",
        "label_info_",
        "label_vocab_",
        "num_sessions_",
        "multi_session_",
        "n_features_in_",
        "conditional_",
        "seed_",
    )

    # ------------------------------------------------------------------ input handling
    def _input_kind(self, x: np.ndarray, what: str) -> str:
        if self.input_type not in _INPUT_TYPES:
            raise EstimatorInputError(
                "input_type", f"expected one of {', '.join(_INPUT_TYPES)}, got {self.input_type!r}"
            )
        if x.ndim < 2:
            raise EstimatorInputError(what, f"expected at least 2 dimensions (time, features), got shape {x.shape}")
        if self.input_type != "auto":
            return self.input_type
        if x.dtype == np.uint8 and x.ndim in (3, 4):
            return "video"
        if x.ndim == 2:
            return "neural"
        if x.ndim in (3, 4) and x.shape[-1] in (2, 3) and np.issubdtype(x.dtype, np.floating):
            return "pose"
        raise EstimatorInputError(
            what,
            f"cannot tell the input type of an array of shape {x.shape} and dtype "
            f"{x.dtype}: expected (T, N) features, (T, [A,] K, 2|3) float keypoints or "
            "(T, H, W[, C]) uint8 video; or set input_type",
        )

    def _features(self, x, what: str, kind: str | None = None, scale: float | None = None):
        """``(features array, kind, scale)`` for one session's input."""
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        x = np.asarray(x)
        if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise EstimatorInputError(what, f"expected a numeric array, got dtype {x.dtype}")
        if x.ndim < 2:
            raise EstimatorInputError(what, f"expected at least 2 dimensions (time, features), got shape {x.shape}")
        if 0 in x.shape:
            raise EstimatorInputError(what, f"expected at least one frame and one feature, got shape {x.shape}")
        kind = kind or self._input_kind(x, what)
        if kind == "video":
            if x.ndim == 3:
                x = x[..., None]
            elif x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
                x = np.moveaxis(x, 1, -1)
            if x.ndim != 4:
                raise EstimatorInputError(what, f"video must be (T, H, W), (T, H, W, C) or (T, C, H, W), got {x.shape}")
            if x.dtype != np.uint8:
                x = x.astype(np.float32)
                if not np.isfinite(x).all():
                    raise EstimatorInputError(what, "video contains NaN or infinite values")
            return np.ascontiguousarray(x), kind, 1.0
        if kind == "pose":
            if x.ndim not in (3, 4) or x.shape[-1] not in (2, 3):
                raise EstimatorInputError(what, f"keypoints must be (T, K, 2|3) or (T, A, K, 2|3), got {x.shape}")
            x = x.astype(np.float32)
            if np.isinf(x).any():
                raise EstimatorInputError(what, "keypoints contain infinite values (NaN marks a missing keypoint)")
            feats = _pose_features(x)
            if scale is None:
                rms = float(np.sqrt(np.mean(feats**2))) if feats.size else 1.0
                scale = rms if rms > 0 else 1.0
            return (feats / scale).astype(np.float32), kind, scale
        x = x.reshape(len(x), -1).astype(np.float32)
        if not np.isfinite(x).all():
            bad = int((~np.isfinite(x)).any(axis=1).sum())
            raise EstimatorInputError(
                what, f"contains NaN or infinite values ({bad} frames); clean or impute them first"
            )
        return x, kind, 1.0

    def _labels(self, y, i: int, session: int | None, n_frames: int) -> tuple[np.ndarray, str]:
        what = f"labels[{i}]" + (f"[session {session}]" if session is not None else "")
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        y = np.asarray(y)
        types = self.label_types
        if types is not None:
            types = [types] if isinstance(types, str) else list(types)
        if types is not None and i >= len(types):
            raise EstimatorInputError(
                "label_types", f"gives {len(types)} type(s) but label {i} was passed too; give one type per label"
            )
        kind = types[i] if types is not None else None
        if kind is not None and kind not in _LABEL_TYPES:
            raise EstimatorInputError("label_types", f"expected 'continuous' or 'discrete', got {kind!r}")
        if len(y) != n_frames:
            raise EstimatorInputError(what, f"has {len(y)} rows but the input has {n_frames} frames")
        if kind is None:
            if np.issubdtype(y.dtype, np.floating):
                kind = "continuous"
            else:
                raise EstimatorInputError(
                    what,
                    f"has dtype {y.dtype}; say whether it is continuous or discrete with "
                    "label_types=('discrete',) (or 'continuous'), one entry per label",
                )
        if kind == "continuous":
            if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
                raise EstimatorInputError(what, f"continuous labels must be numeric, got dtype {y.dtype}")
            y = y.astype(np.float32).reshape(n_frames, -1)
            if not np.isfinite(y).all():
                raise EstimatorInputError(what, "contains NaN or infinite values")
            return y, kind
        # discrete
        if y.ndim > 1 and not (y.ndim == 2 and y.shape[1] == 1):
            raise EstimatorInputError(what, f"a discrete label must be 1-D (one class per frame), got shape {y.shape}")
        y = y.reshape(n_frames)
        if np.issubdtype(y.dtype, np.floating):
            if not np.isfinite(y).all():
                raise EstimatorInputError(what, "contains NaN or infinite values")
            if not np.all(y == np.round(y)):
                raise EstimatorInputError(
                    what,
                    "is declared discrete but has non-integer values; use "
                    "label_types=('continuous',) or pass class codes",
                )
            return y.astype(np.int64), kind
        if np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
            return y.astype(np.int64), kind
        # strings or other objects: map class names to codes (the mapping is kept per fit)
        return y, kind

    def _sessions(self, X) -> tuple[list, bool]:
        if isinstance(X, (list, tuple)):
            if len(X) == 0:
                raise EstimatorInputError("X", "got an empty list of sessions")
            return list(X), True
        return [X], False

    def _build(self, X, y: tuple, fitting: bool):
        xs, multi = self._sessions(X)
        n_sessions = len(xs)
        labels_per: list[list] = []
        for i, lab in enumerate(y):
            if multi:
                if not isinstance(lab, (list, tuple)) or len(lab) != n_sessions:
                    got = len(lab) if isinstance(lab, (list, tuple)) else "an array"
                    raise EstimatorInputError(
                        f"labels[{i}]",
                        f"with {n_sessions} sessions, pass a list of {n_sessions} arrays (one per session), got {got}",
                    )
                labels_per.append(list(lab))
            else:
                if isinstance(lab, (list, tuple)) and len(lab) != len(xs[0]) and all(np.ndim(a) >= 1 for a in lab):
                    raise EstimatorInputError(
                        f"labels[{i}]",
                        f"is a list of {len(lab)} arrays (one per "
                        "session?) but X is a single array; pass the label array "
                        "itself, or X as a list of sessions",
                    )
                labels_per.append([lab])
        if fitting:
            kinds_in = [self._input_kind(np.asarray(x), f"X[{s}]" if multi else "X") for s, x in enumerate(xs)]
            if len(set(kinds_in)) != 1:
                raise EstimatorInputError("X", f"all sessions must have the same input type, got {kinds_in}")
            kind = kinds_in[0]
            scale = None
        else:
            kind, scale = self.input_kind_, self.input_scale_
        feats = []
        for s, x in enumerate(xs):
            f, kind, sc = self._features(x, f"X[{s}]" if multi else "X", kind, scale)
            if fitting and kind == "pose":
                scale = sc if scale is None else scale
            feats.append(f)
        splits, label_info, kinds, vocab = [], {}, {}, getattr(self, "label_vocab_", {})
        vocab = dict(vocab) if not fitting else {}
        for s, f in enumerate(feats):
            labs, lkinds = {}, {}
            for i, per in enumerate(labels_per):
                arr, k = self._labels(per[s], i, s if multi else None, len(f))
                name = f"label{i}"
                if k == "discrete" and arr.dtype != np.int64:
                    names = vocab.setdefault(name, [])
                    for v in np.unique(arr).tolist():
                        if v not in names:
                            names.append(v)
                    lookup = {v: j for j, v in enumerate(names)}
                    arr = np.array([lookup[v] for v in arr.tolist()], dtype=np.int64)
                labs[name], lkinds[name] = arr, k
                prev = kinds.get(name)
                if prev is not None and prev != k:
                    raise EstimatorInputError(f"labels[{i}]", "has different types in different sessions")
                kinds[name] = k
                label_info[name] = {"kind": k, "dim": int(arr.shape[1]) if arr.ndim == 2 else 1}
            splits.append(
                SplitData(session_id=f"session{s}", session_index=s, inputs={kind: f}, labels=labs, label_kinds=lkinds)
            )
        if fitting:
            for i in range(len(labels_per)):
                name = f"label{i}"
                if kinds.get(name) == "discrete":
                    classes = np.unique(np.concatenate([sp.labels[name] for sp in splits]))
                    if len(classes) < 2:
                        raise EstimatorInputError(
                            f"labels[{i}]",
                            f"is discrete with a single class "
                            f"({classes.tolist()}); positives and negatives would be drawn "
                            "alike: give at least 2 classes or drop this label",
                        )
        return splits, feats, kind, scale if scale is not None else 1.0, label_info, vocab, multi

    # ------------------------------------------------------------------ fit
    def fit(self, X, *y, **fit_params):
        """Train on ``X`` (an array, or a list of arrays for several sessions) and labels ``y``."""
        if fit_params:
            raise EstimatorInputError("fit", f"unexpected keyword argument(s) {sorted(fit_params)}")
        self._check_arguments(len(y))
        splits, feats, kind, scale, label_info, vocab, multi = self._build(X, y, fitting=True)
        device = self._resolve_device()
        seed = self._seed()
        spec = {
            "input": kind,
            "input_shapes": [list(f.shape[1:]) for f in feats],
            "session_ids": [s.session_id for s in splits],
            "labels": label_info,
            "fps": None,
        }
        config = self._config(frame_encoder="conv" if kind == "video" else None)
        model = self._build_core(config, spec, seed)
        self._check_lengths(model, splits)
        model.to(device)
        history = self._train(model, splits, int(self.max_iterations), seed)
        self.model_ = model
        self.input_kind_ = kind
        self.input_scale_ = float(scale)
        self.feature_shapes_ = [list(f.shape[1:]) for f in feats]
        self.label_info_ = label_info
        self.label_vocab_ = vocab
        self.num_sessions_ = len(feats)
        self.multi_session_ = multi
        self.n_features_in_ = int(np.prod(feats[0].shape[1:]))
        self.conditional_ = model.conditional
        self.seed_ = seed
        self.history_ = history.numpy()
        return self

    def _check_arguments(self, n_labels: int) -> None:
        """One-line errors for argument values that cannot train (before any data is touched)."""

        def integer(name, low):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                extra = (
                    "; full-batch training (CEBRA's batch_size=None) is not supported"
                    if name == "batch_size" and value is None
                    else ""
                )
                raise EstimatorInputError(name, f"expected an integer >= {low}, got {value!r}{extra}")

        integer("max_iterations", 1)
        integer("batch_size", 2)
        positive = ["learning_rate", "temperature"] + (["min_temperature"] if self.temperature_mode == "auto" else [])
        for name in positive:
            value = getattr(self, name)
            try:
                ok = np.isfinite(float(value)) and float(value) > 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise EstimatorInputError(name, f"expected a finite number > 0, got {value!r}")
        if float(self.weight_decay) < 0:
            raise EstimatorInputError("weight_decay", f"expected a number >= 0, got {self.weight_decay!r}")
        types = self.label_types
        if types is not None:
            types = [types] if isinstance(types, str) else list(types)
            if len(types) != n_labels:
                raise EstimatorInputError(
                    "label_types",
                    f"gives {len(types)} type(s) but fit got {n_labels} label array(s); give one type per label",
                )
        if self.hybrid and n_labels == 0:
            raise EstimatorInputError(
                "hybrid",
                "hybrid=True combines a label loss with the time loss; pass labels to fit, or set hybrid=False",
            )

    def _check_lengths(self, model, splits: list[SplitData]) -> None:
        left, right = model.receptive_field
        need = (
            left
            + right
            + (max(model.time_offsets) if model.conditional in ("time", "time_delta", "mixed") or model.hybrid else 0)
        )
        uses_offsets = model.conditional in ("time", "time_delta", "mixed") or model.hybrid
        for s in splits:
            if s.n_frames < need:
                offsets = f" with time_offsets {model.time_offsets}" if uses_offsets else ""
                raise EstimatorInputError(
                    f"X[{s.session_index}]" if len(splits) > 1 else "X",
                    f"has {s.n_frames} frames; the {model.model_architecture} encoder "
                    f"(receptive field {left + right}){offsets} needs at least {need}",
                )

    # ------------------------------------------------------------------ transform
    def _transform_one(self, X, session_index: int, batch_size: int | None):
        """Embed one session's ``X`` into ``(T, output_dimension)`` with its session encoder."""
        feats, _, _ = self._features(X, "X", self.input_kind_, self.input_scale_)
        want = self.feature_shapes_[session_index]
        if list(feats.shape[1:]) != want:
            raise EstimatorInputError(
                "X",
                f"has per-frame shape {list(feats.shape[1:])}, the model (session {session_index}) was fitted with {want}",
            )
        emb = self.model_.embed(feats, session_index, int(batch_size) if batch_size else 8192)
        return emb.cpu().numpy().astype(np.float32)

    def fit_transform(self, X, *y, **fit_params):
        return self.fit(X, *y, **fit_params).transform(X)

    # ------------------------------------------------------------------ evaluation
    def infonce_loss(self, X, *y, num_batches: int = 100, seed: int = 12345) -> float:
        """Mean InfoNCE over ``num_batches`` freshly sampled batches of ``X`` (and labels)."""
        self._check_fitted()
        splits, *_ = self._build(X, y, fitting=False)
        model = self.model_
        stream = model.make_dataset(splits, "test", seed, n_batches=int(num_batches))
        try:
            with torch.no_grad():
                losses = [model.loss(batch, "test")[0] for batch in stream]
        finally:
            model.release("test")
        return float(torch.stack(losses).mean())

    def goodness_of_fit_score(self, X, *y, num_batches: int = 100, seed: int = 12345) -> float:
        """Goodness of fit in bits on ``X``: ``(log(batch_size * sessions) - InfoNCE) * log2(e)``."""
        from behavenet.models.contrastive.losses import goodness_of_fit_bits

        loss = self.infonce_loss(X, *y, num_batches=num_batches, seed=seed)
        if self.model_.hybrid:
            loss = loss / 2
        return float(goodness_of_fit_bits(loss, int(self.batch_size), self.num_sessions_))

    @property
    def num_sessions(self) -> int:
        self._check_fitted()
        return self.num_sessions_

    # ------------------------------------------------------------------ persistence
    @classmethod
    def _upgrade_state(cls, state: dict) -> dict:
        """Files of format 1 (behavenet before the family contract) keep the model's arguments
        and data spec together in ``hparams`` and the history among the fitted values."""
        if int(state.get("format_version", 0)) >= 2:
            return state
        config = dict(state["hparams"])
        spec = config.pop("data_spec")
        fitted = {f"{k}_": v for k, v in state["fitted"].items()}
        history = fitted.pop("history_", torch.zeros(0))
        return {**state, "config": config, "data_spec": spec, "fitted": fitted, "history": history}

    @classmethod
    def _contract_example(cls, seed: int = 0):
        """``(parameters, fit arguments, transform argument)`` of a tiny fit (for the family
        contract test): place-cell-like counts and a continuous label."""
        rng = np.random.default_rng(seed)
        z = np.cumsum(rng.normal(size=(300, 2)), 0).astype(np.float32) / 10
        x = rng.poisson(np.exp(np.sin(z @ rng.normal(size=(2, 12))))).astype(np.float32)
        params = dict(max_iterations=5, batch_size=32, output_dimension=3, model_architecture="offset5", seed=seed)
        return params, (x, z), x


def _pose_features(keypoints: np.ndarray) -> np.ndarray:
    """Egocentric pose features of ``(T, [A,] K, D)`` keypoints (per-animal centring)."""
    try:
        from behavenet.data.transforms import pose_features
    except ImportError:  # pragma: no cover - data layer without transforms
        kp = keypoints if keypoints.ndim == 4 else keypoints[:, None]
        centre = np.nanmean(kp, axis=2, keepdims=True)
        feats = np.concatenate([(kp - centre).reshape(len(kp), -1), centre.reshape(len(kp), -1)], axis=1)
        return np.nan_to_num(feats).astype(np.float32)
    return pose_features(keypoints, egocentric_frame=True)
