"""Rollouts of a trained Behavior Transformer, and their figure in a run directory.

A rollout starts from the real first ``window`` frames of a held-out trial and then generates the
action input frame by frame: each step samples an action from the model given the last ``window``
observations, and adds it to the generated trajectory (``action_mode: displacement``; with
``value`` the action is the next value). When the action input is also observed (the default for
displacements), the generated values replace the real ones in the observations, so the model
continues from its own behaviour (closed loop). Other observed inputs (e.g. spikes) stay real.

Pose per animal (:func:`rollout_pose`, shared by the estimator's ``rollout_pose`` and a
``pose_mode: per_animal`` run): every step samples each animal's action from its last ``window``
generated poses and applies it (:func:`.pose.apply_actions`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["rollout", "write_figures", "rollout_pose", "draw_pose_rollouts", "write_pose_figures"]


@torch.no_grad()
def rollout(core, inputs: dict, n_samples: int = 5, horizon: int | None = None, seed: int = 0) -> dict:
    """Roll ``core`` out on one trial ``inputs = {name: (T, *F)}``.

    Returns ``{"real": (H, A), "samples": (n_samples, H, A), "start": window - 1,
    "closed_loop": bool}``: the real action input and ``n_samples`` generated trajectories over
    the first ``H = min(T, horizon)`` frames, equal to the real values up to frame ``start``.
    """
    name, w = core.config.action_input, core.window
    real = np.asarray(inputs[name], dtype=np.float32)
    real = real.reshape(len(real), -1)
    h = len(real) if horizon is None else min(len(real), int(horizon))
    obs = core.features({k: inputs[k][:h] for k in core.input_names}).to(core.device)
    cols = None
    if name in core.input_names:
        first = sum(core.sizes[n] for n in core.input_names[: core.input_names.index(name)])
        cols = slice(first, first + core.act_dim)
    obs = obs[None].repeat(int(n_samples), 1, 1)
    traj = torch.from_numpy(np.nan_to_num(real[:h])).to(core.device)[None].repeat(int(n_samples), 1, 1)
    generator = torch.Generator(device=core.device).manual_seed(int(seed))
    was = core.training
    core.eval()
    try:
        for t in range(w - 1, h - 1):
            hidden = core.trunk(obs[:, t - w + 1 : t + 1])[:, -1]
            action = core.sample_from(hidden, 1, generator=generator)[0]  # (S, A)
            step = traj[:, t] + action if core.config.action_mode == "displacement" else action
            traj[:, t + 1] = step
            if cols is not None:
                obs[:, t + 1, cols] = step
    finally:
        core.train(was)
    return {
        "real": real[:h],
        "samples": traj.float().cpu().numpy(),
        "start": w - 1,
        "closed_loop": cols is not None,
    }


def write_figures(core, splits, directory, n_trials: int = 3, n_samples: int = 5, horizon: int = 200) -> list[Path]:
    """``rollouts.png``: generated trajectories over the real ones on up to ``n_trials`` held-out
    trials (the two action features that vary most); returns the files written."""
    from behavenet.plot import new_axes, save

    trials = [(s, int(a), int(b)) for s in splits for a, b in s.segments if b - a > core.window][:n_trials]
    if not trials:
        return []
    dims = None
    axes = None
    for i, (split, a, b) in enumerate(trials):
        res = rollout(
            core,
            {n: split.inputs[n][a:b] for n in {*core.input_names, core.config.action_input}},
            n_samples,
            horizon,
            seed=i,
        )
        if dims is None:
            var = np.nan_to_num(np.nanvar(res["real"], axis=0), nan=-1.0)
            dims = np.argsort(var)[::-1][: min(2, res["real"].shape[1])]
            axes = new_axes(ncols=len(trials), nrows=len(dims), size=(4.2, 2.4))
            axes = np.asarray(axes if isinstance(axes, list) else [axes]).reshape(len(dims), len(trials))
        t = np.arange(len(res["real"]))
        for r, k in enumerate(dims):
            ax = axes[r, i]
            for s, traj in enumerate(res["samples"]):
                ax.plot(t[res["start"] :], traj[res["start"] :, k], lw=0.9, color=f"C{s % 10}", alpha=0.8)
            ax.plot(t, res["real"][:, k], color="k", lw=1.4, label="real")
            ax.axvline(res["start"], color="0.6", lw=0.8, ls=":")
            ax.set_title(
                f"{split.session_id} trial {int(split.trial_index[a])}: {core.config.action_input}[{k}]", fontsize=8
            )
            ax.set_xlabel("frame")
        if i == 0:
            axes[0, 0].legend(fontsize=7)
    loop = "closed loop" if res["closed_loop"] else "actions integrated; observations real"
    axes[0, 0].figure.suptitle(f"BeT rollouts: {n_samples} samples ({loop}) over the real trajectory", fontsize=9)
    return [save(axes[0, 0].figure, Path(directory) / "rollouts.png", dpi=90)]


@torch.no_grad()
def rollout_pose(
    core,
    pose: np.ndarray,
    start: int,
    n_steps: int,
    n_samples: int,
    heading,
    scale: float,
    temperature=None,
    generator=None,
) -> np.ndarray:
    """Poses generated by a per-animal ``core`` from the window of ``pose (T, A, K, 2)`` ending at
    frame ``start``: ``(n_samples, n_steps + 1, A, K, 2)``, index 0 being ``pose[start]``."""
    from behavenet.models.bet import pose as pose_ops

    w = core.window
    hist = np.repeat(np.asarray(pose[max(0, start - w + 1) : start + 1], np.float64)[None], int(n_samples), 0)
    first = hist.shape[1] - 1
    was = core.training
    core.eval()
    try:
        for _ in range(int(n_steps)):
            obs = np.stack([pose_ops.pose_observations(h, heading, scale) for h in hist[:, -w:]])  # (S, L, A, F)
            s, length, a, f = obs.shape
            x = torch.from_numpy(obs.transpose(0, 2, 1, 3).reshape(s * a, length, f)).to(core.device)
            act = core.sample_from(core.trunk(x)[:, -1], 1, temperature, generator)[0].cpu().numpy().reshape(s, a, -1)
            nxt = pose_ops.apply_actions(hist[:, -1], act, heading, scale)
            hist = np.concatenate([hist, nxt[:, None]], 1)
    finally:
        core.train(was)
    return hist[:, first:].astype(np.float32)


def draw_pose_rollouts(ax, real: np.ndarray, future: np.ndarray, title: str) -> None:
    """Each animal's generated centroid trajectories ``future (S, H, A, K, 2)`` over the real ones
    ``real (H, A, K, 2)`` (image coordinates: y down)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN animals
        for a in range(real.shape[1]):
            colour = f"C{a % 10}"
            for s in range(len(future)):
                c = np.nanmean(future[s, :, a], axis=1)
                ax.plot(c[:, 0], c[:, 1], color=colour, alpha=0.35, lw=1, label="generated" if s == a == 0 else None)
            c = np.nanmean(real[:, a], axis=1)
            ax.plot(c[:, 0], c[:, 1], color=colour, lw=2.5, label=f"real, animal {a}")
            ax.plot(c[:1, 0], c[:1, 1], "o", color=colour)
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=8)


def write_pose_figures(core, splits, directory, n_trials: int = 3, n_samples: int = 5, horizon: int = 60) -> list[Path]:
    """``rollouts.png`` of a per-animal core: on up to ``n_trials`` held-out trials, ``n_samples``
    pose rollouts of ``horizon`` steps from the real first ``window`` frames; returns the files."""
    from behavenet.plot import new_axes, save

    w = core.window
    trials = [(s, int(a), int(b)) for s in splits for a, b in s.segments if b - a > w][:n_trials]
    if not trials:
        return []
    axes = new_axes(ncols=len(trials), size=(4.2, 4.2))
    axes = axes if isinstance(axes, list) else [axes]
    scale = float(core.pose_scale)
    for i, (split, a, b) in enumerate(trials):
        kp = core.split_keypoints(split)[a:b]
        steps = min(int(horizon), len(kp) - w)
        gen = torch.Generator(device=core.device).manual_seed(i)
        future = rollout_pose(core, kp, w - 1, steps, n_samples, core.heading, scale, generator=gen)
        title = f"{split.session_id} trial {int(split.trial_index[a])}: {steps} steps from frame {w - 1}"
        draw_pose_rollouts(axes[i], kp[w - 1 : w + steps], future, title)
    axes[0].figure.suptitle(f"BeT per animal: {n_samples} rollouts (closed loop) over the real poses", fontsize=9)
    return [save(axes[0].figure, Path(directory) / "rollouts.png", dpi=90)]
