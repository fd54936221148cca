"""Seeded synthetic sessions with known ground truth (tests, benchmarks, demos).

Three generators, each returning a :class:`~behavenet.data.format.Session`:

* :func:`place_cells` (a): a smooth 2-D latent drives Gaussian place-field tuning curves and
  Poisson spike counts; the latent is stored as behaviour (``latent.0``, ``latent.1``) so it can be
  used as a label. Same process as the contrastive benchmark's data.
* :func:`multimodal` (b): per trial, three independent RBF Gaussian-process latents: ``shared``
  (drives both modalities), ``neural_only`` and ``image_only``. Spikes are Poisson with
  ``rate = exp(W [shared; neural_only] + b)``; images are a digit from scikit-learn's bundled
  ``load_digits`` (no download), rotated by ``120° * shared`` and zoomed by ``|1 + image_only|``.
* :func:`social` (c): several animals with a 7-keypoint 2-D body in a circular arena, with
  known frame-level behaviours (``approach``: animal 0 pursues animal 1; ``contact``: bodies
  closer than a threshold) and sequence-level conditions (``condition``: control/treated, which
  changes locomotion speed; ``day``: a continuous value), one trial per sequence (MABe-style).

:class:`SyntheticDataModule` generates the file on first use (cached by parameters) and is then a
normal :class:`~behavenet.data.SessionDataModule`. ``scripts/make_synthetic.py`` writes them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from behavenet.data.format import (
    Behavior,
    FrameLabel,
    Pose,
    SequenceLabel,
    Session,
    Spikes,
    Video,
    write_session,
)

# ----------------------------------------------------------------------------- (a) place cells


def smooth_latent(rng: np.random.Generator, n_frames: int, dims: int = 2, sigma: float = 50.0) -> np.ndarray:
    """Gaussian-smoothed white noise rescaled to [-1, 1] per dimension."""
    from scipy.ndimage import gaussian_filter1d

    z = gaussian_filter1d(rng.standard_normal((n_frames, dims)), sigma=sigma, axis=0)
    z = z - z.min(0)
    return (2 * z / z.max(0) - 1).astype(np.float32)


def place_cell_arrays(
    seed: int = 0,
    n_frames: int = 10_000,
    n_neurons: int = 100,
    dt: float = 0.02,
    width: float = 0.3,
    peak_rate: float = 20.0,
    base_rate: float = 0.5,
    sigma: float = 50.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Spikes ``(T, N)`` float32 and latent ``(T, 2)`` float32 (the contrastive benchmark data)."""
    rng = np.random.default_rng(seed)
    z = smooth_latent(rng, n_frames, 2, sigma)
    centres = rng.uniform(-1, 1, size=(n_neurons, 2))
    d2 = ((z[:, None, :] - centres[None]) ** 2).sum(-1)
    rate = base_rate + peak_rate * np.exp(-d2 / (2 * width**2))
    spikes = rng.poisson(rate * dt).astype(np.float32)
    return spikes, z


def place_cells(seed: int = 0, n_frames: int = 10_000, n_neurons: int = 100, dt: float = 0.02, **kwargs) -> Session:
    spikes, z = place_cell_arrays(seed, n_frames, n_neurons, dt, **kwargs)
    return Session(
        session_id=f"synthetic-place-cells-{seed}",
        fps=1.0 / dt,
        spikes=Spikes(counts=spikes.astype(np.uint16), bin_width=dt),
        behavior=Behavior(values=z, names=["latent.0", "latent.1"], units=["a.u.", "a.u."]),
        species="synthetic",
        source_software="behavenet.data.synthetic.place_cells",
        description="smooth 2-D latent -> Gaussian place fields -> Poisson counts",
        attrs={"seed": seed, "generator": "place_cells"},
    )


# ----------------------------------------------------------------------------- (b) multimodal


def rbf_gp_samples(rng: np.random.Generator, n: int, length: int, lengthscale: float, variance: float) -> np.ndarray:
    """``n`` draws of a zero-mean RBF Gaussian process on ``length`` unit-spaced points."""
    t = np.arange(length, dtype=np.float64)
    k = variance * np.exp(-0.5 * (t[:, None] - t[None]) ** 2 / lengthscale**2)
    chol = np.linalg.cholesky(k + 1e-6 * np.eye(length))
    return (chol @ rng.standard_normal((length, n))).T


def _digit_template(digit: int = 3, size: int = 32) -> np.ndarray:
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    d = load_digits()
    img = d.images[np.flatnonzero(d.target == digit)[0]] / 16.0  # 8x8 in [0, 1]
    up = zoom(img, 20 / 8, order=1)  # 20x20
    out = np.zeros((size, size))
    o = (size - up.shape[0]) // 2
    out[o : o + up.shape[0], o : o + up.shape[1]] = up
    return np.clip(out, 0, 1)


def _rotate_zoom(img: np.ndarray, angle_deg: float, zoom_factor: float) -> np.ndarray:
    from scipy.ndimage import affine_transform

    size = img.shape[0]
    c = (size - 1) / 2
    th = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]) / max(zoom_factor, 1e-3)
    offset = c - rot @ np.array([c, c])
    return np.clip(affine_transform(img, rot, offset=offset, order=1, cval=0.0), 0, 1)


def multimodal(
    seed: int = 0,
    n_trials: int = 100,
    trial_length: int = 60,
    n_neurons: int = 100,
    image_size: int = 32,
    lengthscale: float = 10.0,
    digit: int = 3,
    fps: float = 20.0,
) -> Session:
    rng = np.random.default_rng(seed)
    shared = rbf_gp_samples(rng, n_trials, trial_length, lengthscale, 0.3)
    neural = rbf_gp_samples(rng, n_trials, trial_length, lengthscale, 0.5)
    image = rbf_gp_samples(rng, n_trials, trial_length, lengthscale, 0.8)
    w = 1.5 * rng.uniform(-1, 1, size=(n_neurons, 2))
    b = 0.5 * rng.uniform(-1, 1, size=n_neurons)
    latents = np.stack([shared, neural], axis=-1).reshape(-1, 2)  # (T, 2)
    rate = np.exp(latents @ w.T + b)
    spikes = rng.poisson(rate).astype(np.uint16)
    template = _digit_template(digit, image_size)
    angle = 120.0 * shared.reshape(-1)
    zoom = np.abs(1.0 + image.reshape(-1))
    frames = np.stack([_rotate_zoom(template, a, z) for a, z in zip(angle, zoom)])
    frames = np.clip(np.rint(frames * 255), 0, 255).astype(np.uint8)[..., None]
    starts = np.arange(n_trials) * trial_length
    return Session(
        session_id=f"synthetic-multimodal-{seed}",
        fps=fps,
        spikes=Spikes(counts=spikes, bin_width=1.0 / fps),
        video=Video(frames=frames),
        behavior=Behavior(
            values=np.stack([shared.ravel(), neural.ravel(), image.ravel(), angle, zoom], 1),
            names=["shared", "neural_only", "image_only", "angle", "zoom"],
            units=["a.u.", "a.u.", "a.u.", "deg", "x"],
        ),
        trials=np.stack([starts, starts + trial_length], 1),
        species="synthetic",
        source_software="behavenet.data.synthetic.multimodal",
        description="GP latents (shared, neural-only, image-only) -> Poisson spikes + rotated/zoomed digit",
        attrs={"seed": seed, "generator": "multimodal", "lengthscale": lengthscale},
    )


# ----------------------------------------------------------------------------- (c) social

SOCIAL_KEYPOINTS = ["nose", "left_ear", "right_ear", "neck", "left_hip", "right_hip", "tail_base"]
_BODY = np.array([[2.0, 0.0], [1.3, 0.5], [1.3, -0.5], [1.0, 0.0], [-0.8, 0.6], [-0.8, -0.6], [-1.8, 0.0]])


def social(
    seed: int = 0,
    n_sequences: int = 40,
    sequence_length: int = 300,
    n_animals: int = 3,
    fps: float = 30.0,
    arena_radius: float = 30.0,
    contact_distance: float = 5.0,
    noise: float = 0.1,
) -> Session:
    rng = np.random.default_rng(seed)
    t_total = n_sequences * sequence_length
    kp = np.zeros((t_total, n_animals, len(_BODY), 2), dtype=np.float32)
    approach = np.zeros(t_total, dtype=np.int32)
    contact = np.zeros(t_total, dtype=np.int32)
    condition = rng.integers(0, 2, size=n_sequences)
    day = rng.uniform(0, 1, size=n_sequences).astype(np.float32)
    for s in range(n_sequences):
        speed = 0.45 if condition[s] == 0 else 0.9  # treated animals move faster
        pos = rng.uniform(-0.6, 0.6, size=(n_animals, 2)) * arena_radius
        vel = rng.normal(0, speed, size=(n_animals, 2))
        chasing = False
        for t in range(sequence_length):
            g = s * sequence_length + t
            if chasing and rng.random() < 1 / 40:
                chasing = False
            elif not chasing and rng.random() < 1 / 90:
                chasing = True
            vel = 0.9 * vel + rng.normal(0, 0.3 * speed, size=vel.shape)
            if chasing and n_animals > 1:
                to = pos[1] - pos[0]
                dist = np.linalg.norm(to) + 1e-6
                vel[0] = 0.6 * vel[0] + 0.4 * (2.5 * speed) * to / dist
            pos = pos + vel
            r = np.linalg.norm(pos, axis=1, keepdims=True)
            out = r[:, 0] > arena_radius
            if out.any():  # reflect at the wall
                normal = pos[out] / r[out]
                vel[out] -= 2 * (vel[out] * normal).sum(1, keepdims=True) * normal
                pos[out] = normal * arena_radius
            heading = np.arctan2(vel[:, 1], vel[:, 0])
            c, si = np.cos(heading), np.sin(heading)
            rot = np.stack([np.stack([c, -si], -1), np.stack([si, c], -1)], -2)  # (A, 2, 2)
            kp[g] = (
                pos[:, None, :]
                + np.einsum("aij,kj->aki", rot, _BODY)
                + rng.normal(0, noise, (n_animals, len(_BODY), 2))
            )
            if n_animals > 1:
                d01 = np.linalg.norm(pos[0] - pos[1])
                approach[g] = int(chasing)
                contact[g] = int(d01 < contact_distance)
    starts = np.arange(n_sequences) * sequence_length
    return Session(
        session_id=f"synthetic-social-{seed}",
        fps=fps,
        pose=Pose(
            keypoints=kp,
            keypoint_names=SOCIAL_KEYPOINTS,
            animal_names=[f"animal{i}" for i in range(n_animals)],
            units="cm",
            skeleton=[
                ("nose", "neck"),
                ("neck", "tail_base"),
                ("left_ear", "neck"),
                ("right_ear", "neck"),
                ("left_hip", "tail_base"),
                ("right_hip", "tail_base"),
            ],
        ),
        frame_labels={
            "approach": FrameLabel(approach, ["absent", "present"]),
            "contact": FrameLabel(contact, ["absent", "present"]),
        },
        sequence_labels={
            "condition": SequenceLabel(condition.astype(np.int32), "discrete", ["control", "treated"]),
            "day": SequenceLabel(day, "continuous"),
        },
        trials=np.stack([starts, starts + sequence_length], 1),
        trial_names=[f"seq{s:04d}" for s in range(n_sequences)],
        species="synthetic",
        source_software="behavenet.data.synthetic.social",
        description="multi-animal 2-D pose with known behaviours (approach, contact) and conditions",
        attrs={"seed": seed, "generator": "social"},
    )


GENERATORS = {"place_cells": place_cells, "multimodal": multimodal, "social": social}


def generate(kind: str, path: str | Path, overwrite: bool = False, **params) -> Path:
    """Write a synthetic session of ``kind`` to ``path``."""
    if kind not in GENERATORS:
        from behavenet.errors import ConfigError

        raise ConfigError("data.kind", f"unknown synthetic generator {kind!r}; known: {sorted(GENERATORS)}")
    return write_session(GENERATORS[kind](**params), path, overwrite=overwrite)


def cached_path(cache_dir: str | Path, kind: str, params: dict) -> Path:
    key = hashlib.sha1(json.dumps({"kind": kind, **params}, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return Path(cache_dir) / f"{kind}-{key}.h5"


def _make_datamodule_class():
    from behavenet.data.datamodules import SessionDataModule

    class SyntheticDataModule(SessionDataModule):
        """A :class:`SessionDataModule` over a synthetic session generated on first use.

        ``kind`` picks the generator (place_cells, multimodal, social), ``generator`` its keyword
        arguments; the file is cached in ``cache_dir`` under a name derived from both.
        """

        def __init__(
            self,
            kind: str,
            generator: dict | None = None,
            cache_dir: str = "outputs/cache/synthetic",
            files=None,
            **kwargs,
        ):
            params = dict(generator or {})
            path = cached_path(cache_dir, kind, params)
            self.kind, self.generator_params = kind, params
            super().__init__(files=[str(path)], **kwargs)

        def prepare_data(self) -> None:
            path = Path(self.files[0])
            if not path.exists():
                generate(self.kind, path, **self.generator_params)

    return SyntheticDataModule


SyntheticDataModule = _make_datamodule_class()
