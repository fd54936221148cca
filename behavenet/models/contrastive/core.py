"""The contrastive family's :class:`~behavenet.models.base.Core`: networks, loss and sampling.

:class:`ContrastiveCore` holds everything the contrastive family computes: one encoder per
session, the InfoNCE criterion, the sampler and the index-batch stream, the loss of a batch and
the embedding of whole sequences. It imports no Lightning. The two generic drivers train it:
:class:`~behavenet.models.lightning.FamilyModule` behind ``python train.py model=contrastive``,
and the scikit-learn style :class:`~behavenet.models.contrastive.estimator.ContrastiveEmbedding`
(a :class:`~behavenet.models.estimator.FamilyEstimator`) with a plain loop.

Training is step-based: :meth:`ContrastiveCore.make_dataset` returns an infinite stream of
batches of frame *indices* (references, positives, negatives) drawn by a
:class:`~behavenet.models.contrastive.samplers.ContrastiveSampler`; the core keeps the split's
input as one contiguous tensor per session (moved once to the model's device) and cuts the
windows out of it inside the step, so nothing but a few thousand integers crosses the data
loader per step. One encoder forward runs per session over the concatenated reference, positive
and negative windows.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import IterableDataset, get_worker_info

from behavenet.data.splits import SplitData
from behavenet.data.windows import pad_for_receptive_field
from behavenet.errors import ConfigError
from behavenet.models.base import Core, input_specs
from behavenet.models.contrastive.config import ContrastiveConfig
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

__all__ = ["ContrastiveCore", "ContrastiveStream", "StepLoss"]

log = logging.getLogger(__name__)

# CEBRA's conditional names that mean one of ours
_CONDITIONAL_ALIASES = {"delta_normal": "delta"}

_STAGES = {
    "train": "train",
    "fit": "train",
    "val": "val",
    "validate": "val",
    "validation": "val",
    "test": "test",
    "predict": "test",
}
_MATERIALISE_BYTES = 1 << 30  # lazily read inputs up to this size are loaded into memory


class ContrastiveStream(IterableDataset):
    """Batches of sampled indices (see :class:`ContrastiveSampler`); yields whole batches.

    Batch ``g`` is drawn with ``numpy.random.default_rng([seed, g])``, so the stream is the same
    bit for bit whatever the number of data-loader workers (worker ``w`` of ``W`` produces every
    ``W``-th batch). ``n_batches=None`` gives an infinite stream.

    Under distributed training (``world_size`` > 1) each rank draws different batches: the
    infinite training stream of rank ``r`` holds the batches ``g = r, r + world_size, ...``, and a
    finite stream of ``n_batches`` is split between the ranks. With one process nothing changes.
    """

    yields_batches = True
    augment_keys: list[str] = []  # batches hold indices; ContrastiveModel augments the gathered windows

    def __init__(
        self,
        sampler: ContrastiveSampler,
        batch_size: int,
        seed: int = 0,
        n_batches: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.n_batches = n_batches
        self.rank = int(rank)
        self.world_size = max(1, int(world_size))
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {rank} outside world_size {world_size}")

    def _rank_batches(self) -> range:
        """The batch numbers this rank draws from a finite stream."""
        return range(self.rank, int(self.n_batches), self.world_size)

    def __len__(self) -> int:
        if self.n_batches is None:
            raise TypeError("infinite stream")
        return len(self._rank_batches())

    def batch(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, int(i)])
        return _to_torch(self.sampler.sample(self.batch_size, rng))

    def __iter__(self):
        info = get_worker_info()
        w, nw = (0, 1) if info is None else (info.id, info.num_workers)
        if self.n_batches is None:
            k = w
            while True:
                yield self.batch(k * self.world_size + self.rank)
                k += nw
        for i in self._rank_batches()[w::nw]:
            yield self.batch(i)


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
    if not (
        isinstance(x, torch.Tensor)
        and x.device.type == "cpu"
        and x.dim() == 2
        and x.dtype == torch.float32
        and x.numel() > 0
    ):
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


class StepLoss(NamedTuple):
    """The loss of one batch and its parts (tensors with gradients; see :meth:`ContrastiveCore.loss`).

    ``behavior`` and ``time`` are the label and time losses of a hybrid model (``None`` otherwise);
    ``total = behavior + time`` for hybrid models.
    """

    total: torch.Tensor
    align: torch.Tensor
    uniform: torch.Tensor
    behavior: torch.Tensor | None = None
    time: torch.Tensor | None = None


class ContrastiveCore(Core):
    """Contrastive embedding model (CEBRA-like; see ``docs/contrastive.md``).

    Built from a :class:`~behavenet.models.contrastive.config.ContrastiveConfig` and a data spec.
    The state dict holds ``encoders.*`` (one encoder per session) and ``criterion.*``.
    """

    def __init__(self, config: ContrastiveConfig, data_spec: dict[str, Any] | None = None):
        super().__init__(config, data_spec)
        c = config
        spec = self.data_spec
        (
            model_architecture,
            num_hidden_units,
            output_dimension,
            conditional,
            time_offsets,
            distance,
            temperature_mode,
            temperature,
            min_temperature,
            delta,
            hybrid,
            prior,
            labels,
            batch_size,
            frame_encoder,
            frame_features,
            frame_layout,
        ) = (
            c.model_architecture,
            c.num_hidden_units,
            c.output_dimension,
            c.conditional,
            c.time_offsets,
            c.distance,
            c.temperature_mode,
            c.temperature,
            c.min_temperature,
            c.delta,
            c.hybrid,
            c.prior,
            c.labels,
            c.batch_size,
            c.frame_encoder,
            c.frame_features,
            c.frame_layout,
        )
        self.output_dimension = int(output_dimension)
        self.delta = delta
        self.prior = prior
        self.nn_backend = c.nn_backend
        self.hybrid_behavior_dims = c.hybrid_behavior_dims
        self.val_batches = int(c.val_batches)
        self.model_architecture = resolve_architecture(model_architecture)
        if distance not in DISTANCES:
            raise ConfigError("model.distance", f"expected one of {', '.join(DISTANCES)}, got {distance!r}")
        if temperature_mode not in TEMPERATURE_MODES:
            raise ConfigError(
                "model.temperature_mode", f"expected one of {', '.join(TEMPERATURE_MODES)}, got {temperature_mode!r}"
            )
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
                raise ConfigError(
                    "model.labels", f"unknown label {n!r}; the data offers {sorted(label_spec) or 'none'}"
                )
        for n in names:
            kind = label_spec[n].get("kind")
            if kind not in ("continuous", "discrete"):
                raise ConfigError(f"data_spec.labels.{n}.kind", f"expected 'continuous' or 'discrete', got {kind!r}")
        self.label_names = names
        has_cont = any(label_spec[n]["kind"] == "continuous" for n in names)
        has_disc = any(label_spec[n]["kind"] == "discrete" for n in names)
        cond = auto_conditional(has_cont, has_disc) if conditional in (None, "auto", "none") else conditional
        cond = _CONDITIONAL_ALIASES.get(cond, cond)
        if cond not in CONDITIONALS:
            raise ConfigError(
                "model.conditional", f"expected one of {', '.join(CONDITIONALS)} or null, got {conditional!r}"
            )
        if cond in ("time_delta", "delta", "mixed") and not has_cont:
            raise ConfigError(
                "model.conditional", f"{cond!r} needs a continuous label; the selected labels are {names or 'none'}"
            )
        if cond in ("discrete", "mixed") and not has_disc:
            raise ConfigError(
                "model.conditional", f"{cond!r} needs a discrete label; the selected labels are {names or 'none'}"
            )
        if cond == "delta" and not (delta is not None and float(delta) > 0):
            raise ConfigError("model.delta", f"conditional 'delta' needs delta > 0, got {delta!r}")
        self.conditional = cond
        self.hybrid = bool(hybrid) and cond != "time"
        self.batch_size = int(batch_size)

        # the input to embed, and one encoder per session
        specs = input_specs(spec)
        name = c.input or spec.get("input") or next(iter(specs), None)
        if name not in specs:
            raise ConfigError("model.input", f"the data offer no input {name!r} (inputs: {', '.join(specs) or 'none'})")
        self.input_name = str(name)
        shapes = specs[self.input_name].get("shapes") or []
        if not shapes:
            raise ConfigError("data_spec.input_shapes", "expected one per-frame shape per session, got none")
        use_frames = frame_encoder == "conv" or (frame_encoder is None and self.input_name == "video")
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
                    raise ConfigError(
                        "model.frame_encoder", f"a frame encoder needs (H, W, C) frames, got shape {shape}"
                    )
                hwc = shape if frame_layout == "HWC" else [shape[1], shape[2], shape[0]]
                fe = FrameConvEncoder(hwc, features=int(frame_features), layout=frame_layout)
                temporal = make_encoder(
                    self.model_architecture, int(frame_features), int(num_hidden_units), int(output_dimension)
                )
                encoders.append(VideoEncoder(fe, temporal))
            else:
                encoders.append(
                    make_encoder(self.model_architecture, _prod(shape), int(num_hidden_units), int(output_dimension))
                )
        self.encoders = nn.ModuleList(encoders)
        try:
            self.criterion = InfoNCE(distance, temperature_mode, float(temperature), float(min_temperature))
        except ValueError as err:  # "<argument> must be ..." -> a one-line config error on that argument
            raise ConfigError(f"model.{str(err).split()[0]}", str(err)) from None
        self._stage_data: dict[str, dict] = {}

    # ------------------------------------------------------------------ contract
    @property
    def receptive_field(self) -> tuple[int, int]:
        return self.encoders[0].receptive_field

    @property
    def embedding_dim(self) -> int:
        return self.output_dimension

    @property
    def n_sessions(self) -> int:
        return len(self.encoders)

    @property
    def input_names(self) -> list[str]:
        return [self.input_name]

    def forward(self, x: torch.Tensor, session_index: int = 0) -> torch.Tensor:
        """Embed windows ``(B, left + right, *F)`` into ``(B, D)``."""
        enc = self._encoder(session_index)
        if not self.is_video:
            x = x.reshape(x.shape[0], x.shape[1], -1).float()
        return enc(x)

    def encode(self, windows: dict[str, torch.Tensor], session_index: int = 0) -> torch.Tensor:
        return self(windows[self.input_name], session_index)

    def batch_size_of(self, batch: dict) -> int:
        return self.batch_size

    def _encoder(self, session_index: int):
        if not 0 <= int(session_index) < len(self.encoders):
            raise ConfigError("session_index", f"expected 0..{len(self.encoders) - 1}, got {session_index}")
        return self.encoders[int(session_index)]

    # ------------------------------------------------------------------ data
    def fit_data(self, splits: list[SplitData]) -> None:
        """Video: the per-frame CNN's input normalisation (mean image, pixel scale) from up to
        1,000 training frames of each session, unless already set."""
        if not self.is_video:
            return
        for s in splits:
            fe = self._encoder(s.session_index).frame_encoder
            if bool(fe.normalization_set):
                continue
            data = s.inputs[self.input_name]
            rows = np.unique(np.linspace(0, len(data) - 1, 1000).astype(np.int64))
            frames = torch.from_numpy(np.ascontiguousarray(np.asarray(data[rows])))
            if frames.dtype != torch.uint8:
                frames = frames.float()
            fe.set_normalization(frames.to(fe.pixel_mean.device))

    def sampler_for(self, splits: list[SplitData]) -> ContrastiveSampler:
        left, right = self.receptive_field
        sessions = [SessionFrames.from_split(s, left, right, self.label_names) for s in splits]
        if self.conditional != "time" and not self.label_names:
            raise ConfigError("model.conditional", f"{self.conditional!r} needs labels")
        return ContrastiveSampler(
            sessions,
            self.conditional,
            self.time_offsets,
            delta=self.delta,
            hybrid=self.hybrid,
            prior=self.prior,
            nn_backend=self.nn_backend,
        )

    def make_dataset(
        self,
        splits: list[SplitData],
        stage: str,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        n_batches: int | None = None,
    ):
        """Infinite stream of index batches for ``"train"``; ``n_batches`` (default
        ``val_batches``) fixed-seed batches for ``"val"``/``"test"``. The splits' inputs are kept
        on the core for the steps of that stage. ``rank``/``world_size``: this process's share
        under distributed training (see :class:`ContrastiveStream`)."""
        stage = _STAGES.get(stage, stage)
        if not splits:
            return None
        for s in splits:
            if not 0 <= s.session_index < len(self.encoders):
                raise ConfigError(
                    "data",
                    f"split of session {s.session_id!r} has session_index "
                    f"{s.session_index}, but the model has {len(self.encoders)} session encoder(s)",
                )
        try:
            sampler = self.sampler_for(splits)
        except ConfigError as err:
            if stage == "train":
                raise
            log.warning("no %s batches for the contrastive model: %s", stage, err)
            return None
        # every step scores batch x batch pairs: a batch larger than the data would only repeat
        # frames and, far larger, exhaust memory; short recordings get batches of all their frames
        n_centers = min(len(sf.centers) for sf in sampler.sessions)
        batch = min(self.batch_size, n_centers)
        if stage == "train" and batch < self.batch_size:
            log.warning(
                "model.batch_size %d is more than the %d training frames of the smallest session; using batches of %d",
                self.batch_size,
                n_centers,
                n_centers,
            )
        inputs = [self._input_tensor(s) for s in splits]
        self._stage_data[stage] = {
            "inputs": inputs,
            "session_index": [int(s.session_index) for s in splits],
            "device": None,
        }
        if stage == "train":
            n = None
        else:
            n = max(1, int(self.val_batches if n_batches is None else n_batches))
        return ContrastiveStream(sampler, batch, seed, n, rank=rank, world_size=world_size)

    def release(self, stage: str | None = None) -> None:
        """Drop the inputs kept by :meth:`make_dataset` (of one stage, or of all)."""
        if stage is None:
            self._stage_data.clear()
        else:
            self._stage_data.pop(_STAGES.get(stage, stage), None)

    def _input_tensor(self, split: SplitData):
        data = split.inputs[self.input_name]
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
        device = self.device
        if entry["device"] != device:
            entry["inputs"] = [x.to(device) if isinstance(x, torch.Tensor) else x for x in entry["inputs"]]
            entry["sparse"] = [_sparse_pair(x) for x in entry["inputs"]]
            entry["device"] = device
        return entry["inputs"], entry["session_index"], entry["sparse"]

    # ------------------------------------------------------------------ loss
    def _embed_batch(self, batch: dict, stage: str):
        inputs, sess, sparse = self._stage_inputs(stage)
        device = self.device
        transform = self.train_transform.get(self.input_name)
        refs, poss, negs, times = [], [], [], []
        hybrid = "pos_time" in batch
        for s in range(len(batch["ref"])):
            parts = [batch["ref"][s], batch["pos"][s], batch["neg"][s]]
            if hybrid:
                parts.append(batch["pos_time"][s])
            sizes = [len(p) for p in parts]
            centers = torch.cat(parts).to(device)
            enc = self.encoders[sess[s]]
            if transform is not None and stage == "train" and isinstance(inputs[s], torch.Tensor):
                # gather the windows, transform each one (e.g. a random rotation), then encode
                rel = torch.arange(-enc.left, enc.right, device=device)
                flat = (centers[:, None] + rel[None, :]).reshape(-1)
                windows = inputs[s].index_select(0, flat).view(len(centers), enc.window_length, *inputs[s].shape[1:])
                emb = enc(transform(windows))
            else:
                emb = enc.forward_indexed(inputs[s], centers, sparse=sparse[s])
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
            pos = pos[batch["pos_order"].to(device)]
        pos_time = (times[0] if len(times) == 1 else torch.cat(times)) if hybrid else None
        return ref, pos, neg, pos_time

    def _behavior_slice(self, x: torch.Tensor) -> torch.Tensor:
        k = self.hybrid_behavior_dims
        if k is None or k >= x.shape[1]:
            return x
        x = x[:, :k]
        return F.normalize(x, dim=1) if self.criterion.distance == "cosine" else x

    def loss(self, batch: dict, stage: str = "train") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(InfoNCE, metrics)`` of one index batch of ``stage`` (see :meth:`loss_parts`,
        :meth:`metrics`)."""
        out = self.loss_parts(batch, stage)
        return out.total, self.metrics(out, batch)

    def loss_parts(self, batch: dict, stage: str = "train") -> StepLoss:
        """InfoNCE of one index batch of ``stage`` (from :meth:`make_dataset`'s stream).

        A hybrid model adds the label loss (on the first ``hybrid_behavior_dims`` dimensions) and
        the time loss; ``align`` and ``uniform`` are then sums over both.
        """
        ref, pos, neg, pos_time = self._embed_batch(batch, _STAGES.get(stage, stage))
        if pos_time is None:
            loss, align, uniform = self.criterion(ref, pos, neg)
            return StepLoss(loss, align, uniform)
        lb, ab, ub = self.criterion(self._behavior_slice(ref), self._behavior_slice(pos), self._behavior_slice(neg))
        lt, at, ut = self.criterion(ref, pos_time, neg)
        return StepLoss(lb + lt, ab + at, ub + ut, lb, lt)

    def metrics(self, out: StepLoss, batch: dict) -> dict[str, torch.Tensor]:
        """Detached metrics of a batch's loss: loss, align, uniform, temperature, gof_bits (and
        loss_behavior, loss_time for hybrid models)."""
        n_sessions = len(batch["ref"])
        n_neg = len(batch["ref"][0])
        hybrid = out.behavior is not None
        loss = out.total.detach()
        metrics = {
            "loss": loss,
            "align": out.align.detach(),
            "uniform": out.uniform.detach(),
            "temperature": self.criterion.temperature,
            "gof_bits": goodness_of_fit_bits(loss / (2 if hybrid else 1), n_neg, n_sessions),
        }
        if hybrid:
            metrics.update(loss_behavior=out.behavior.detach(), loss_time=out.time.detach())
        return metrics

    # ------------------------------------------------------------------ embedding
    @torch.no_grad()
    def embed(self, inputs, session_index: int = 0, batch_size: int | None = None) -> torch.Tensor:
        """Embed a contiguous ``(T, *F)`` sequence (or ``{input name: sequence}``) into ``(T, D)``;
        edges replicate-padded. Convolutional encoders run fully convolutionally over chunks of
        ``batch_size`` (default 8192) frames.
        """
        x = self.as_inputs(inputs)[self.input_name]
        batch_size = int(batch_size or 8192)
        enc = self._encoder(session_index)
        was_training = self.encoders.training
        self.eval()
        try:
            device = self.device
            t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(np.asarray(x)))
            t = t.to(device)
            if self.is_video:
                if t.dtype != torch.uint8:
                    t = t.float()
            else:
                t = t.reshape(len(t), -1).float()
            n = len(t)
            if n == 0:
                return torch.zeros(0, self.embedding_dim, device=device)
            left, right = enc.receptive_field
            rf = left + right
            if self.is_video:
                chunk = max(1, min(int(batch_size), 1024))
                feats = torch.cat([enc.frame_encoder(t[i : i + chunk]) for i in range(0, n, chunk)])
                seq, net = feats, enc.temporal
            else:
                seq, net = t, enc
            padded = pad_for_receptive_field(seq, left, right)
            out = []
            step = max(1, int(batch_size))
            for start in range(0, n, step):
                stop = min(n, start + step)
                y = net(padded[start : stop + rf - 1][None])
                out.append(y.reshape(-1, y.shape[-1]))
            return torch.cat(out)
        finally:
            self.train(was_training)
