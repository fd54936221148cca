"""The Behavior Transformer's :class:`~behavenet.models.base.Core`: tokenizer, causal GPT, heads.

Given the observations of the last ``window`` frames, BeT predicts a distribution over the
action at each of them: a categorical over ``n_clusters`` k-means bins of the actions (the
*tokenizer*, fitted once on the training actions by :meth:`BeTCore.fit_data`, kept in the
checkpoint as the ``tokenizer.centers`` buffer) and, per bin, a continuous offset from the bin
centre. Sampling draws a bin from the softmax (at a temperature) and adds that bin's offset, so
an animal that, at the same state, goes one of several ways is sampled going each of them, not
their average.

Batches are gathered by the core itself (:class:`BeTStream`): training windows are drawn
uniformly with replacement from every window lying inside one trial; validation and test
batches run through all windows in order.

``pose_mode: per_animal`` (``model=bet_pose``): the action input is the session's pose, read as
raw keypoints (``SplitData.keypoints``); each animal of each trial is one sequence of
:func:`.pose.pose_observations` and :func:`.pose.pose_actions`, and the embedding of a frame pools
the animals' hidden states (:func:`.pose.pool_animals`) and reduces them by a PCA fitted after
training (:meth:`BeTCore.fit_after_training`) to ``embedding_width`` columns.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import IterableDataset, get_worker_info

from behavenet.data.splits import SplitData
from behavenet.errors import ConfigError
from behavenet.models.base import Core, input_specs
from behavenet.models.bet import pose as pose_ops
from behavenet.models.bet.config import BeTConfig
from behavenet.models.bet.losses import focal_loss, nearest_bin, offset_loss

__all__ = ["ActionTokenizer", "BeTCore", "BeTStream", "CausalTransformer", "fit_kmeans"]

_ACTION_MODES = ("displacement", "value")
_POSE_MODES = ("joint", "per_animal")


# ---------------------------------------------------------------------------------------------
# tokenizer


def fit_kmeans(actions: np.ndarray, k: int, iterations: int, seed: int) -> np.ndarray:
    """k-means centres ``(k, A)`` of ``actions (N, A)`` (scikit-learn, k-means++ seeded, one start,
    one thread so that a seed gives the same centres on every machine load)."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        km = KMeans(n_clusters=int(k), init="k-means++", n_init=1, max_iter=int(iterations), random_state=int(seed))
        km.fit(np.asarray(actions, dtype=np.float64))
    return km.cluster_centers_.astype(np.float32)


class ActionTokenizer(nn.Module):
    """Action bins: ``centers`` ``(K, A)`` (a buffer, so it is saved with the weights)."""

    def __init__(self, n_clusters: int, act_dim: int):
        super().__init__()
        self.register_buffer("centers", torch.zeros(int(n_clusters), int(act_dim)))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def fit(self, actions: np.ndarray, iterations: int, seed: int) -> None:
        k = self.centers.shape[0]
        n_unique = len(np.unique(np.round(actions, 7), axis=0)) if len(actions) <= 10 * k else len(actions)
        if len(actions) < k or n_unique < k:
            raise ConfigError(
                "model.n_clusters",
                f"the training data hold {n_unique} distinct actions, fewer than n_clusters={k}; lower n_clusters",
            )
        centers = fit_kmeans(actions, k, iterations, seed)
        self.centers.copy_(torch.from_numpy(centers))
        self.fitted.fill_(True)

    def encode(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(bin index, residual a - c_bin)`` of actions ``(..., A)``."""
        bins = nearest_bin(actions, self.centers)
        return bins, actions - self.centers[bins]


# ---------------------------------------------------------------------------------------------
# causal transformer


class _Linear(nn.Linear):
    """``nn.Linear`` (same parameters and state-dict keys) that on a CPU adds the bias after the
    matrix product, in place: ``addmm`` first copies the broadcast bias into its output, which
    cost this model's training step about 4 % on the reference CPU. Elsewhere (CUDA's fused
    epilogue) it is ``nn.Linear``. With torch's CPU BLAS (MKL) the results equal ``nn.Linear``'s
    to the bit (the product is finished before the bias is added either way); another BLAS may
    round differently in the last bit."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bias is None or x.device.type != "cpu":
            return super().forward(x)
        return F.linear(x, self.weight).add_(self.bias)


class _Block(nn.Module):
    """Pre-LayerNorm block: causal multi-head self-attention, then a 4x GELU MLP."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, float(dropout)
        self.ln1 = nn.LayerNorm(d)
        self.qkv = _Linear(d, 3 * d)
        self.proj = _Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = _Linear(d, 4 * d)
        self.out = _Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if self.training and self.dropout > 0:
            # dropout on the attention weights: written out (torch's fused CPU kernel has no dropout)
            s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1])) + _causal_mask(t, x)
            e = torch.exp(s - s.detach().amax(-1, keepdim=True))
            att = _dropout(e / e.sum(-1, keepdim=True), self.dropout) @ v
        else:
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + _dropout(self.proj(att.transpose(1, 2).reshape(b, t, d)), self.dropout, self.training)
        return x + _dropout(self.out(F.gelu(self.fc(self.ln2(x)))), self.dropout, self.training)


def _causal_mask(t: int, like: torch.Tensor) -> torch.Tensor:
    return torch.full((t, t), float("-inf"), device=like.device, dtype=like.dtype).triu_(1)


def _dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout (as ``F.dropout``) with 16-bit uniform draws: each element is dropped with
    probability ``p`` rounded to a multiple of 1/65536 (0.1 -> 0.100006), and kept ones are scaled
    by ``1 / (1 - p)``. Four draws come from one 64-bit random word, which makes the masks about
    2.5x cheaper than ``rand_like`` on a CPU (the generator dominates dropout's cost there)."""
    if not training or p <= 0:
        return x
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), None)
    draws = words.view(torch.int16)[:n].view(x.shape).to(torch.float32)  # exact: |draw| < 2**15
    mask = draws.ge_(_DROP_BASE + round(p * 65536)).mul_(1.0 / (1.0 - p))
    return x * (mask if mask.dtype == x.dtype else mask.to(x.dtype))


_DROP_BASE = -32768  # the smallest int16: a draw below BASE + p * 65536 is dropped


class CausalTransformer(nn.Module):
    """GPT trunk: ``(B, L, obs_dim)`` observations -> ``(B, L, n_embd)`` hidden states; position
    ``l`` attends to positions ``<= l`` only, so the state at ``l`` is the same whatever follows."""

    def __init__(self, obs_dim: int, window: int, n_layer: int, n_head: int, n_embd: int, dropout: float):
        super().__init__()
        self.window = int(window)
        self.embed = _Linear(obs_dim, n_embd)
        self.pos = nn.Parameter(torch.zeros(1, self.window, n_embd))
        self.dropout = float(dropout)
        self.blocks = nn.ModuleList([_Block(n_embd, n_head, dropout) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.apply(_init)
        for block in self.blocks:  # GPT-2's scaled init of the residual projections
            for lin in (block.proj, block.out):
                nn.init.normal_(lin.weight, 0.0, 0.02 / math.sqrt(2 * n_layer))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        h = _dropout(self.embed(x) + self.pos[:, :length], self.dropout, self.training)
        for block in self.blocks:
            h = block(h)
        return self.ln_f(h)


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------------------
# batches


class BeTStream(IterableDataset):
    """Batches ``{"obs": (B, W, F), "actions": (B, W, A), "valid": (B, W)}`` of windows.

    ``starts`` are the first rows of the usable windows in the concatenated arrays. Training
    (``n_batches=None``): an infinite stream, batch ``g`` drawn uniformly with replacement with
    ``numpy.random.default_rng([seed, g])`` (rank ``r`` of ``R`` takes ``g = r, r + R, ...``).
    Otherwise every window once, in order, ``batch_size`` at a time (split between ranks).
    """

    yields_batches = True
    augment_keys: list[str] = []

    def __init__(self, obs, actions, valid, starts, window, batch_size, seed=0, train=True, rank=0, world_size=1):
        self.obs, self.actions, self.valid = obs, actions, valid
        self.starts = torch.as_tensor(starts, dtype=torch.long)
        self.offsets = torch.arange(int(window))
        self.batch_size, self.seed, self.train = int(batch_size), int(seed), bool(train)
        self.rank, self.world_size = int(rank), max(1, int(world_size))

    def _gather(self, starts: torch.Tensor) -> dict:
        idx = starts[:, None] + self.offsets[None, :]
        return {"obs": self.obs[idx], "actions": self.actions[idx], "valid": self.valid[idx]}

    def batch(self, g: int) -> dict:
        rng = np.random.default_rng([self.seed, int(g)])
        pick = torch.from_numpy(rng.integers(0, len(self.starts), size=self.batch_size))
        return self._gather(self.starts[pick])

    def _eval_batches(self) -> range:
        n = math.ceil(len(self.starts) / self.batch_size)
        return range(self.rank, n, self.world_size)

    def __len__(self) -> int:
        if self.train:
            raise TypeError("infinite stream")
        return len(self._eval_batches())

    def __iter__(self):
        info = get_worker_info()
        w, nw = (0, 1) if info is None else (info.id, info.num_workers)
        if self.train:
            k = w
            while True:
                yield self.batch(k * self.world_size + self.rank)
                k += nw
        for i in self._eval_batches()[w::nw]:
            yield self._gather(self.starts[i * self.batch_size : (i + 1) * self.batch_size])


# ---------------------------------------------------------------------------------------------
# the core


class BeTCore(Core):
    """Behavior Transformer: ``p(a_t | o_{t-window+1..t})`` as bins + offsets; the embedding of a
    frame is the trunk's final hidden state at that frame (its causal history)."""

    def __init__(self, config: BeTConfig, data_spec=None):
        super().__init__(config, data_spec)
        c = config
        for key in ("n_clusters", "window", "n_layer", "n_head", "n_embd", "kmeans_iterations", "batch_size"):
            if int(getattr(c, key)) < 1:
                raise ConfigError(f"model.{key}", f"expected an integer >= 1, got {getattr(c, key)!r}")
        if int(c.n_embd) % int(c.n_head):
            raise ConfigError("model.n_embd", f"expected a multiple of n_head={c.n_head}, got {c.n_embd}")
        if not 0.0 <= float(c.dropout) < 1.0:
            raise ConfigError("model.dropout", f"expected a number in [0, 1), got {c.dropout!r}")
        for key in ("focal_gamma", "offset_loss_weight", "grad_clip"):
            if not float(getattr(c, key)) >= 0:
                raise ConfigError(f"model.{key}", f"expected a number >= 0, got {getattr(c, key)!r}")
        if not float(c.temperature) > 0:
            raise ConfigError("model.temperature", f"expected a number > 0, got {c.temperature!r}")
        if c.action_mode not in _ACTION_MODES:
            raise ConfigError("model.action_mode", f"expected one of {', '.join(_ACTION_MODES)}, got {c.action_mode!r}")
        if c.pose_mode not in _POSE_MODES:
            raise ConfigError("model.pose_mode", f"expected one of {', '.join(_POSE_MODES)}, got {c.pose_mode!r}")
        if isinstance(c.embedding_width, bool) or int(c.embedding_width) < 1:
            raise ConfigError("model.embedding_width", f"expected an integer >= 1, got {c.embedding_width!r}")
        specs = input_specs(self.data_spec)
        known = ", ".join(specs) or "none"
        if c.action_input not in specs:
            raise ConfigError(
                "model.action_input",
                f"the data offer no input {c.action_input!r} (inputs: {known}); add it to the data's inputs, "
                f"e.g. data.inputs=[{','.join([*specs, str(c.action_input)])}], or choose another model.action_input",
            )
        self.per_animal = c.pose_mode == "per_animal"
        if self.per_animal:
            self._init_per_animal(specs)
        else:
            self._init_joint(specs)
        self.window = int(c.window)
        self.n_clusters = int(c.n_clusters)
        self.tokenizer = ActionTokenizer(self.n_clusters, self.act_dim)
        self.trunk = CausalTransformer(self.obs_dim, self.window, c.n_layer, c.n_head, c.n_embd, c.dropout)
        if int(c.output_dim) < 0:
            raise ConfigError("model.output_dim", f"expected an integer >= 0, got {c.output_dim!r}")
        width = int(c.output_dim) or int(c.n_embd)
        self.project = nn.Linear(int(c.n_embd), width, bias=False) if int(c.output_dim) else nn.Identity()
        if int(c.output_dim):
            _init(self.project)
        # the head keeps torch's default (uniform) initialisation, as BeT's MLP head
        self.head = _Linear(width, self.n_clusters * (1 + self.act_dim))
        self._stage_data: dict = {}

    def _init_joint(self, specs: dict) -> None:
        """Observations: the inputs' features at every frame; actions: the action input's change."""
        c = self.config
        known = ", ".join(specs) or "none"
        if c.inputs:
            obs_names = [str(n) for n in c.inputs]
        else:
            skip = {c.goal_input} | ({c.action_input} if c.action_mode == "value" else set())
            obs_names = [n for n in specs if n not in skip]
        for name in obs_names + ([c.goal_input] if c.goal_input else []):
            if name not in specs:
                raise ConfigError("model.inputs", f"the data offer no input {name!r} (inputs: {known})")
        if not obs_names:
            raise ConfigError("model.inputs", "expected at least one observed input")
        self.obs_names = obs_names
        self.goal_name = c.goal_input
        self.sizes = {n: self._size(specs, n) for n in set(obs_names) | {c.action_input} | {c.goal_input} - {None}}
        self.obs_dim = sum(self.sizes[n] for n in self._feature_names)
        self.act_dim = self.sizes[c.action_input]

    def _init_per_animal(self, specs: dict) -> None:
        """Observations and actions per animal from the pose keypoints (:mod:`.pose`)."""
        c = self.config
        name = c.action_input
        layout = self.data_spec.get("pose_layout")
        if name != "pose" or not layout:
            raise ConfigError(
                "model.pose_mode",
                f"per_animal needs pose keypoints (frames, animals, keypoints, 2) as model.action_input; "
                f"input {name!r} is not a pose input (inputs: {', '.join(specs) or 'none'}); "
                "use pose data (e.g. data=synthetic_social) with model.action_input=pose",
            )
        if int(layout["dims"]) != 2:
            raise ConfigError(
                "model.pose_mode", f"per_animal needs 2-D keypoints (x, y); the pose input has {layout['dims']} dims"
            )
        for key in ("inputs", "goal_input"):
            if getattr(c, key):
                raise ConfigError(
                    f"model.{key}", f"per_animal observes each animal's pose window only; set model.{key}=null"
                )
        if c.action_mode != "displacement":
            raise ConfigError(
                "model.action_mode", "per_animal actions are next-frame keypoint displacements; set displacement"
            )
        self.n_animals, self.n_keypoints = int(layout["animals"]), int(layout["keypoints"])
        self.heading = self._resolve_heading(c.heading, layout)
        self.obs_names, self.goal_name = [name], None
        self.sizes = {name: self.n_keypoints * 2}
        self.obs_dim = self.n_keypoints * 2 + 2 + 4 * (self.n_animals - 1)
        self.act_dim = self.n_keypoints * 2
        pooled = 2 * int(c.n_embd)
        width = min(pooled, int(c.embedding_width))
        self.register_buffer("pose_scale", torch.ones(()))
        self.register_buffer("pooling_mean", torch.zeros(pooled))
        self.register_buffer("pooling_components", torch.zeros(width if pooled > width else 0, pooled))
        self.register_buffer("pooling_fitted", torch.tensor(pooled <= width))

    def _resolve_heading(self, heading, layout: dict) -> tuple[int, int]:
        """``(from, to)`` keypoint indices of the body axis (see ``BeTConfig.heading``)."""
        k, names = self.n_keypoints, layout.get("keypoint_names")
        if heading is None:
            given = layout.get("heading")
            return tuple(int(i) for i in given) if given else pose_ops.default_heading(k)
        h = list(heading)
        idx = []
        for item in h:
            if isinstance(item, str) and names and item in names:
                idx.append(list(names).index(item))
            elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= int(item) < k:
                idx.append(int(item))
        if len(h) != 2 or len(idx) != 2 or idx[0] == idx[1]:
            raise ConfigError(
                "model.heading",
                f"expected two different keypoints (names {list(names or [])} or indices 0..{k - 1}), got {heading!r}",
            )
        return idx[0], idx[1]

    @staticmethod
    def _size(specs: dict, name: str) -> int:
        sizes = {int(np.prod(s)) for s in specs[name].get("shapes") or []}
        if len(sizes) != 1:
            raise ConfigError("model", f"BeT needs one size of input {name!r} in every session, got {sorted(sizes)}")
        return sizes.pop()

    @property
    def _feature_names(self) -> list[str]:
        return self.obs_names + ([self.goal_name] if self.goal_name else [])

    # ------------------------------------------------------------------ contract
    @property
    def input_names(self) -> list[str]:
        return list(self._feature_names)

    @property
    def embedding_dim(self) -> int:
        if self.per_animal:
            return min(2 * int(self.config.n_embd), int(self.config.embedding_width))
        return int(self.config.n_embd)

    @property
    def needs_keypoints(self) -> bool:
        return self.per_animal

    @property
    def receptive_field(self) -> tuple[int, int]:
        return (self.window - 1, 1)

    def batch_size_of(self, batch: dict) -> int:
        return int(batch["obs"].shape[0]) if "obs" in batch else super().batch_size_of(batch)

    # ------------------------------------------------------------------ data
    def features(self, inputs: dict) -> torch.Tensor:
        """Observation features ``(T, obs_dim)`` of ``{name: (T, *F)}`` (NaN -> 0)."""
        cols = []
        for name in self._feature_names:
            x = inputs[name]
            x = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, dtype=np.float32))
            cols.append(x.reshape(len(x), -1).float())
        return torch.nan_to_num(torch.cat(cols, 1), nan=0.0, posinf=0.0, neginf=0.0)

    def split_actions(self, split: SplitData) -> tuple[np.ndarray, np.ndarray]:
        """``(actions (T, A), valid (T,))`` of a split: NaN actions and, for displacements, the last
        frame of every trial are invalid (kept out of the k-means and of the losses)."""
        x = np.asarray(split.inputs[self.config.action_input], dtype=np.float32).reshape(split.n_frames, -1)
        if self.config.action_mode == "value":
            acts = x.copy()
        else:
            acts = np.zeros_like(x)
            acts[:-1] = x[1:] - x[:-1]
            ends = np.zeros(len(x), dtype=bool)
            ends[np.asarray(split.segments)[:, 1] - 1] = True
            acts[ends] = np.nan
        valid = np.isfinite(acts).all(1)
        return np.where(valid[:, None], acts, 0.0).astype(np.float32), valid

    def _window_starts(self, split: SplitData) -> np.ndarray:
        out = [np.arange(a, b - self.window + 1) for a, b in np.asarray(split.segments)]
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)

    # ------------------------------------------------------------------ pose per animal
    def split_keypoints(self, split: SplitData) -> np.ndarray:
        """The keypoints ``(T, animals, keypoints, 2)`` of a split (``pose_mode: per_animal``)."""
        kp = split.keypoints
        if kp is None:
            raise ConfigError(
                "data",
                f"session {split.session_id!r} carries no keypoints: model.pose_mode=per_animal reads the raw "
                "pose (SplitData.keypoints, kept by a data module with a pose input once the model is attached)",
            )
        return self._check_keypoints(kp, f"session {split.session_id!r} keypoints")

    def _check_keypoints(self, kp, what: str) -> np.ndarray:
        kp = np.asarray(kp.detach().cpu().numpy() if isinstance(kp, torch.Tensor) else kp, dtype=np.float32)
        want = (self.n_animals, self.n_keypoints, 2)
        if kp.ndim != 4 or tuple(kp.shape[1:]) != want:
            raise ConfigError(
                "inputs", f"{what}: expected keypoints (frames, {want[0]}, {want[1]}, 2), got shape {tuple(kp.shape)}"
            )
        return kp

    def pose_arrays(self, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(observations (T, A, obs_dim), actions (T, A, act_dim))`` of one contiguous stretch of
        keypoints: :func:`.pose.pose_observations` and :func:`.pose.pose_actions` at the model's
        heading and scale (actions NaN where a keypoint is missing and at the last frame)."""
        scale = float(self.pose_scale)
        return (
            pose_ops.pose_observations(keypoints, self.heading, scale),
            pose_ops.pose_actions(keypoints, self.heading, scale),
        )

    def _animal_sequences(self, splits: list[SplitData]):
        """Every animal of every trial of ``splits`` as one sequence: yields ``(obs (T, F),
        actions (T, A))``."""
        for split in splits:
            kp = self.split_keypoints(split)
            for a, b in np.asarray(split.segments):
                obs, acts = self.pose_arrays(kp[a:b])
                for i in range(self.n_animals):
                    yield obs[:, i], acts[:, i]

    @torch.no_grad()
    def pooled_hidden(self, keypoints: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """``(T, 2 * n_embd)``: the animals' hidden states at every frame of one contiguous stretch
        of keypoints, pooled by :func:`.pose.pool_animals` (mean and max - min over the animals
        present)."""
        obs, _ = self.pose_arrays(keypoints)
        x = torch.from_numpy(obs).to(self.device)
        hidden = torch.stack([self.hidden_per_frame(x[:, i], batch_size) for i in range(self.n_animals)], 1)
        return pose_ops.pool_animals(hidden.float().cpu().numpy(), pose_ops.animals_present(keypoints))

    @torch.no_grad()
    def embed_keypoints(self, keypoints, batch_size: int | None = None) -> np.ndarray:
        """``(T, embedding_dim)`` embeddings of keypoints ``(T, animals, keypoints, 2)``: the pooled
        hidden states, reduced by the PCA fitted after training when wider than embedding_width."""
        kp = self._check_keypoints(keypoints, "keypoints")
        if not bool(self.pooling_fitted):
            raise RuntimeError("the pooling PCA is not fitted: call fit_after_training(train_splits) after training")
        was = self.training
        self.eval()
        try:
            pooled = self.pooled_hidden(kp, batch_size) if len(kp) else np.zeros((0, 2 * int(self.config.n_embd)))
        finally:
            self.train(was)
        comps = self.pooling_components
        if not len(comps):
            return pooled.astype(np.float32)
        return pose_ops.project_pooled(pooled, self.pooling_mean.cpu().numpy(), comps.cpu().numpy())

    def fit_after_training(self, splits: list[SplitData]) -> None:
        """Per animal: fit the PCA reducing the pooled hidden states of the training frames to
        ``embedding_width`` (nothing to fit when ``2 * n_embd <= embedding_width``)."""
        if not self.per_animal or not len(self.pooling_components):
            return
        was = self.training
        self.eval()
        try:
            pooled = [
                self.pooled_hidden(self.split_keypoints(s)[a:b]) for s in splits for a, b in np.asarray(s.segments)
            ]
        finally:
            self.train(was)
        if not pooled:
            raise ConfigError("data", "no training frames to fit the pooling of the per-animal embeddings")
        mean, comps = pose_ops.fit_pooling(np.concatenate(pooled), len(self.pooling_components))
        self.pooling_mean.copy_(torch.from_numpy(mean))
        self.pooling_components.copy_(torch.from_numpy(comps))
        self.pooling_fitted.fill_(True)

    def embed_split(self, split: SplitData, batch_size: int | None = None) -> np.ndarray:
        if not self.per_animal:
            return super().embed_split(split, batch_size)
        kp = self.split_keypoints(split)
        out = np.zeros((split.n_frames, self.embedding_dim), dtype=np.float32)
        for a, b in np.asarray(split.segments):
            out[a:b] = self.embed_keypoints(kp[a:b], batch_size)
        return out

    # ------------------------------------------------------------------ fitting
    def fit_data(self, splits: list[SplitData]) -> None:
        """Fit the k-means tokenizer on every valid training action (seeded from torch's RNG);
        per animal, first the pose scale (:func:`.pose.pose_scale` of the training keypoints)."""
        if self.per_animal:
            scale = pose_ops.pose_scale([self.split_keypoints(s) for s in splits], self.heading)
            if scale is None:
                raise ConfigError("data", "the training splits hold no valid keypoint")
            self.pose_scale.fill_(scale)
            acts = [a[np.isfinite(a).all(1)] for _, a in self._animal_sequences(splits)]
        else:
            acts = [a[v] for a, v in (self.split_actions(s) for s in splits)]
        acts = np.concatenate(acts) if acts else np.zeros((0, self.act_dim), np.float32)
        seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        rng = np.random.default_rng(seed)
        if len(acts) > int(self.config.kmeans_max_samples):
            acts = acts[np.sort(rng.choice(len(acts), int(self.config.kmeans_max_samples), replace=False))]
        if not len(acts):
            raise ConfigError("data", "no valid training actions to fit the BeT tokenizer")
        self.tokenizer.fit(acts, int(self.config.kmeans_iterations), seed)

    def make_dataset(self, splits: list[SplitData], stage: str, seed: int = 0, rank: int = 0, world_size: int = 1):
        if not splits:
            return None
        if self.per_animal:
            return self._per_animal_dataset(splits, stage, seed, rank, world_size)
        obs, acts, valid, starts, offset = [], [], [], [], 0
        for s in splits:
            obs.append(self.features({n: s.inputs[n] for n in self._feature_names}))
            a, v = self.split_actions(s)
            acts.append(torch.from_numpy(a))
            valid.append(torch.from_numpy(v))
            starts.append(self._window_starts(s) + offset)
            offset += s.n_frames
        starts = np.concatenate(starts)
        if not len(starts):
            if stage == "train":
                raise ConfigError("model.window", f"no trial holds window={self.window} frames; lower the window")
            return None
        return BeTStream(
            torch.cat(obs),
            torch.cat(acts),
            torch.cat(valid),
            starts,
            self.window,
            int(self.config.batch_size),
            seed,
            train=stage == "train",
            rank=rank,
            world_size=world_size,
        )

    def _per_animal_dataset(self, splits, stage: str, seed: int, rank: int, world_size: int):
        """Windows of every animal of every trial (those with at least one valid action)."""
        obs, acts, valid, starts, offset = [], [], [], [], 0
        w = self.window
        for o, a in self._animal_sequences(splits):
            v = np.isfinite(a).all(1)
            obs.append(torch.from_numpy(o))
            acts.append(torch.from_numpy(np.where(v[:, None], a, 0.0).astype(np.float32)))
            valid.append(torch.from_numpy(v))
            if len(o) >= w:
                n_valid = np.convolve(v.astype(np.int64), np.ones(w, np.int64), mode="valid")
                starts.append(np.flatnonzero(n_valid > 0) + offset)
            offset += len(o)
        starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        if not len(starts):
            if stage == "train":
                raise ConfigError(
                    "model.window", f"no animal's trial holds window={w} frames with a valid action; lower the window"
                )
            return None
        return BeTStream(
            torch.cat(obs),
            torch.cat(acts),
            torch.cat(valid),
            starts.astype(np.int64),
            w,
            int(self.config.batch_size),
            seed,
            train=stage == "train",
            rank=rank,
            world_size=world_size,
        )

    # ------------------------------------------------------------------ model
    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits (B, L, K), offsets (B, L, K, A), hidden (B, L, n_embd))`` of observations."""
        hidden = self.trunk(obs)
        return (*self.heads(hidden), hidden)

    def heads(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.project(hidden))
        k = self.n_clusters
        return out[..., :k], out[..., k:].unflatten(-1, (k, self.act_dim))

    def loss(self, batch: dict, stage: str = "train"):
        if not bool(self.tokenizer.fitted):
            raise RuntimeError("the BeT tokenizer is not fitted: call fit_data(train_splits) before training")
        logits, offsets, _ = self(batch["obs"])
        mask = batch["valid"]
        bins, residual = self.tokenizer.encode(batch["actions"])
        focal = focal_loss(logits, bins, float(self.config.focal_gamma), mask)
        offset = offset_loss(offsets, bins, residual, mask)
        total = focal + float(self.config.offset_loss_weight) * offset
        return total, {"loss": total.detach(), "focal": focal.detach(), "offset": offset.detach()}

    def configure_optimizers(self, total_steps: int | None = None):
        """AdamW (by default) with weight decay on the Linear weights only, the gradient norm
        clipped to ``grad_clip`` before every step."""
        from behavenet.models.optim import make_optimizer, make_scheduler

        decay, rest = [], []
        for module in self.modules():
            for name, p in module.named_parameters(recurse=False):
                (decay if isinstance(module, nn.Linear) and name == "weight" else rest).append(p)
        optimizer = make_optimizer(decay, self.config)
        optimizer.add_param_group({"params": rest, "weight_decay": 0.0})
        clip = float(self.config.grad_clip)
        if clip > 0:
            params = decay + rest

            def _clip(opt, args, kwargs):
                torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)

            optimizer.register_step_pre_hook(_clip)
        return optimizer, make_scheduler(optimizer, self.config, total_steps)

    # ------------------------------------------------------------------ per-frame outputs
    @torch.no_grad()
    def hidden_per_frame(self, obs: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """``(T, n_embd)``: the state at frame ``t`` of one sequence ``obs (T, F)``, from the
        frames ``max(0, t - window + 1)..t`` (causal: shorter histories at the start)."""
        n, w = len(obs), self.window
        if n == 0:
            return obs.new_zeros(0, self.embedding_dim)
        first = self.trunk(obs[None, : min(n, w)])[0]
        if n <= w:
            return first
        out = [first]
        rel = torch.arange(w, device=obs.device)
        step = max(1, int(batch_size or 4096))
        for a in range(w, n, step):
            ends = torch.arange(a, min(n, a + step), device=obs.device)
            out.append(self.trunk(obs[ends[:, None] - w + 1 + rel[None, :]])[:, -1])
        return torch.cat(out)

    @torch.no_grad()
    def embed(self, inputs, session_index: int = 0, batch_size: int | None = None) -> torch.Tensor:
        """``(T, embedding_dim)``; per animal, ``inputs`` are the keypoints ``(T, animals,
        keypoints, 2)`` (or ``{"pose": keypoints}``), not the data module's pose features."""
        inputs = self.as_inputs(inputs)
        if self.per_animal:
            kp = inputs[self.config.action_input]
            return torch.from_numpy(self.embed_keypoints(kp, batch_size)).to(self.device)
        was = self.training
        self.eval()
        try:
            return self.hidden_per_frame(self.features(inputs).to(self.device), batch_size)
        finally:
            self.train(was)

    def write_figures(self, splits, directory) -> list:
        """``rollouts.png``: generated trajectories over the real ones (see :mod:`.figures`)."""
        if self.per_animal:
            from behavenet.models.bet.figures import write_pose_figures

            return write_pose_figures(self, splits, directory)
        from behavenet.models.bet.figures import write_figures

        return write_figures(self, splits, directory)

    @torch.no_grad()
    def sample_from(
        self, hidden: torch.Tensor, n_samples: int = 1, temperature: float | None = None, generator=None
    ) -> torch.Tensor:
        """Actions ``(n_samples, *hidden.shape[:-1], A)`` sampled from hidden states: a bin from
        ``softmax(logits / temperature)``, plus that bin's offset."""
        logits, offsets = self.heads(hidden)
        temp = float(self.config.temperature if temperature is None else temperature)
        probs = torch.softmax(logits.float() / temp, -1).reshape(-1, self.n_clusters)
        bins = torch.multinomial(probs, int(n_samples), replacement=True, generator=generator).T  # (S, N)
        flat_off = offsets.reshape(-1, self.n_clusters, self.act_dim)
        rows = torch.arange(len(probs), device=hidden.device)[None].expand_as(bins)
        acts = self.tokenizer.centers[bins] + flat_off[rows, bins]
        return acts.reshape(int(n_samples), *hidden.shape[:-1], self.act_dim)
