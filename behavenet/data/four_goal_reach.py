"""Synthetic multimodal demonstration data: a 2-D point reaching one of four goals.

Every demonstration starts near the origin and moves, at a bounded speed, towards one of four goals
placed on the unit circle (at 45, 135, 225 and 315 degrees), chosen uniformly at random. The goal
is never part of the observation, so at the start state the expert's action distribution has four
equally likely modes; once the point has moved, its velocity and position identify the mode.

Observation (obs_dim = 10):
    [x, y, vx, vy, t / horizon, d1, ..., d5]
    (x, y)   position;  (vx, vy) previous displacement (zero at t = 0);
    t / horizon  normalised time;  d1..d5 i.i.d. N(0, distractor_std^2) nuisance inputs.
Action (act_dim = 2): the displacement to the next position, p_{t+1} - p_t.

Expert: a_t = clip_norm(gain * (g - p_t), max_step) + N(0, action_noise^2 I).
The environment is the same deterministic integrator, p_{t+1} = p_t + a_t, so rollouts of a
learned policy can be scored by which goal they end at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OBS_DIM = 10
ACT_DIM = 2
N_DISTRACTORS = 5


@dataclass
class ReachConfig:
    horizon: int = 30  # steps per episode (reaching takes about 1 / max_step = 20 steps)
    max_step: float = 0.05
    gain: float = 0.5
    action_noise: float = 0.005
    start_noise: float = 0.02
    distractor_std: float = 0.1
    goal_radius: float = 1.0


def goals(cfg: ReachConfig) -> np.ndarray:
    ang = np.deg2rad([45.0, 135.0, 225.0, 315.0])
    return cfg.goal_radius * np.stack([np.cos(ang), np.sin(ang)], axis=1)  # (4, 2)


def clip_norm(v: np.ndarray, max_norm: float) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v * np.minimum(1.0, max_norm / np.maximum(n, 1e-12))


def make_obs(pos, vel, t, cfg: ReachConfig, rng: np.random.Generator) -> np.ndarray:
    """Observation for a batch: pos, vel (B, 2), t int -> (B, 10) float32."""
    b = pos.shape[0]
    tt = np.full((b, 1), t / cfg.horizon)
    dis = rng.normal(0.0, cfg.distractor_std, size=(b, N_DISTRACTORS))
    return np.concatenate([pos, vel, tt, dis], axis=1).astype(np.float32)


def initial_positions(n: int, cfg: ReachConfig, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, cfg.start_noise, size=(n, 2))


def generate(n_episodes: int, cfg: ReachConfig | None = None, seed: int = 0):
    """Return obs (E, H, 10), actions (E, H, 2) float32 and goal ids (E,) int64."""
    cfg = cfg or ReachConfig()
    rng = np.random.default_rng(seed)
    g = goals(cfg)
    gid = rng.integers(0, 4, size=n_episodes)
    pos = initial_positions(n_episodes, cfg, rng)
    vel = np.zeros_like(pos)
    obs = np.zeros((n_episodes, cfg.horizon, OBS_DIM), np.float32)
    act = np.zeros((n_episodes, cfg.horizon, ACT_DIM), np.float32)
    for t in range(cfg.horizon):
        obs[:, t] = make_obs(pos, vel, t, cfg, rng)
        a = clip_norm(cfg.gain * (g[gid] - pos), cfg.max_step)
        a = a + rng.normal(0.0, cfg.action_noise, size=a.shape)
        act[:, t] = a
        pos = pos + a
        vel = a
    return obs, act, gid


def windows(obs: np.ndarray, act: np.ndarray, window: int):
    """All length-``window`` slices of every episode: (E * (H - window + 1), window, D)."""
    e, h, _ = obs.shape
    starts = np.arange(h - window + 1)
    idx = starts[:, None] + np.arange(window)[None, :]  # (S, W)
    ow = obs[:, idx].reshape(-1, window, obs.shape[-1])
    aw = act[:, idx].reshape(-1, window, act.shape[-1])
    return ow, aw


def nearest_goal(points: np.ndarray, cfg: ReachConfig) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to the nearest goal for points (N, 2)."""
    d = np.linalg.norm(points[:, None, :] - goals(cfg)[None], axis=-1)
    return d.argmin(1), d.min(1)


def direction_mode(actions: np.ndarray, cfg: ReachConfig) -> np.ndarray:
    """Goal whose direction (from the origin) is closest in angle to each action (N, 2)."""
    g = goals(cfg)
    cos = (actions @ g.T) / (np.linalg.norm(actions, axis=1, keepdims=True) + 1e-12)
    return cos.argmax(1)
