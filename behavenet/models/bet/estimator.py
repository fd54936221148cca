"""``BehaviorTransformer``: the Behavior Transformer on plain arrays.

::

    from behavenet import BehaviorTransformer

    bet = BehaviorTransformer(n_clusters=24, window=10, n_layer=4, n_head=4, n_embd=72,
                              max_iterations=1500, seed=0)
    bet.fit(obs, actions)                    # (sequences, time, obs_dim), (sequences, time, act_dim)
    a = bet.sample(obs, n_samples=10)        # (10, sequences, time, act_dim)
    h = bet.transform(obs)                   # (sequences, time, n_embd) hidden states
    bet.save("bet.pt"); bet = BehaviorTransformer.load("bet.pt")   # k-means centres included

    bet.fit_pose(keypoints)                  # (frames, animals, keypoints, 2), NaN = missing
    z = bet.transform(keypoints)             # (frames, embedding_width)
    future = bet.rollout_pose(keypoints, start=100, n_steps=30, n_samples=5)

Sequences may differ in length (pass lists of ``(time, dim)`` arrays); NaN actions are left out of
the k-means and of the losses. The estimator trains the same
:class:`~behavenet.models.bet.core.BeTCore` as ``python train.py model=bet``, with a plain loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from behavenet.data.splits import SplitData
from behavenet.models.bet import pose as pose_ops
from behavenet.models.estimator import EstimatorInputError, EstimatorOptions, FamilyEstimator

__all__ = ["BehaviorTransformer", "EstimatorInputError"]


@dataclass
class BeTOptions(EstimatorOptions):
    """The estimator's own parameters (besides the family's hyperparameters)."""

    max_epochs: int = 10
    """Training length in passes over the training windows (ignored when max_iterations is set)."""
    max_iterations: int | None = None
    """Training length in optimiser steps (overrides max_epochs)."""


class BehaviorTransformer(FamilyEstimator):
    """Behavior Transformer (BeT): k-means action bins, a causal GPT over the last ``window``
    observations, a focal-loss bin head and an offset head; sampling reproduces multi-modal
    actions. The same seed gives bit-identical results on the CPU."""

    family = "bet"
    Options = BeTOptions
    config_exclude = ("inputs", "action_input", "action_mode", "goal_input", "pose_mode")
    fitted_attributes = (
        "kind_",
        "obs_dim_",
        "act_dim_",
        "goal_dim_",
        "n_iterations_",
        "seed_",
        "num_sessions_",
        "pose_shape_",
        "pose_scale_",
        "heading_",
        "pooling_mean_",
        "pooling_components_",
    )

    # ------------------------------------------------------------------ input handling
    @staticmethod
    def _sequences(x, what: str, allow_nan: bool = False) -> tuple[list[np.ndarray], bool]:
        """``(list of (T_i, D) float32 arrays, given as a list)`` of a 2-D/3-D array or a list."""
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        listed = isinstance(x, (list, tuple))
        if listed:
            if not len(x):
                raise EstimatorInputError(what, "got an empty list of sequences")
            items = [np.asarray(s.detach().cpu().numpy() if isinstance(s, torch.Tensor) else s) for s in x]
        else:
            arr = np.asarray(x)
            if arr.ndim == 2:
                items = [arr]
            elif arr.ndim == 3:
                items = list(arr)
            else:
                raise EstimatorInputError(
                    what,
                    f"expected (sequences, time, dim), (time, dim) or a list of (time, dim), got shape {arr.shape}",
                )
        out = []
        for i, s in enumerate(items):
            label = f"{what}[{i}]" if listed else what
            if s.dtype == object or not (np.issubdtype(s.dtype, np.number) or s.dtype == bool):
                raise EstimatorInputError(label, f"expected a numeric array, got dtype {s.dtype}")
            if s.ndim == 1:
                s = s[:, None]
            if s.ndim != 2:
                raise EstimatorInputError(label, f"expected (time, dim), got shape {s.shape}")
            s = s.astype(np.float32)
            if np.isinf(s).any() or (not allow_nan and np.isnan(s).any()):
                bad = "infinite" if allow_nan else "NaN or infinite"
                raise EstimatorInputError(label, f"contains {bad} values")
            out.append(s)
        dims = {s.shape[1] for s in out}
        if len(dims) != 1:
            raise EstimatorInputError(what, f"sequences differ in dimension: {sorted(dims)}")
        return out, listed or np.asarray(x).ndim == 3

    def _goal_sequences(self, goals, lengths: list[int]) -> list[np.ndarray] | None:
        if goals is None:
            return None
        if isinstance(goals, torch.Tensor):
            goals = goals.detach().cpu().numpy()
        if not isinstance(goals, (list, tuple)):
            g = np.asarray(goals, dtype=np.float32)
            if g.ndim == 1 and len(lengths) == 1:
                g = g[None]
            if g.ndim == 2 and len(g) == len(lengths) and not (len(lengths) == 1 and len(g) == lengths[0]):
                goals = [np.repeat(row[None], n, 0) for row, n in zip(g, lengths)]  # one goal per sequence
        seqs, _ = self._sequences(goals, "goals")
        if len(seqs) != len(lengths):
            raise EstimatorInputError("goals", f"got {len(seqs)} sequences, obs has {len(lengths)}")
        out = []
        for i, (g, n) in enumerate(zip(seqs, lengths)):
            if len(g) == 1 and n > 1:
                g = np.repeat(g, n, 0)
            if len(g) != n:
                raise EstimatorInputError(f"goals[{i}]", f"has {len(g)} frames, obs[{i}] has {n}")
            out.append(g)
        return out

    # ------------------------------------------------------------------ fit
    def fit(self, obs, actions, goals=None):
        """Train on observations ``(sequences, time, obs_dim)`` and the actions taken there
        ``(sequences, time, act_dim)`` (or lists of ``(time, dim)`` arrays of different lengths);
        ``goals``: ``(sequences, goal_dim)`` or ``(sequences, time, goal_dim)`` to condition on."""
        obs_seqs, _ = self._sequences(obs, "obs")
        act_seqs, _ = self._sequences(actions, "actions", allow_nan=True)
        if len(act_seqs) != len(obs_seqs):
            raise EstimatorInputError("actions", f"got {len(act_seqs)} sequences, obs has {len(obs_seqs)}")
        for i, (o, a) in enumerate(zip(obs_seqs, act_seqs)):
            if len(o) != len(a):
                raise EstimatorInputError(f"actions[{i}]", f"has {len(a)} frames, obs[{i}] has {len(o)}")
        goal_seqs = self._goal_sequences(goals, [len(o) for o in obs_seqs])
        self._fit_sequences(obs_seqs, act_seqs, goal_seqs)
        self.kind_ = "obs"
        self.pose_shape_ = self.pose_scale_ = self.heading_ = None
        self.pooling_mean_ = self.pooling_components_ = None
        return self

    def _check_options(self) -> None:
        def integer(name, low, none_ok=False):
            value = getattr(self, name)
            if none_ok and value is None:
                return
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise EstimatorInputError(name, f"expected an integer >= {low}, got {value!r}")

        integer("max_epochs", 1)
        integer("max_iterations", 1, none_ok=True)
        integer("embedding_width", 1)

    def _fit_sequences(self, obs_seqs, act_seqs, goal_seqs) -> None:
        self._check_options()
        bounds = np.cumsum([0] + [len(o) for o in obs_seqs])
        inputs = {"obs": np.concatenate(obs_seqs), "actions": np.concatenate(act_seqs)}
        if goal_seqs is not None:
            inputs["goals"] = np.concatenate(goal_seqs)
        split = SplitData(
            session_id="session0",
            inputs=inputs,
            segments=np.stack([bounds[:-1], bounds[1:]], 1),
            trial_index=np.repeat(np.arange(len(obs_seqs)), [len(o) for o in obs_seqs]),
        )
        spec = {
            "input": "obs",
            "input_shapes": [[inputs["obs"].shape[1]]],
            "inputs": {n: {"shapes": [[a.shape[1]]]} for n, a in inputs.items()},
            "session_ids": ["session0"],
            "labels": {},
            "fps": None,
        }
        seed = self._seed()
        device = self._resolve_device()
        config = self._config(
            inputs=["obs"], action_input="actions", action_mode="value", goal_input="goals" if goal_seqs else None
        )
        core = self._build_core(config, spec, seed)
        n_windows = sum(max(0, len(o) - core.window + 1) for o in obs_seqs)
        if n_windows == 0:
            longest = max(len(o) for o in obs_seqs)
            raise EstimatorInputError(
                "obs", f"no sequence holds window={core.window} frames (the longest has {longest}); lower window"
            )
        steps = (
            int(self.max_iterations)
            if self.max_iterations is not None
            else max(1, math.ceil(n_windows * int(self.max_epochs) / int(config.batch_size)))
        )
        core.to(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the k-means seed and dropout
            history = self._train(core, [split], steps, seed)
        self.model_ = core
        self.obs_dim_ = int(inputs["obs"].shape[1])
        self.act_dim_ = int(inputs["actions"].shape[1])
        self.goal_dim_ = int(inputs["goals"].shape[1]) if goal_seqs is not None else 0
        self.n_iterations_ = steps
        self.seed_ = seed
        self.num_sessions_ = 1
        self.history_ = history.numpy()

    # ------------------------------------------------------------------ per-frame outputs
    def _features(self, obs, goals, what="obs"):
        self._check_fitted()
        if self.kind_ != "obs":
            raise EstimatorInputError(what, "this model was fitted on pose (fit_pose): pass keypoints to transform")
        seqs, batched = self._sequences(obs, what)
        if seqs[0].shape[1] != self.obs_dim_:
            raise EstimatorInputError(
                what, f"has obs_dim {seqs[0].shape[1]}, the model was fitted with {self.obs_dim_}"
            )
        gs = self._goal_sequences(goals, [len(s) for s in seqs])
        if bool(self.goal_dim_) != (gs is not None):
            need = "was fitted with goals: pass goals" if self.goal_dim_ else "was fitted without goals"
            raise EstimatorInputError("goals", f"the model {need}")
        if gs is not None:
            if gs[0].shape[1] != self.goal_dim_:
                raise EstimatorInputError(
                    "goals", f"has dim {gs[0].shape[1]}, the model was fitted with {self.goal_dim_}"
                )
            seqs = [np.concatenate([s, g], 1) for s, g in zip(seqs, gs)]
        return seqs, batched

    def _hidden(self, feats: np.ndarray, batch_size: int | None = None) -> torch.Tensor:
        core = self.model_
        core.eval()
        x = torch.nan_to_num(torch.from_numpy(feats).to(core.device))
        return core.hidden_per_frame(x, batch_size)

    @staticmethod
    def _stack(items: list[np.ndarray], batched: bool, axis: int = 0):
        if not batched:
            return items[0]
        if len({a.shape for a in items}) == 1:
            return np.stack(items, axis=axis)
        return items

    def sample(self, obs, n_samples: int = 1, goals=None, temperature: float | None = None, seed: int | None = None):
        """Actions sampled at every frame from its history of up to ``window`` observations:
        ``(n_samples, sequences, time, act_dim)`` for ``(sequences, time, obs_dim)`` (a list of
        ``(n_samples, time_i, act_dim)`` for sequences of different lengths; ``(n_samples, time,
        act_dim)`` for one ``(time, obs_dim)`` sequence). ``temperature`` defaults to the model's;
        ``seed`` (default: the fit's seed) makes draws reproducible."""
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise EstimatorInputError("n_samples", f"expected an integer >= 1, got {n_samples!r}")
        if temperature is not None and not (isinstance(temperature, (int, float)) and temperature > 0):
            raise EstimatorInputError("temperature", f"expected a number > 0, got {temperature!r}")
        seqs, batched = self._features(obs, goals)
        gen = torch.Generator(device=self.model_.device).manual_seed(int(self.seed_ if seed is None else seed))
        out = []
        with torch.no_grad():
            for s in seqs:
                acts = self.model_.sample_from(self._hidden(s), int(n_samples), temperature, gen)
                out.append(acts.cpu().numpy().astype(np.float32))
        return self._stack(out, batched, axis=1)

    def sample_next(self, history, n_samples: int = 1, goals=None, temperature: float | None = None, generator=None):
        """Actions after the last frame of each history ``(sequences, time, obs_dim)`` (its last
        ``window`` frames are used): ``(n_samples, sequences, act_dim)``, for closed-loop rollouts.
        ``generator``: a ``torch.Generator`` carried across calls (default: seeded with the fit's
        seed at every call)."""
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise EstimatorInputError("n_samples", f"expected an integer >= 1, got {n_samples!r}")
        seqs, _ = self._features(history, goals, "history")
        if len({len(s) for s in seqs}) != 1:
            raise EstimatorInputError("history", "all histories must have the same length")
        core = self.model_
        core.eval()
        gen = generator or torch.Generator(device=core.device).manual_seed(int(self.seed_))
        x = torch.from_numpy(np.stack([s[-core.window :] for s in seqs])).to(core.device)
        with torch.no_grad():
            acts = core.sample_from(core.trunk(x)[:, -1], int(n_samples), temperature, gen)
        return acts.cpu().numpy().astype(np.float32)

    def bin_probabilities(self, obs, goals=None, temperature: float | None = None):
        """Probabilities of the ``n_clusters`` action bins at every frame: ``(sequences, time, K)``."""
        seqs, batched = self._features(obs, goals)
        temp = float(self.model_.config.temperature if temperature is None else temperature)
        out = []
        with torch.no_grad():
            for s in seqs:
                logits, _ = self.model_.heads(self._hidden(s))
                out.append(torch.softmax(logits.float() / temp, -1).cpu().numpy())
        return self._stack(out, batched)

    @property
    def cluster_centers_(self) -> np.ndarray:
        """The k-means action bins ``(n_clusters, act_dim)``."""
        self._check_fitted()
        return self.model_.tokenizer.centers.detach().cpu().numpy().copy()

    def transform(self, X, goals=None, batch_size: int | None = None):
        """Per-frame embeddings: for a model fitted with :meth:`fit`, the trunk's final hidden
        states ``(sequences, time, n_embd)`` (``(time, n_embd)`` for one sequence); for
        :meth:`fit_pose`, keypoints ``(frames, animals, keypoints, 2)`` -> ``(frames, width)``."""
        self._check_fitted()
        if self.kind_ == "pose":
            if goals is not None:
                raise EstimatorInputError("goals", "pose models take no goals")
            return self._transform_pose(X, batch_size)
        seqs, batched = self._features(X, goals, "X")
        with torch.no_grad():
            out = [self._hidden(s, batch_size).cpu().numpy().astype(np.float32) for s in seqs]
        return self._stack(out, batched)

    def fit_transform(self, obs, actions, goals=None):
        return self.fit(obs, actions, goals).transform(obs, goals)

    # ------------------------------------------------------------------ pose
    def _poses(self, pose, what: str = "pose") -> list[np.ndarray]:
        items = list(pose) if isinstance(pose, (list, tuple)) else [pose]
        if not items:
            raise EstimatorInputError(what, "got an empty list of sessions")
        out = []
        for i, p in enumerate(items):
            label = f"{what}[{i}]" if isinstance(pose, (list, tuple)) else what
            p = np.asarray(p.detach().cpu().numpy() if isinstance(p, torch.Tensor) else p)
            if p.dtype == object or not np.issubdtype(p.dtype, np.number):
                raise EstimatorInputError(label, f"expected a numeric array, got dtype {p.dtype}")
            if p.ndim == 3:
                p = p[:, None]
            if p.ndim != 4 or p.shape[-1] != 2:
                raise EstimatorInputError(
                    label,
                    f"expected keypoints (frames, animals, keypoints, 2) or (frames, keypoints, 2), got {p.shape}",
                )
            if np.isinf(p).any():
                raise EstimatorInputError(label, "contains infinite values (NaN marks a missing keypoint)")
            out.append(p.astype(np.float32))
        shapes = {p.shape[1:] for p in out}
        if len(shapes) != 1:
            raise EstimatorInputError(what, f"sessions differ in (animals, keypoints, 2): {sorted(shapes)}")
        return out

    def _heading(self, n_keypoints: int) -> tuple[int, int]:
        h = self.heading
        if h is None:
            return pose_ops.default_heading(n_keypoints)
        h = list(h)
        if len(h) != 2 or not all(isinstance(i, (int, np.integer)) and 0 <= i < n_keypoints for i in h) or h[0] == h[1]:
            raise EstimatorInputError(
                "heading", f"expected two different keypoint indices in 0..{n_keypoints - 1}, got {self.heading!r}"
            )
        return int(h[0]), int(h[1])

    def fit_pose(self, pose):
        """Fit on keypoints ``(frames, animals, keypoints, 2)`` (or a list of sessions; NaN marks a
        missing keypoint): each animal of each session is one sequence of egocentric observations
        and next-frame keypoint displacements (:mod:`behavenet.models.bet.pose`), one shared model."""
        poses = self._poses(pose)
        heading = self._heading(poses[0].shape[2])
        scale = _pose_scale(poses, heading)
        obs_seqs, act_seqs = [], []
        for p in poses:
            o = pose_ops.pose_observations(p, heading, scale)
            a = pose_ops.pose_actions(p, heading, scale)
            for i in range(p.shape[1]):
                obs_seqs.append(o[:, i])
                act_seqs.append(a[:, i])
        self._fit_sequences(obs_seqs, act_seqs, None)
        self.kind_ = "pose"
        self.pose_shape_ = list(poses[0].shape[1:])
        self.pose_scale_ = float(scale)
        self.heading_ = list(heading)
        self.pooling_mean_ = self.pooling_components_ = None
        pca = pose_ops.fit_pooling(np.concatenate([self._pooled(p) for p in poses]), int(self.embedding_width))
        if pca is not None:
            self.pooling_mean_, self.pooling_components_ = (x.tolist() for x in pca)
        return self

    def _pooled(self, p: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """``(T, 2 * n_embd)``: [mean, max - min] over the animals present of their hidden states."""
        heading, scale = tuple(self.heading_), float(self.pose_scale_)
        obs = pose_ops.pose_observations(p, heading, scale)
        with torch.no_grad():
            hidden = np.stack([self._hidden(obs[:, i], batch_size).cpu().numpy() for i in range(p.shape[1])], 1)
        return pose_ops.pool_animals(hidden, pose_ops.animals_present(p))

    def _transform_pose(self, pose, batch_size=None):
        poses = self._poses(pose, "X")
        if list(poses[0].shape[1:]) != list(self.pose_shape_):
            raise EstimatorInputError(
                "X",
                f"has (animals, keypoints, 2) = {list(poses[0].shape[1:])}, the model was fitted with {self.pose_shape_}",
            )
        out = []
        for p in poses:
            z = self._pooled(p, batch_size)
            out.append(pose_ops.project_pooled(z, self.pooling_mean_, self.pooling_components_))
        return out if isinstance(pose, (list, tuple)) else out[0]

    def rollout_pose(
        self, pose, start: int, n_steps: int, n_samples: int = 1, temperature=None, seed: int | None = None
    ):
        """Future poses generated from the window of ``pose (frames, animals, keypoints, 2)``
        ending at frame ``start``: ``(n_samples, n_steps + 1, animals, keypoints, 2)``, index 0
        being ``pose[start]``. Every step samples each animal's action from its last ``window``
        (generated) frames and applies it (:func:`~behavenet.models.bet.pose.apply_actions`)."""
        self._check_fitted()
        if self.kind_ != "pose":
            raise EstimatorInputError("pose", "rollout_pose needs a model fitted with fit_pose")
        (p,) = self._poses(pose)
        if not isinstance(start, (int, np.integer)) or not 0 <= start < len(p):
            raise EstimatorInputError("start", f"expected a frame index in 0..{len(p) - 1}, got {start!r}")
        if not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
            raise EstimatorInputError("n_steps", f"expected an integer >= 1, got {n_steps!r}")
        from behavenet.models.bet.figures import rollout_pose

        gen = torch.Generator(device=self.model_.device).manual_seed(int(self.seed_ if seed is None else seed))
        heading, scale = tuple(self.heading_), float(self.pose_scale_)
        return rollout_pose(self.model_, p, int(start), int(n_steps), int(n_samples), heading, scale, temperature, gen)

    def plot_rollouts(self, pose, start: int, n_steps: int, path, n_samples: int = 5, seed: int | None = None):
        """Plot :meth:`rollout_pose` trajectories (each animal's centroid) over the real ones
        ``pose[start : start + n_steps + 1]`` and save the figure to ``path`` (e.g. a file in a
        run directory); returns the generated poses."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        (p,) = self._poses(pose)
        future = self.rollout_pose(p, start, n_steps, n_samples, seed=seed)
        real = p[start : start + n_steps + 1]
        from behavenet.models.bet.figures import draw_pose_rollouts

        fig, ax = plt.subplots(figsize=(5, 5))
        draw_pose_rollouts(ax, real, future, f"BeT rollouts from frame {start}: {n_steps} steps, {len(future)} samples")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return future

    # ------------------------------------------------------------------ contract
    @classmethod
    def _contract_example(cls, seed: int = 0):
        """A tiny fit for the family contract test: two action modes per observation."""
        rng = np.random.default_rng(seed)
        obs = rng.normal(size=(8, 20, 3)).astype(np.float32)
        actions = (np.sign(rng.normal(size=(8, 20, 1))) * obs[..., :2] + 0.01 * rng.normal(size=(8, 20, 2))).astype(
            np.float32
        )
        params = dict(
            n_clusters=4, window=4, n_layer=1, n_head=2, n_embd=16, batch_size=16, max_iterations=5, seed=seed
        )
        return params, (obs, actions), obs[0]


def _pose_scale(poses: list[np.ndarray], heading) -> float:
    """Root mean square of the egocentric keypoints (the body's size)."""
    scale = pose_ops.pose_scale(poses, heading)
    if scale is None:
        raise EstimatorInputError("pose", "has no valid keypoints")
    return scale
