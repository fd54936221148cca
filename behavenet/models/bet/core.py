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
from behavenet.models.bet.config import BeTConfig
from behavenet.models.bet.losses import focal_loss, nearest_bin, offset_loss

__all__ = ["ActionTokenizer", "BeTCore", "BeTStream", "CausalTransformer", "fit_kmeans"]

_ACTION_MODES = ("displacement", "value")


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


class _Block(nn.Module):
    """Pre-LayerNorm block: causal multi-head self-attention, then a 4x GELU MLP."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, float(dropout)
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

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
    """Inverted dropout (as ``F.dropout``), with the mask drawn by ``rand_like``: faster on CPU."""
    if not training or p <= 0:
        return x
    return x * ((torch.rand_like(x) >= p) * (1.0 / (1.0 - p)))


class CausalTransformer(nn.Module):
    """GPT trunk: ``(B, L, obs_dim)`` observations -> ``(B, L, n_embd)`` hidden states; position
    ``l`` attends to positions ``<= l`` only, so the state at ``l`` is the same whatever follows."""

    def __init__(self, obs_dim: int, window: int, n_layer: int, n_head: int, n_embd: int, dropout: float):
        super().__init__()
        self.window = int(window)
        self.embed = nn.Linear(obs_dim, n_embd)
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
        specs = input_specs(self.data_spec)
        known = ", ".join(specs) or "none"
        if c.action_input not in specs:
            raise ConfigError(
                "model.action_input", f"the data offer no input {c.action_input!r} (inputs: {known}); set data.inputs"
            )
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
        self.head = nn.Linear(width, self.n_clusters * (1 + self.act_dim))
        self._stage_data: dict = {}

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
        return int(self.config.n_embd)

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

    def fit_data(self, splits: list[SplitData]) -> None:
        """Fit the k-means tokenizer on every valid training action (seeded from torch's RNG)."""
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
        inputs = self.as_inputs(inputs)
        was = self.training
        self.eval()
        try:
            return self.hidden_per_frame(self.features(inputs).to(self.device), batch_size)
        finally:
            self.train(was)

    def write_figures(self, splits, directory) -> list:
        """``rollouts.png``: generated trajectories over the real ones (see :mod:`.figures`)."""
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
