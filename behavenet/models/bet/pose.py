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
  relative to it and the cosine and sine of their relative heading (4 each; 0 where either
  heading is undefined), the others ordered by distance at that frame (nearest first, missing
  animals last), so that the observation does not depend on how the animals are numbered.
  Missing values are 0.

Coordinates are divided by ``scale`` (one global scale, :func:`pose_scale`: the root mean square
of the egocentric keypoints of the training data), so sizes are in body lengths.

Embeddings of a frame pool the animals' hidden states (:func:`pool_animals`): the mean and the
range (max - min) over the animals present, ``2 * H`` values, invariant to the order of the
animals; :func:`fit_pooling` and :func:`project_pooled` reduce them by PCA to at most a set width.
The estimator (``fit_pose``/``transform``) and ``train.py`` (``model.pose_mode=per_animal``) use
these same functions.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = [
    "frames",
    "pose_actions",
    "apply_actions",
    "pose_observations",
    "nearest_others",
    "default_heading",
    "pose_scale",
    "animals_present",
    "pool_animals",
    "fit_pooling",
    "project_pooled",
]


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


def nearest_others(origin: np.ndarray) -> np.ndarray:
    """``(T, A, A - 1)``: for every animal at every frame, the other animals by increasing
    distance between centroids ``origin (T, A, 2)`` (missing ones last; ties by index)."""
    t, a = origin.shape[:2]
    with np.errstate(invalid="ignore"):
        dist = np.linalg.norm(origin[:, None, :, :] - origin[:, :, None, :], axis=-1)  # [t, i, j]
    dist = np.where(np.isfinite(dist), dist, np.inf)
    dist[:, np.arange(a), np.arange(a)] = -1.0  # the animal itself first, then dropped
    return np.argsort(dist, axis=-1, kind="stable")[:, :, 1:]


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
    if a > 1:
        others = nearest_others(origin)  # (T, A, A - 1)
        rows = np.arange(t)[:, None, None]
        rel = _rotate(origin[rows, others] - origin[:, :, None], -angle[:, :, None]) / scale
        axis = pose[:, :, heading[1]] - pose[:, :, heading[0]]
        known = np.where(np.isfinite(axis).all(-1), angle, np.nan)  # heading undefined: NaN -> 0 below
        dth = known[rows, others] - known[:, :, None]
        for j in range(a - 1):
            parts += [rel[:, :, j], np.cos(dth[:, :, j])[..., None], np.sin(dth[:, :, j])[..., None]]
    out = np.concatenate(parts, axis=-1)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def pose_scale(poses: list[np.ndarray], heading: tuple[int, int]) -> float | None:
    """Root mean square of the egocentric keypoints of ``poses`` (each ``(T, A, K, 2)``) times
    sqrt(2): the body's size (None when no keypoint is valid; 1.0 when all coincide)."""
    sq = []
    for p in poses:
        p = np.asarray(p, dtype=np.float64)
        origin, _ = frames(p, heading)
        d = p - origin[:, :, None]
        sq.append(d[np.isfinite(d)] ** 2)
    sq = np.concatenate(sq) if sq else np.zeros(0)
    if not len(sq):
        return None
    rms = float(np.sqrt(sq.mean()) * np.sqrt(2))
    return rms if rms > 0 else 1.0


def animals_present(pose: np.ndarray) -> np.ndarray:
    """``(T, A)`` bool: the animal has at least one valid keypoint at the frame."""
    return np.isfinite(np.asarray(pose)).any(axis=(2, 3))


def pool_animals(hidden: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``(T, 2 * H)``: [mean, max - min] over the animals present of ``hidden (T, A, H)``
    (``present (T, A)``; a frame with no animal present pools all of them)."""
    hidden = np.asarray(hidden, dtype=np.float32)
    m = np.asarray(present, dtype=bool).copy()
    m[~m.any(1)] = True
    m = m[..., None]
    mean = (hidden * m).sum(1) / m.sum(1)
    hi = np.where(m, hidden, -np.inf).max(1)
    lo = np.where(m, hidden, np.inf).min(1)
    return np.concatenate([mean, hi - lo], 1).astype(np.float32)


def fit_pooling(pooled: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(mean (D,), components (width, D))``: the PCA reducing pooled embeddings ``(N, D)`` to
    ``width`` columns, or None when ``D <= width`` (kept as they are)."""
    pooled = np.asarray(pooled, dtype=np.float64)
    if pooled.shape[1] <= int(width):
        return None
    mean = pooled.mean(0)
    _, _, vt = np.linalg.svd(pooled - mean, full_matrices=False)
    comps = vt[: int(width)]
    if len(comps) < int(width):  # fewer frames than width: pad with zero components
        comps = np.concatenate([comps, np.zeros((int(width) - len(comps), pooled.shape[1]))])
    return mean.astype(np.float32), comps.astype(np.float32)


def project_pooled(pooled: np.ndarray, mean, components) -> np.ndarray:
    """Pooled embeddings reduced by :func:`fit_pooling`'s PCA (unchanged when it returned None)."""
    if components is None:
        return np.asarray(pooled, dtype=np.float32)
    return ((pooled - np.asarray(mean, np.float32)) @ np.asarray(components, np.float32).T).astype(np.float32)
