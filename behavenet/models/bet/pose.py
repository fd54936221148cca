"""Pose as BeT observations and actions, per animal, in each animal's egocentric frame.

For keypoints ``pose (T, A, K, 2)`` (NaN: missing) and an animal ``i`` at frame ``t``:

* the **frame**: origin ``o_t`` = centroid of the valid keypoints, heading ``theta_t`` = angle of
  the axis from keypoint ``heading[0]`` to keypoint ``heading[1]`` (0 where undefined);
* the **action** is the next-frame displacement of every keypoint, rotated into the frame of
  ``t``: ``a_t = R(-theta_t) (x_{t+1} - x_t)`` (``K * 2`` values; NaN where a keypoint is missing at
  ``t`` or ``t + 1``). :func:`apply_actions` inverts it: ``x_{t+1} = x_t + R(theta_t) a_t``, with
  ``theta_t`` read from ``x_t`` itself, so generated actions roll a pose forward;
* the **observation**: the animal's egocentric keypoints ``R(-theta_t)(x_t - o_t)`` (``K * 2``),
  its own centroid velocity in its frame (2), and, per other animal, that animal's centroid
  relative to it and the cosine and sine of their relative heading in its frame (4 each).
  Missing values are 0.

Coordinates are divided by ``scale`` (the estimator uses one global scale: the root mean square
of the egocentric keypoints of the training data), so sizes are in body lengths.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["frames", "pose_actions", "apply_actions", "pose_observations", "default_heading"]


def default_heading(n_keypoints: int) -> tuple[int, int]:
    """From the last keypoint to the first (skeletons are usually listed head first, tail last)."""
    return (n_keypoints - 1, 0) if n_keypoints > 1 else (0, 0)


def _rotate(v: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate ``v (..., 2)`` by ``angle`` (broadcast over the leading axes)."""
    c, s = np.cos(angle)[..., None], np.sin(angle)[..., None]
    x, y = v[..., :1], v[..., 1:2]
    return np.concatenate([c * x - s * y, s * x + c * y], axis=-1)


def frames(pose: np.ndarray, heading: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(origin (..., A, 2), angle (..., A))`` of keypoints ``(..., A, K, 2)``."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN animals: origin NaN
        origin = np.nanmean(pose, axis=-2)
    axis = pose[..., heading[1], :] - pose[..., heading[0], :]
    angle = np.arctan2(axis[..., 1], axis[..., 0])
    return origin, np.where(np.isfinite(angle), angle, 0.0)


def pose_actions(pose: np.ndarray, heading: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """Egocentric next-frame keypoint displacements ``(T, A, K * 2)``; the last frame is NaN."""
    pose = np.asarray(pose, dtype=np.float64)
    _, angle = frames(pose, heading)
    step = np.full_like(pose, np.nan)
    step[:-1] = pose[1:] - pose[:-1]
    act = _rotate(step, -angle[..., None]) / float(scale)
    return act.reshape(*pose.shape[:2], -1).astype(np.float32)


def apply_actions(pose_t: np.ndarray, actions: np.ndarray, heading: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """The pose after ``actions (..., A, K * 2)`` from ``pose_t (..., A, K, 2)``: the inverse of
    :func:`pose_actions`."""
    pose_t = np.asarray(pose_t, dtype=np.float64)
    _, angle = frames(pose_t, heading)
    step = np.asarray(actions, dtype=np.float64).reshape(pose_t.shape) * float(scale)
    return pose_t + _rotate(step, angle[..., None])


def pose_observations(pose: np.ndarray, heading: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """Per-animal observation features ``(T, A, K * 2 + 2 + 4 * (A - 1))`` (see the module doc)."""
    pose = np.asarray(pose, dtype=np.float64)
    t, a, k, _ = pose.shape
    origin, angle = frames(pose, heading)
    ego = _rotate(pose - origin[:, :, None], -angle[:, :, None]) / scale
    vel = np.zeros_like(origin)
    vel[1:] = origin[1:] - origin[:-1]
    vel = _rotate(vel, -angle) / scale
    parts = [ego.reshape(t, a, k * 2), vel]
    for j in range(1, a):
        other = np.roll(np.arange(a), -j)  # animal i sees animal (i + j) % A
        rel = _rotate(origin[:, other] - origin, -angle) / scale
        dth = angle[:, other] - angle
        parts += [rel, np.cos(dth)[..., None], np.sin(dth)[..., None]]
    out = np.concatenate(parts, axis=-1)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
