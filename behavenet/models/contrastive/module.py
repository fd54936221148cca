"""The contrastive (CEBRA-like) LightningModule.

Training is step-based: :meth:`ContrastiveModel.make_dataset` returns an infinite stream of
batches of frame *indices* (references, positives, negatives) drawn by a
:class:`~behavenet.models.contrastive.samplers.ContrastiveSampler`; the module keeps the split's
input as one contiguous tensor per session (moved once to the model's device) and cuts the
windows out of it inside the step, so nothing but a few thousand integers crosses the data
loader per step. One encoder forward runs per session over the concatenated reference, positive
and negative windows.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import IterableDataset, get_worker_info

from behavenet.data.views import SplitData
from behavenet.data.windows import pad_for_receptive_field
from behavenet.errors import ConfigError
from behavenet.models.base import EmbeddingModel, register_model
from behavenet.models.contrastive.encoders import (
    FrameConvEncoder,
    VideoEncoder,
    make_encoder,
    resolve_architecture,
)
from behavenet.models.contrastive.losses import DISTANCES, TEMPERATURE_MODES, InfoNCE, goodness_of_fit_bits
from behavenet.models.contrastive.samplers import (
    CONDITIONALS,
    PRIORS,
    ContrastiveSampler,
    SessionFrames,
    auto_conditional,
)

__all__ = ["ContrastiveModel", "ContrastiveStream"]

log = logging.getLogger(__name__)

_STAGES = {"train": "train", "fit": "train", "val": "val", "validate": "val", "validation": "val",
           "test": "test", "predict": "test"}
_MATERIALISE_BYTES = 1 << 30  # lazily read inputs up to this size are loaded into memory


class ContrastiveStream(IterableDataset):
    """Batches of sampled indices (see :class:`ContrastiveSampler`); yields whole batches.

    Batch ``i`` is drawn with ``numpy.random.default_rng([seed, i])``, so the stream is the same
    bit for bit whatever the number of data-loader workers (worker ``w`` of ``W`` produces the
    batches ``i = w, w + W, ...``). ``n_batches=None`` gives an infinite stream.
    """

    yields_batches = True
    augment_keys: list[str] = []  # batches hold indices, not tensors to augment

    def __init__(self, sampler: ContrastiveSampler, batch_size: int, seed: int = 0,
                 n_batches: int | None = None):
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.n_batches = n_batches

    def __len__(self) -> int:
        if self.n_batches is None:
            raise TypeError("infinite stream")
        return int(self.n_batches)

    def batch(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, int(i)])
        return _to_torch(self.sampler.sample(self.batch_size, rng))

    def __iter__(self):
        info = get_worker_info()
        i, step = (0, 1) if info is None else (info.id, info.num_workers)
        while self.n_batches is None or i < self.n_batches:
            yield self.batch(i)
            i += step


def _to_torch(b: dict) -> dict:
    out = {}
    for k, v in b.items():
        if isinstance(v, list):
            out[k] = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)) for a in v]
        else:
            out[k] = torch.from_numpy(np.ascontiguousarray(v, dtype=np.int64))
    return out


class _LazyInput:
    """A lazily read input (e.g. video frames) behind the ``index_select`` interface."""

    def __init__(self, data, flatten: bool):
        self.data = data
        self.flatten = flatten
        self.shape = (len(data),)
        self.device = torch.device("cpu")

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        rows = index.detach().cpu().numpy()
        block = np.asarray(self.data[rows])
        t = torch.from_numpy(np.ascontiguousarray(block))
        if self.flatten:
            t = t.reshape(len(rows), -1).float()
        return t.to(index.device)


_SPARSE_DENSITY = 0.2  # below this fraction of non-zeros, CPU inputs also get a CSR copy


def _sparse_pair(x):
    """``(csr, csr of the transpose)`` of a mostly-zero float CPU input (spike counts), else None.

    Products with the CSR copies replace the dense products of a conv encoder's first layer
    (about 3x faster for 5 % non-zeros); the results agree to float rounding.
    """
    if not (isinstance(x, torch.Tensor) and x.device.type == "cpu" and x.dim() == 2
            and x.dtype == torch.float32 and x.numel() > 0):
        return None
    nnz = int(torch.count_nonzero(x))
    if nnz > _SPARSE_DENSITY * x.numel():
        return None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
        return x.to_sparse_csr(), x.T.contiguous().to_sparse_csr()


def _prod(shape) -> int:
    return int(np.prod([int(v) for v in shape])) if len(shape) else 1


@register_model("contrastive", "cebra")
class ContrastiveModel(EmbeddingModel):
    """Contrastive embedding model (CEBRA-like; see ``docs/contrastive.md``).

    Parameters
    ----------
    data_spec
        ``{"input", "input_shapes", "session_ids", "labels": {name: {"kind", "dim"}}, "fps"}``.
    model_architecture
        Encoder name, see :func:`~behavenet.models.contrastive.encoders.list_architectures`
        (``offset1``, ``offset5``, ``offset10``, ``offset36``, ``*-mse``; CEBRA names accepted).
    num_hidden_units, output_dimension
        Encoder width and embedding size.
    conditional
        ``time``, ``time_delta``, ``delta``, ``discrete``, ``mixed`` or ``None`` (from the label
        kinds in ``data_spec``: continuous -> time_delta, discrete -> discrete, both -> mixed,
        none -> time).
    time_offsets
        Frames between time positives / over which label changes are measured (int or list).
    distance, temperature_mode, temperature, min_temperature
        Similarity (``cosine``/``euclidean``) and temperature (``constant``/``auto``).
    delta
        Query noise for ``conditional="delta"`` (label units).
    hybrid
        Add a time-contrastive loss (positives at ``t + offset``) to a label-based one. The
        label loss uses the first ``hybrid_behavior_dims`` embedding dimensions (all when
        ``None`` or >= output_dimension), as CEBRA's hybrid mode.
    prior
        ``auto``, ``empirical`` or ``balanced`` (class-balanced references for discrete labels).
    labels
        Names of the labels (from ``data_spec``) to condition on; ``None`` = all.
    batch_size
        References (= negatives) per session per step.
    learning_rate, weight_decay
        Adam settings.
    val_batches
        Batches in the (fixed-seed) validation and test streams.
    frame_encoder, frame_features, frame_layout
        ``"conv"`` embeds each video frame with a small CNN into ``frame_features`` values that
        feed the temporal encoder (default for ``input == "video"``); frames are ``HWC``
        (behavenet's video layout) or ``CHW``.
    nn_backend
        Nearest-neighbour search for label positives: ``auto``, ``kdtree`` or ``cdist``.
    """

    def __init__(self, data_spec: dict[str, Any] | None = None, model_architecture: str = "offset10",
                 num_hidden_units: int = 32, output_dimension: int = 8, conditional: str | None = None,
                 time_offsets: int | list[int] = 10, distance: str = "cosine",
                 temperature_mode: str = "constant", temperature: float = 1.0,
                 min_temperature: float = 0.1, delta: float | None = None, hybrid: bool = False,
                 hybrid_behavior_dims: int | None = 3, prior: str = "auto",
                 labels: list[str] | None = None, batch_size: int = 512, learning_rate: float = 3e-4,
                 weight_decay: float = 0.0, val_batches: int = 10, frame_encoder: str | None = None,
                 frame_features: int = 32, frame_layout: str = "HWC", nn_backend: str = "auto"):
        super().__init__(data_spec)
        self.save_hyperparameters()
        spec = self.data_spec
        self.model_architecture = resolve_architecture(model_architecture)
        if distance not in DISTANCES:
            raise ConfigError("model.distance", f"expected one of {', '.join(DISTANCES)}, got {distance!r}")
        if temperature_mode not in TEMPERATURE_MODES:
            raise ConfigError("model.temperature_mode",
                              f"expected one of {', '.join(TEMPERATURE_MODES)}, got {temperature_mode!r}")
        if prior not in PRIORS:
            raise ConfigError("model.prior", f"expected one of {', '.join(PRIORS)}, got {prior!r}")
        if int(batch_size) < 2:
            raise ConfigError("model.batch_size", f"expected an integer >= 2, got {batch_size!r}")
        if not float(temperature) > 0:
            raise ConfigError("model.temperature", f"expected a number > 0, got {temperature!r}")
        offsets = [int(o) for o in np.atleast_1d(np.asarray(time_offsets))]
        if not offsets or min(offsets) < 1:
            raise ConfigError("model.time_offsets", f"expected positive integers, got {time_offsets!r}")
        self.time_offsets = offsets

        # labels and conditional, from the kinds declared in the spec (never from dtypes)
        label_spec = dict(spec.get("labels") or {})
        names = list(label_spec) if labels is None else list(labels)
        for n in names:
            if n not in label_spec:
                raise ConfigError("model.labels", f"unknown label {n!r}; the data offers {sorted(label_spec) or 'none'}")
        for n in names:
            kind = label_spec[n].get("kind")
            if kind not in ("continuous", "discrete"):
                raise ConfigError(f"data_spec.labels.{n}.kind", f"expected 'continuous' or 'discrete', got {kind!r}")
        self.label_names = names
        has_cont = any(label_spec[n]["kind"] == "continuous" for n in names)
        has_disc = any(label_spec[n]["kind"] == "discrete" for n in names)
        cond = auto_conditional(has_cont, has_disc) if conditional in (None, "auto", "none") else conditional
        if cond not in CONDITIONALS:
            raise ConfigError("model.conditional", f"expected one of {', '.join(CONDITIONALS)} or null, got {conditional!r}")
        if cond in ("time_delta", "delta", "mixed") and not has_cont:
            raise ConfigError("model.conditional", f"{cond!r} needs a continuous label; the selected labels are "
                              f"{names or 'none'}")
        if cond in ("discrete", "mixed") and not has_disc:
            raise ConfigError("model.conditional", f"{cond!r} needs a discrete label; the selected labels are "
                              f"{names or 'none'}")
        if cond == "delta" and not (delta is not None and float(delta) > 0):
            raise ConfigError("model.delta", f"conditional 'delta' needs delta > 0, got {delta!r}")
        self.conditional = cond
        self.hybrid = bool(hybrid) and cond != "time"
        self.batch_size = int(batch_size)

        # one encoder per session
        shapes = spec.get("input_shapes") or []
        if not shapes:
            raise ConfigError("data_spec.input_shapes", "expected one per-frame shape per session, got none")
        use_frames = frame_encoder == "conv" or (frame_encoder is None and spec.get("input") == "video")
        if frame_encoder not in (None, "conv", "none"):
            raise ConfigError("model.frame_encoder", f"expected null, 'none' or 'conv', got {frame_encoder!r}")
        if frame_layout not in ("HWC", "CHW"):
            raise ConfigError("model.frame_layout", f"expected 'HWC' or 'CHW', got {frame_layout!r}")
        self.is_video = bool(use_frames)
        encoders = []
        for shape in shapes:
            shape = [int(v) for v in shape]
            if self.is_video:
                if len(shape) != 3:
                    raise ConfigError("model.frame_encoder", f"a frame encoder needs (H, W, C) frames, got shape {shape}")
                hwc = shape if frame_layout == "HWC" else [shape[1], shape[2], shape[0]]
                fe = FrameConvEncoder(hwc, features=int(frame_features), layout=frame_layout)
                temporal = make_encoder(self.model_architecture, int(frame_features), int(num_hidden_units),
                                        int(output_dimension))
                encoders.append(VideoEncoder(fe, temporal))
            else:
                encoders.append(make_encoder(self.model_architecture, _prod(shape), int(num_hidden_units),
                                             int(output_dimension)))
        self.encoders = nn.ModuleList(encoders)
        self.criterion = InfoNCE(distance, temperature_mode, float(temperature), float(min_temperature))
        self._stage_data: dict[str, dict] = {}
        self._history: list[torch.Tensor] = []
        self._history_pos = 0

    # ------------------------------------------------------------------ contract
    @property
    def receptive_field(self) -> tuple[int, int]:
        return self.encoders[0].receptive_field

    @property
    def embedding_dim(self) -> int:
        return int(self.hparams.output_dimension)

    @property
    def n_sessions(self) -> int:
        return len(self.encoders)

    def forward(self, x: torch.Tensor, session_index: int = 0) -> torch.Tensor:
        """Embed windows ``(B, left + right, *F)`` into ``(B, D)``."""
        enc = self._encoder(session_index)
        if not self.is_video:
            x = x.reshape(x.shape[0], x.shape[1], -1).float()
        return enc(x)

    def _encoder(self, session_index: int):
        if not 0 <= int(session_index) < len(self.encoders):
            raise ConfigError("session_index", f"expected 0..{len(self.encoders) - 1}, got {session_index}")
        return self.encoders[int(session_index)]

    # ------------------------------------------------------------------ data
    def sampler_for(self, splits: list[SplitData]) -> ContrastiveSampler:
        left, right = self.receptive_field
        sessions = [SessionFrames.from_split(s, left, right, self.label_names) for s in splits]
        if self.conditional != "time" and not self.label_names:
            raise ConfigError("model.conditional", f"{self.conditional!r} needs labels")
        hp = self.hparams
        return ContrastiveSampler(sessions, self.conditional, self.time_offsets, delta=hp.delta,
                                  hybrid=self.hybrid, prior=hp.prior, nn_backend=hp.nn_backend)

    def make_dataset(self, splits: list[SplitData], stage: str, seed: int = 0):
        """Infinite stream of index batches for ``"train"``; ``val_batches`` fixed-seed batches
        for ``"val"``/``"test"``. The splits' inputs are kept on the module for the steps."""
        stage = _STAGES.get(stage, stage)
        if not splits:
            return None
        for s in splits:
            if not 0 <= s.session_index < len(self.encoders):
                raise ConfigError("data", f"split of session {s.session_id!r} has session_index "
                                  f"{s.session_index}, but the model has {len(self.encoders)} session encoder(s)")
        try:
            sampler = self.sampler_for(splits)
        except ConfigError as err:
            if stage == "train":
                raise
            log.warning("no %s batches for the contrastive model: %s", stage, err)
            return None
        inputs = [self._input_tensor(s) for s in splits]
        if stage == "train" and self.is_video:
            for x, s in zip(inputs, splits):
                fe = self.encoders[s.session_index].frame_encoder
                if not bool(fe.normalization_set):
                    rows = torch.from_numpy(np.unique(np.linspace(0, len(s.inputs[s.input_name]) - 1, 1000)
                                                      .astype(np.int64)))
                    fe.set_normalization(x.index_select(0, rows).to(fe.pixel_mean.device))
        self._stage_data[stage] = {
            "inputs": inputs,
            "session_index": [int(s.session_index) for s in splits],
            "device": None,
        }
        n = None if stage == "train" else max(1, int(self.hparams.val_batches))
        return ContrastiveStream(sampler, self.batch_size, seed, n)

    def _input_tensor(self, split: SplitData):
        name = self.data_spec.get("input")
        data = split.inputs[name] if name in split.inputs else split.input
        if isinstance(data, torch.Tensor):
            t = data
        elif isinstance(data, np.ndarray):
            t = torch.from_numpy(data)
        else:  # lazy reader
            shape = getattr(data, "frame_shape", None)
            nbytes = len(data) * _prod(shape or np.asarray(data[0:1]).shape[1:])
            if nbytes > _MATERIALISE_BYTES:
                return _LazyInput(data, flatten=not self.is_video)
            t = torch.from_numpy(np.ascontiguousarray(np.asarray(data[np.arange(len(data))])))
        if self.is_video:
            return t.contiguous() if t.dtype == torch.uint8 else t.float().contiguous()
        return t.reshape(len(t), -1).float().contiguous()

    def _stage_inputs(self, stage: str) -> tuple[list, list[int], list]:
        entry = self._stage_data.get(stage)
        if entry is None:
            raise RuntimeError(f"no {stage} data: call make_dataset(splits, {stage!r}) first")
        if entry["device"] != self.device:
            entry["inputs"] = [x.to(self.device) if isinstance(x, torch.Tensor) else x for x in entry["inputs"]]
            entry["sparse"] = [_sparse_pair(x) for x in entry["inputs"]]
            entry["device"] = self.device
        return entry["inputs"], entry["session_index"], entry["sparse"]

    # ------------------------------------------------------------------ steps
    def _embed_batch(self, batch: dict, stage: str):
        inputs, sess, sparse = self._stage_inputs(stage)
        refs, poss, negs, times = [], [], [], []
        hybrid = "pos_time" in batch
        for s in range(len(batch["ref"])):
            parts = [batch["ref"][s], batch["pos"][s], batch["neg"][s]]
            if hybrid:
                parts.append(batch["pos_time"][s])
            sizes = [len(p) for p in parts]
            centers = torch.cat(parts).to(self.device)
            emb = self.encoders[sess[s]].forward_indexed(inputs[s], centers, sparse=sparse[s])
            pieces = emb.split(sizes)
            refs.append(pieces[0])
            poss.append(pieces[1])
            negs.append(pieces[2])
            if hybrid:
                times.append(pieces[3])
        ref = refs[0] if len(refs) == 1 else torch.cat(refs)
        pos = poss[0] if len(poss) == 1 else torch.cat(poss)
        neg = negs[0] if len(negs) == 1 else torch.cat(negs)
        if "pos_order" in batch:
            pos = pos[batch["pos_order"].to(self.device)]
        pos_time = (times[0] if len(times) == 1 else torch.cat(times)) if hybrid else None
        return ref, pos, neg, pos_time

    def _behavior_slice(self, x: torch.Tensor) -> torch.Tensor:
        k = self.hparams.hybrid_behavior_dims
        if k is None or k >= x.shape[1]:
            return x
        x = x[:, :k]
        return F.normalize(x, dim=1) if self.criterion.distance == "cosine" else x

    def _step(self, batch: dict, stage: str, with_metrics: bool = True):
        ref, pos, neg, pos_time = self._embed_batch(batch, stage)
        if pos_time is None:
            loss, align, uniform = self.criterion(ref, pos, neg)
            extra = {}
        else:
            lb, ab, ub = self.criterion(self._behavior_slice(ref), self._behavior_slice(pos),
                                        self._behavior_slice(neg))
            lt, at, ut = self.criterion(ref, pos_time, neg)
            loss, align, uniform = lb + lt, ab + at, ub + ut
            extra = {"loss_behavior": lb.detach(), "loss_time": lt.detach()}
        if not with_metrics:
            return loss, {"loss": loss.detach()}
        n_sessions = len(batch["ref"])
        n_neg = len(batch["ref"][0])
        metrics = {"loss": loss.detach(), "align": align.detach(), "uniform": uniform.detach(),
                   "temperature": self.criterion.temperature,
                   "gof_bits": goodness_of_fit_bits(loss.detach() / (2 if pos_time is not None else 1),
                                                    n_neg, n_sessions)}
        metrics.update(extra)
        return loss, metrics

    def training_step(self, batch, batch_idx):
        log_now = self._log_this_step()
        loss, metrics = self._step(batch, "train", with_metrics=log_now)
        self._record(metrics["loss"])
        if log_now:
            self.log_dict({f"train/{k}": v for k, v in metrics.items()}, on_step=True, on_epoch=False,
                          prog_bar=False, batch_size=self.batch_size)
        return loss

    def _log_this_step(self) -> bool:
        """Log training metrics only on the steps the trainer writes (``log_every_n_steps``)
        and never without a logger: ``self.log`` costs more than a small step's arithmetic."""
        trainer = self._trainer
        if trainer is None:
            return False
        if not trainer.loggers and not trainer.progress_bar_callback:
            return False
        every = max(1, int(getattr(trainer, "log_every_n_steps", 1) or 1))
        return (self.global_step + 1) % every == 0 or self.global_step == 0

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        """Index batches are a dict of tensors and lists of tensors; move them directly."""
        if isinstance(batch, dict) and "ref" in batch:
            if device.type == "cpu":
                return batch
            return {k: ([t.to(device, non_blocking=True) for t in v] if isinstance(v, list)
                        else v.to(device, non_blocking=True)) for k, v in batch.items()}
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def validation_step(self, batch, batch_idx):
        loss, metrics = self._step(batch, "val")
        self.log_dict({f"val/{k}": v for k, v in metrics.items() if k != "loss"}, on_step=False, on_epoch=True,
                      batch_size=self.batch_size)
        self.log("val/loss", metrics["loss"], on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=self.batch_size)
        return loss

    def test_step(self, batch, batch_idx):
        loss, metrics = self._step(batch, "test")
        self.log_dict({f"test/{k}": v for k, v in metrics.items()}, on_step=False, on_epoch=True,
                      batch_size=self.batch_size)
        return loss

    def configure_optimizers(self):
        hp = self.hparams
        params = [p for p in self.parameters() if p.requires_grad]
        kwargs = {"lr": float(hp.learning_rate), "weight_decay": float(hp.weight_decay)}
        try:
            return torch.optim.Adam(params, fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):  # pragma: no cover - device without fused Adam
            return torch.optim.Adam(params, foreach=True, **kwargs)

    # ------------------------------------------------------------------ loss history
    def _record(self, loss: torch.Tensor) -> None:
        """Keep the training loss without a device sync (preallocated chunks)."""
        chunk = 4096
        if not self._history or self._history_pos >= chunk:
            self._history.append(torch.full((chunk,), float("nan"), device=loss.device))
            self._history_pos = 0
        self._history[-1][self._history_pos] = loss
        self._history_pos += 1

    def loss_history(self) -> np.ndarray:
        """Training loss of every step so far (numpy, one value per step)."""
        if not self._history:
            return np.zeros(0, dtype=np.float32)
        full = torch.cat([h.detach().cpu() for h in self._history]).numpy()
        return full[: (len(self._history) - 1) * 4096 + self._history_pos].astype(np.float32)

    # ------------------------------------------------------------------ embedding
    @torch.no_grad()
    def embed(self, x, session_index: int = 0, batch_size: int = 8192) -> torch.Tensor:
        """Embed a contiguous ``(T, *F)`` sequence into ``(T, D)``; edges replicate-padded.

        Convolutional encoders run fully convolutionally over chunks of ``batch_size`` frames.
        """
        enc = self._encoder(session_index)
        was_training = self.training
        self.eval()
        try:
            t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(np.asarray(x)))
            t = t.to(self.device)
            if self.is_video:
                if t.dtype != torch.uint8:
                    t = t.float()
            else:
                t = t.reshape(len(t), -1).float()
            n = len(t)
            if n == 0:
                return torch.zeros(0, self.embedding_dim, device=self.device)
            left, right = enc.receptive_field
            rf = left + right
            if self.is_video:
                chunk = max(1, min(int(batch_size), 1024))
                feats = torch.cat([enc.frame_encoder(t[i:i + chunk]) for i in range(0, n, chunk)])
                seq, net = feats, enc.temporal
            else:
                seq, net = t, enc
            padded = pad_for_receptive_field(seq, left, right)
            out = []
            step = max(1, int(batch_size))
            for start in range(0, n, step):
                stop = min(n, start + step)
                y = net(padded[start:stop + rf - 1][None])
                out.append(y.reshape(-1, y.shape[-1]))
            return torch.cat(out)
        finally:
            self.train(was_training)

    def embed_split(self, split: SplitData, modality: str | None = None, batch_size: int = 8192) -> np.ndarray:
        """Embed every frame of a split, one trial (segment) at a time; returns ``(T, D)``."""
        name = modality or self.data_spec.get("input")
        data = split.inputs[name] if name in split.inputs else split.input
        out = np.zeros((split.n_frames, self.embedding_dim), dtype=np.float32)
        for start, stop in split.segments:
            seg = np.asarray(data[start:stop])
            if not self.is_video:
                seg = seg.astype(np.float32, copy=False)
            out[start:stop] = self.embed(seg, split.session_index, batch_size).cpu().numpy()
        return out

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["behavenet_contrastive"] = {"conditional": self.conditional,
                                               "time_offsets": self.time_offsets}
