"""Normalisation and augmentation of signals.

* :class:`ZScore`: per-feature standardisation with statistics from training frames only.
* :func:`egocentric`: centre each animal's keypoints on a reference point and rotate them so its
  body axis points along +x.
* :func:`pose_features`: keypoints ``(T, animals, K, D)`` → features ``(T, F)`` (egocentric
  coordinates of every animal, optionally the allocentric centre and heading, NaN → 0).
* :class:`PoseAugment`: random rotation, reflection and jitter of keypoint windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ZScore:
    """Per-feature z-scoring: ``(x - mean) / std``; constant features keep std 1."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, eps: float = 1e-6) -> ZScore:
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        mean = nanmean(x, axis=0) if len(x) else np.zeros(x.shape[1])
        std = np.sqrt(nanmean((x - mean) ** 2, axis=0)) if len(x) else np.ones(x.shape[1])
        mean = np.nan_to_num(mean)
        std = np.where(np.isfinite(std) & (std > eps), std, 1.0)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        shape = np.shape(x)
        flat = np.asarray(x, dtype=np.float32).reshape(shape[0], -1)
        return ((flat - self.mean) / self.std).reshape(shape).astype(np.float32)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        shape = np.shape(z)
        flat = np.asarray(z, dtype=np.float32).reshape(shape[0], -1)
        return (flat * self.std + self.mean).reshape(shape)

    def state(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


def nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmean`` without its "Mean of empty slice" warning: NaN where every value is missing
    (an animal absent from a frame, a keypoint never tracked)."""
    x = np.asarray(x)
    valid = np.isfinite(x)
    count = valid.sum(axis=axis)
    total = np.where(valid, x, 0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _ref_point(kp: np.ndarray, center, names: list[str] | None) -> np.ndarray:
    """Reference point ``(T, A, D)``: the centroid of valid keypoints or a named keypoint."""
    if center in (None, "centroid"):
        return nanmean(kp, axis=2).astype(kp.dtype, copy=False)
    idx = _kp_index(center, names)
    return kp[:, :, idx]


def _kp_index(name, names):
    if isinstance(name, (int, np.integer)):
        return int(name)
    if names is None or name not in names:
        from behavenet.errors import ConfigError

        raise ConfigError("pose.center/heading", f"unknown keypoint {name!r}; known: {names}")
    return names.index(name)


def egocentric(
    keypoints: np.ndarray,
    center: str | int | None = "centroid",
    heading: tuple | list | None = None,
    keypoint_names: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Egocentric keypoints.

    Parameters
    ----------
    keypoints
        ``(T, A, K, D)`` with NaN for missing keypoints (only x, y are rotated; z is centred).
    center
        ``"centroid"`` (mean of the valid keypoints) or a keypoint name/index.
    heading
        ``(from, to)`` keypoint names/indices defining the body axis (e.g. ``("tail_base",
        "neck")``); the animal is rotated so this axis points along +x. ``None``: no rotation.

    Returns
    -------
    ego, origin, angle
        ``ego`` has the input's shape; ``origin`` ``(T, A, D)``; ``angle`` ``(T, A)`` in radians
        (0 when ``heading`` is None or undefined).
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    origin = _ref_point(kp, center, keypoint_names)
    ego = kp - origin[:, :, None, :]
    angle = np.zeros(kp.shape[:2], dtype=np.float32)
    if heading is not None:
        i, j = (_kp_index(h, keypoint_names) for h in heading)
        axis = kp[:, :, j, :2] - kp[:, :, i, :2]
        angle = np.arctan2(axis[..., 1], axis[..., 0]).astype(np.float32)
        angle = np.where(np.isfinite(angle), angle, 0.0).astype(np.float32)
        c, s = np.cos(-angle)[..., None], np.sin(-angle)[..., None]
        x, y = ego[..., 0].copy(), ego[..., 1].copy()
        ego[..., 0] = c * x - s * y
        ego[..., 1] = s * x + c * y
    return ego, origin, angle


def pairwise_distances(keypoints: np.ndarray, center="centroid", keypoint_names=None) -> np.ndarray:
    """Distances between the reference points of every pair of animals, ``(T, A*(A-1)/2)``
    (pairs in the order (0,1), (0,2), ..., (1,2), ...); NaN where an animal is missing."""
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim == 3:
        kp = kp[:, None]
    ref = _ref_point(kp, center, keypoint_names)[..., :2]
    a = kp.shape[1]
    cols = [np.linalg.norm(ref[:, i] - ref[:, j], axis=-1) for i in range(a) for j in range(i + 1, a)]
    return np.stack(cols, axis=1).astype(np.float32) if cols else np.zeros((len(kp), 0), np.float32)


def pose_features(
    keypoints: np.ndarray,
    egocentric_frame: bool = True,
    center="centroid",
    heading=None,
    keypoint_names=None,
    include_origin: bool = True,
    fill_value: float = 0.0,
    pairwise: bool = False,
) -> np.ndarray:
    """Flatten keypoints ``(T, A, K, D)`` into per-frame features ``(T, F)``.

    With ``egocentric_frame`` each animal's keypoints are expressed in its own frame
    (:func:`egocentric`) and, with ``include_origin``, its allocentric centre and heading
    (cos, sin) are appended, so multi-animal relations are kept. Missing values become
    ``fill_value`` after the transform. Layout per animal: K*D egocentric coordinates, then the
    origin (D values) and heading (2 values). With ``pairwise`` the distances between every pair
    of animals (:func:`pairwise_distances`) are appended after all animals.
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim == 3:
        kp = kp[:, None]
    t, a = kp.shape[:2]
    extra = [pairwise_distances(kp, center, keypoint_names)] if pairwise and a > 1 else []
    if not egocentric_frame:
        out = np.concatenate([kp.reshape(t, -1)] + extra, axis=1)
        return np.nan_to_num(out, nan=fill_value).astype(np.float32)
    ego, origin, angle = egocentric(kp, center=center, heading=heading, keypoint_names=keypoint_names)
    parts = [ego.reshape(t, a, -1)]
    if include_origin:
        parts.append(origin)
        parts.append(np.stack([np.cos(angle), np.sin(angle)], axis=-1))
    feats = np.concatenate([np.concatenate(parts, axis=-1).reshape(t, -1)] + extra, axis=1)
    return np.nan_to_num(feats, nan=fill_value, posinf=fill_value, neginf=fill_value).astype(np.float32)


class PoseAugment:
    """Random rotation (about the origin), reflection (x → -x) and Gaussian jitter of keypoints.

    Works on tensors ``(..., K, D)`` of (egocentric or raw) coordinates; one random transform per
    leading batch element. Seeded through the ``generator`` passed to :meth:`__call__`.
    """

    def __init__(self, rotation: float = 0.0, reflection: float = 0.0, jitter: float = 0.0):
        self.rotation = float(rotation)  # max |angle| in radians; pi = any angle
        self.reflection = float(reflection)  # probability
        self.jitter = float(jitter)  # std of Gaussian noise, in coordinate units

    @property
    def active(self) -> bool:
        return bool(self.rotation or self.reflection or self.jitter)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not self.active:
            return x
        b = x.shape[0]
        out = x.clone()
        xy = out[..., :2]
        view = (b,) + (1,) * (xy.dim() - 2)
        if self.reflection:
            flip = torch.rand(b, generator=generator) < self.reflection
            sign = torch.where(flip, -1.0, 1.0).to(x.dtype).view(view)
            xy[..., 0] = xy[..., 0] * sign
        if self.rotation:
            ang = (torch.rand(b, generator=generator) * 2 - 1) * self.rotation
            c, s = torch.cos(ang).to(x.dtype).view(view), torch.sin(ang).to(x.dtype).view(view)
            x0, y0 = xy[..., 0].clone(), xy[..., 1].clone()
            xy[..., 0] = c * x0 - s * y0
            xy[..., 1] = s * x0 + c * y0
        if self.jitter:
            out = out + torch.randn(out.shape, generator=generator, dtype=out.dtype) * self.jitter
        return out
