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

The estimator trains the same ``ContrastiveCore`` (:mod:`behavenet.models.contrastive.core`) that
the LightningModule behind ``train.py`` wraps, with a plain loop (``core.train_core``), and
imports no Lightning.
"""

from __future__ import annotations

import os
import platform
from typing import Any, Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from behavenet.data.views import SplitData
from behavenet.errors import BehavenetError, ConfigError

__all__ = ["ContrastiveEmbedding", "EstimatorInputError"]

_FORMAT = "behavenet.ContrastiveEmbedding"
_FORMAT_VERSION = 1
_INPUT_TYPES = ("auto", "neural", "pose", "video")
_LABEL_TYPES = ("continuous", "discrete")


class EstimatorInputError(BehavenetError, ValueError):
    """A bad array or argument given to :class:`ContrastiveEmbedding` (one-line message)."""

    def __init__(self, what: str, message: str):
        self.what = what
        self.message = " ".join(str(message).split())
        super().__init__(f"{what}: {self.message}")


def _plain(obj):
    """Convert containers to plain python types (``torch.load(weights_only=True)``-safe)."""
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, str):
        return str(obj)  # e.g. torch's TorchVersion is a str subclass the safe unpickler refuses
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


class ContrastiveEmbedding(TransformerMixin, BaseEstimator):
    """Contrastive (CEBRA-like) embedding with a scikit-learn interface.

    Parameters use CEBRA's names where the concept is the same (see ``docs/contrastive.md`` for
    the migration table).

    Parameters
    ----------
    model_architecture
        Encoder (``offset1``, ``offset5``, ``offset10``, ``offset36``, ``*-mse``; CEBRA names
        such as ``offset10-model`` are accepted).
    device
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"cuda_if_available"``.
    distance
        ``"cosine"`` or ``"euclidean"`` (squared distance).
    conditional
        ``None`` (from the label types: continuous -> ``time_delta``, discrete -> ``discrete``,
        both -> ``mixed``, no labels -> ``time``), or one of ``time``, ``time_delta``, ``delta``,
        ``discrete``, ``mixed``.
    temperature, temperature_mode, min_temperature
        InfoNCE temperature; ``temperature_mode="auto"`` learns it (kept >= ``min_temperature``).
    time_offsets
        Frames between a reference and its time positive, and over which label changes are
        measured for ``time_delta``.
    delta
        Query noise (label units) for ``conditional="delta"``.
    max_iterations, batch_size, learning_rate, weight_decay
        Optimisation: Adam for ``max_iterations`` steps of ``batch_size`` references (and as many
        negatives) per session.
    output_dimension, num_hidden_units
        Embedding size and encoder width.
    hybrid
        Add a time-contrastive loss to the label-based one.
    prior
        ``"auto"``, ``"empirical"`` or ``"balanced"`` (class-balanced references, discrete labels).
    label_types
        One of ``"continuous"``/``"discrete"`` per label passed to :meth:`fit`; ``None`` accepts
        float labels as continuous and refuses other dtypes.
    input_type
        ``"auto"``, ``"neural"``, ``"pose"`` or ``"video"``.
    frame_features
        Per-frame CNN output size for video.
    seed
        Seeds the weights and every sampled batch: the same seed gives bit-identical embeddings
        on CPU (same machine, same thread count).
    verbose
        Show a progress bar (tqdm) with the training loss.
    """

    def __init__(self, model_architecture: str = "offset10", device: str = "cpu", distance: str = "cosine",
                 conditional: str | None = None, temperature: float = 1.0, temperature_mode: str = "constant",
                 min_temperature: float = 0.1, time_offsets: int | Sequence[int] = 10,
                 delta: float | None = None, max_iterations: int = 10000, batch_size: int = 512,
                 learning_rate: float = 3e-4, weight_decay: float = 0.0, output_dimension: int = 8,
                 num_hidden_units: int = 32, hybrid: bool = False, prior: str = "auto",
                 label_types: Sequence[str] | None = None, input_type: str = "auto",
                 frame_features: int = 32, seed: int | None = 0, verbose: bool = False):
        self.model_architecture = model_architecture
        self.device = device
        self.distance = distance
        self.conditional = conditional
        self.temperature = temperature
        self.temperature_mode = temperature_mode
        self.min_temperature = min_temperature
        self.time_offsets = time_offsets
        self.delta = delta
        self.max_iterations = max_iterations
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.output_dimension = output_dimension
        self.num_hidden_units = num_hidden_units
        self.hybrid = hybrid
        self.prior = prior
        self.label_types = label_types
        self.input_type = input_type
        self.frame_features = frame_features
        self.seed = seed
        self.verbose = verbose

    # ------------------------------------------------------------------ input handling
    def _input_kind(self, x: np.ndarray, what: str) -> str:
        if self.input_type not in _INPUT_TYPES:
            raise EstimatorInputError("input_type", f"expected one of {', '.join(_INPUT_TYPES)}, got {self.input_type!r}")
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
        raise EstimatorInputError(what, f"cannot tell the input type of an array of shape {x.shape} and dtype "
                                  f"{x.dtype}: expected (T, N) features, (T, [A,] K, 2|3) float keypoints or "
                                  "(T, H, W[, C]) uint8 video; or set input_type")

    def _features(self, x, what: str, kind: str | None = None, scale: float | None = None):
        """``(features array, kind, scale)`` for one session's input."""
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        x = np.asarray(x)
        if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise EstimatorInputError(what, f"expected a numeric array, got dtype {x.dtype}")
        if x.ndim < 2:
            raise EstimatorInputError(what, f"expected at least 2 dimensions (time, features), got shape {x.shape}")
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
                rms = float(np.sqrt(np.mean(feats ** 2))) if feats.size else 1.0
                scale = rms if rms > 0 else 1.0
            return (feats / scale).astype(np.float32), kind, scale
        x = x.reshape(len(x), -1).astype(np.float32)
        if not np.isfinite(x).all():
            bad = int((~np.isfinite(x)).any(axis=1).sum())
            raise EstimatorInputError(what, f"contains NaN or infinite values ({bad} frames); clean or impute them first")
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
            raise EstimatorInputError("label_types", f"gives {len(types)} type(s) but label {i} was passed too; "
                                      "give one type per label")
        kind = types[i] if types is not None else None
        if kind is not None and kind not in _LABEL_TYPES:
            raise EstimatorInputError("label_types", f"expected 'continuous' or 'discrete', got {kind!r}")
        if len(y) != n_frames:
            raise EstimatorInputError(what, f"has {len(y)} rows but the input has {n_frames} frames")
        if kind is None:
            if np.issubdtype(y.dtype, np.floating):
                kind = "continuous"
            else:
                raise EstimatorInputError(what, f"has dtype {y.dtype}; say whether it is continuous or discrete with "
                                          "label_types=('discrete',) (or 'continuous'), one entry per label")
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
                raise EstimatorInputError(what, "is declared discrete but has non-integer values; use "
                                          "label_types=('continuous',) or pass class codes")
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
                    raise EstimatorInputError(f"labels[{i}]", f"with {n_sessions} sessions, pass a list of "
                                              f"{n_sessions} arrays (one per session), got {got}")
                labels_per.append(list(lab))
            else:
                if (isinstance(lab, (list, tuple)) and len(lab) != len(xs[0])
                        and all(np.ndim(a) >= 1 for a in lab)):
                    raise EstimatorInputError(f"labels[{i}]", f"is a list of {len(lab)} arrays (one per "
                                              "session?) but X is a single array; pass the label array "
                                              "itself, or X as a list of sessions")
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
            splits.append(SplitData(session_id=f"session{s}", session_index=s, inputs={kind: f}, labels=labs,
                                    label_kinds=lkinds))
        if fitting:
            for i in range(len(labels_per)):
                name = f"label{i}"
                if kinds.get(name) == "discrete":
                    classes = np.unique(np.concatenate([sp.labels[name] for sp in splits]))
                    if len(classes) < 2:
                        raise EstimatorInputError(f"labels[{i}]", f"is discrete with a single class "
                                                  f"({classes.tolist()}); positives and negatives would be drawn "
                                                  "alike: give at least 2 classes or drop this label")
        return splits, feats, kind, scale if scale is not None else 1.0, label_info, vocab, multi

    # ------------------------------------------------------------------ fit
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
                raise EstimatorInputError("device", f"{dev!r}: expected cuda:0..cuda:"
                                          f"{torch.cuda.device_count() - 1}")
            return torch.device("cuda", idx)
        if dev == "mps":
            if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
                raise EstimatorInputError("device", "'mps' requested but MPS is not available")
            return torch.device("mps")
        if dev != "cpu":
            raise EstimatorInputError("device", f"expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'cuda_if_available', got {dev!r}")
        return torch.device("cpu")

    def _model_kwargs(self, kind: str) -> dict[str, Any]:
        return dict(model_architecture=self.model_architecture, num_hidden_units=int(self.num_hidden_units),
                    output_dimension=int(self.output_dimension), conditional=self.conditional,
                    time_offsets=_plain(self.time_offsets), distance=self.distance,
                    temperature_mode=self.temperature_mode, temperature=float(self.temperature),
                    min_temperature=float(self.min_temperature), delta=self.delta, hybrid=bool(self.hybrid),
                    prior=self.prior, batch_size=int(self.batch_size), learning_rate=float(self.learning_rate),
                    weight_decay=float(self.weight_decay), frame_encoder="conv" if kind == "video" else None,
                    frame_features=int(self.frame_features))

    def fit(self, X, *y, **fit_params):
        """Train on ``X`` (an array, or a list of arrays for several sessions) and labels ``y``."""
        if fit_params:
            raise EstimatorInputError("fit", f"unexpected keyword argument(s) {sorted(fit_params)}")
        from behavenet.models.contrastive.core import ContrastiveCore, train_core

        self._check_arguments(len(y))
        splits, feats, kind, scale, label_info, vocab, multi = self._build(X, y, fitting=True)
        device = self._resolve_device()
        seed = int(self.seed) if self.seed is not None else int(np.random.SeedSequence().entropy % (2 ** 31))
        spec = {"input": kind, "input_shapes": [list(f.shape[1:]) for f in feats],
                "session_ids": [s.session_id for s in splits], "labels": label_info, "fps": None}
        kwargs = self._model_kwargs(kind)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = ContrastiveCore(spec, **kwargs)
        except ConfigError as err:  # re-label model config keys as estimator arguments
            raise EstimatorInputError(err.key.replace("model.", ""), err.message) from None
        self._check_lengths(model, splits)
        model.to(device)
        try:
            train_core(model, splits, int(self.max_iterations), seed, progress=bool(self.verbose))
        except ConfigError as err:
            raise EstimatorInputError(err.key.replace("model.", ""), err.message) from None
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
        self.history_ = model.loss_history()
        return self

    def _check_arguments(self, n_labels: int) -> None:
        """One-line errors for argument values that cannot train (before any data is touched)."""
        def integer(name, low):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                extra = ("; full-batch training (CEBRA's batch_size=None) is not supported"
                         if name == "batch_size" and value is None else "")
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
                raise EstimatorInputError("label_types", f"gives {len(types)} type(s) but fit got {n_labels} "
                                          "label array(s); give one type per label")
        if self.hybrid and n_labels == 0:
            raise EstimatorInputError("hybrid", "hybrid=True combines a label loss with the time loss; "
                                      "pass labels to fit, or set hybrid=False")

    def _check_lengths(self, model, splits: list[SplitData]) -> None:
        left, right = model.receptive_field
        need = left + right + (max(model.time_offsets) if model.conditional in ("time", "time_delta", "mixed")
                               or model.hybrid else 0)
        uses_offsets = model.conditional in ("time", "time_delta", "mixed") or model.hybrid
        for s in splits:
            if s.n_frames < need:
                offsets = f" with time_offsets {model.time_offsets}" if uses_offsets else ""
                raise EstimatorInputError(f"X[{s.session_index}]" if len(splits) > 1 else "X",
                                          f"has {s.n_frames} frames; the {model.model_architecture} encoder "
                                          f"(receptive field {left + right}){offsets} needs at least {need}")

    # ------------------------------------------------------------------ transform
    def transform(self, X, session_id: int | None = None, batch_size: int | None = None):
        """Embed ``X`` (one session) into ``(T, output_dimension)``; ``session_id`` picks the
        session encoder of a multi-session model. A list of arrays (one per session, in fit
        order) returns a list of embeddings."""
        check_is_fitted(self, "model_")
        if isinstance(X, (list, tuple)):
            if session_id is not None:
                raise EstimatorInputError("X", "pass one array with session_id, or a list of all sessions without it")
            if len(X) != self.num_sessions_:
                raise EstimatorInputError("X", f"got {len(X)} sessions, the model was fitted on {self.num_sessions_}")
            return [self.transform(x, session_id=i, batch_size=batch_size) for i, x in enumerate(X)]
        if session_id is None:
            if self.num_sessions_ > 1:
                raise EstimatorInputError("session_id", f"the model has {self.num_sessions_} sessions; pass "
                                          f"session_id=0..{self.num_sessions_ - 1}")
            session_id = 0
        if not isinstance(session_id, (int, np.integer)) or not 0 <= int(session_id) < self.num_sessions_:
            raise EstimatorInputError("session_id", f"expected an integer in 0..{self.num_sessions_ - 1}, got {session_id!r}")
        feats, _, _ = self._features(X, "X", self.input_kind_, self.input_scale_)
        want = self.feature_shapes_[int(session_id)]
        if list(feats.shape[1:]) != want:
            raise EstimatorInputError("X", f"has per-frame shape {list(feats.shape[1:])}, the model (session "
                                      f"{session_id}) was fitted with {want}")
        emb = self.model_.embed(feats, int(session_id), int(batch_size) if batch_size else 8192)
        return emb.cpu().numpy().astype(np.float32)

    def fit_transform(self, X, *y, **fit_params):
        return self.fit(X, *y, **fit_params).transform(X)

    # ------------------------------------------------------------------ evaluation
    def infonce_loss(self, X, *y, num_batches: int = 100, seed: int = 12345) -> float:
        """Mean InfoNCE over ``num_batches`` freshly sampled batches of ``X`` (and labels)."""
        check_is_fitted(self, "model_")
        splits, *_ = self._build(X, y, fitting=False)
        model = self.model_
        stream = model.make_dataset(splits, "test", seed, n_batches=int(num_batches))
        try:
            with torch.no_grad():
                losses = [model.loss(batch, "test").total for batch in stream]
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
        check_is_fitted(self, "model_")
        return self.num_sessions_

    # ------------------------------------------------------------------ persistence
    def to(self, device: str):
        """Move the fitted model to ``device`` (``"cpu"``, ``"cuda"``, ...); returns self."""
        check_is_fitted(self, "model_")
        self.model_.to(torch.device(device))
        self.device = str(device)
        return self

    def save(self, path: str | os.PathLike) -> None:
        """Write a plain torch checkpoint: arguments, model config (``hparams``), fitted metadata,
        CPU state dict (``encoders.*``, ``criterion.*``), versions."""
        check_is_fitted(self, "model_")
        import sklearn

        import behavenet

        hparams = _plain(self.model_.config)
        state = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "args": _plain(self.get_params(deep=False)),
            "hparams": hparams,
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.model_.state_dict().items()},
            "fitted": {
                "input_kind": self.input_kind_, "input_scale": self.input_scale_,
                "feature_shapes": _plain(self.feature_shapes_), "label_info": _plain(self.label_info_),
                "label_vocab": _plain(self.label_vocab_), "num_sessions": self.num_sessions_,
                "multi_session": self.multi_session_, "n_features_in": self.n_features_in_,
                "conditional": self.conditional_, "seed": self.seed_,
                "history": torch.as_tensor(np.asarray(self.history_, dtype=np.float32)),
            },
            "versions": _plain({"behavenet": behavenet.__version__, "torch": torch.__version__,
                                "numpy": np.__version__, "sklearn": sklearn.__version__,
                                "python": platform.python_version()}),
        }
        torch.save(state, os.fspath(path))

    @classmethod
    def load(cls, path: str | os.PathLike) -> ContrastiveEmbedding:
        """Load a model written by :meth:`save`, on the CPU (use :meth:`to` to move it)."""
        from behavenet.models.contrastive.core import ContrastiveCore

        path = os.fspath(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise EstimatorInputError(path, "file not found") from None
        except Exception as err:  # noqa: BLE001 - any unpickling problem is a format problem
            raise EstimatorInputError(path, f"not a ContrastiveEmbedding checkpoint ({type(err).__name__})") from None
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise EstimatorInputError(path, "not a ContrastiveEmbedding checkpoint (missing format tag)")
        if int(state.get("format_version", 0)) > _FORMAT_VERSION:
            raise EstimatorInputError(path, f"checkpoint format {state['format_version']} is newer than this "
                                      f"behavenet understands ({_FORMAT_VERSION}); upgrade behavenet")
        valid = cls().get_params(deep=False)
        args = {k: v for k, v in state["args"].items() if k in valid}
        if isinstance(args.get("time_offsets"), list):
            args["time_offsets"] = tuple(args["time_offsets"])
        if isinstance(args.get("label_types"), list):
            args["label_types"] = tuple(args["label_types"])
        est = cls(**args)
        hp = dict(state["hparams"])
        spec = hp.pop("data_spec")
        try:
            model = ContrastiveCore(spec, **hp)
            model.load_state_dict(state["state_dict"])
        except (ConfigError, RuntimeError, TypeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise EstimatorInputError(path, f"cannot rebuild the model from this checkpoint "
                                      f"({first})") from None
        model.eval()
        fitted = state["fitted"]
        est.model_ = model
        est.input_kind_ = fitted["input_kind"]
        est.input_scale_ = float(fitted["input_scale"])
        est.feature_shapes_ = fitted["feature_shapes"]
        est.label_info_ = fitted["label_info"]
        est.label_vocab_ = fitted["label_vocab"]
        est.num_sessions_ = int(fitted["num_sessions"])
        est.multi_session_ = bool(fitted["multi_session"])
        est.n_features_in_ = int(fitted["n_features_in"])
        est.conditional_ = fitted["conditional"]
        est.seed_ = fitted["seed"]
        est.history_ = fitted["history"].numpy()
        est.versions_ = state.get("versions", {})
        est.device = "cpu"  # the model is on the CPU; the saved device is never replayed
        return est


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
