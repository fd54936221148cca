"""Train/val/test splits by trial, with gap trials so neighbouring windows do not leak.

Trials are dealt out in repeating blocks, as in the original BehaveNet: with ``"8;1;1;1"`` the
sequence is 8 train trials, 1 gap, 1 val trial, 1 gap, 1 test trial, 1 gap, then again. A gap trial
is used by no split, so a window at the end of a training trial never overlaps a validation trial.
Recordings without trials (one long trial) are first cut into pseudo-trials of ``trial_length``
frames with :func:`chunk_trials`.
"""

from __future__ import annotations

import numpy as np

from behavenet.errors import ConfigError

SPLITS = ("train", "val", "test")


def parse_split_spec(spec: str | list | tuple) -> tuple[int, int, int, int]:
    """``"8;1;1;1"`` / ``[8, 1, 1, 1]`` → (train, val, test, gap) trial counts per block."""
    if isinstance(spec, str):
        parts = [p for p in spec.replace(",", ";").split(";") if p.strip()]
    else:
        parts = list(spec)
    try:
        nums = [int(p) for p in parts]
    except (TypeError, ValueError):
        raise ConfigError("data.splits", f"expected 'train;val;test;gap' integers, got {spec!r}") from None
    if len(nums) == 3:
        nums.append(0)
    if len(nums) != 4 or min(nums) < 0 or nums[0] == 0:
        raise ConfigError("data.splits", f"expected 'train;val;test;gap' with train >= 1, got {spec!r}")
    return tuple(nums)  # type: ignore[return-value]


def chunk_trials(bounds: np.ndarray, trial_length: int | None) -> np.ndarray:
    """Cut every trial longer than ``2 * trial_length`` into pieces of ``trial_length`` frames
    (the last piece absorbs the remainder). ``None`` or 0 keeps the trials as they are."""
    bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    if not trial_length:
        return bounds
    out = []
    for start, stop in bounds:
        n = stop - start
        k = max(1, n // trial_length)
        edges = start + np.arange(k + 1) * trial_length
        edges[-1] = stop
        out.extend(zip(edges[:-1], edges[1:]))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def assign_splits(n_trials: int, spec="8;1;1;1", seed: int | None = None) -> np.ndarray:
    """Label each trial ``"train"``, ``"val"``, ``"test"`` or ``"gap"``.

    Blocks are laid out in time order (so gaps separate neighbours). With ``seed`` the order of
    the blocks' roles is shuffled per block (still with gaps between roles).
    """
    n_train, n_val, n_test, n_gap = parse_split_spec(spec)
    pattern: list[str] = []
    for role, count in (("train", n_train), ("val", n_val), ("test", n_test)):
        if count == 0:
            continue
        pattern += [role] * count + ["gap"] * n_gap
    if n_trials < len(pattern) and n_trials >= 1:
        # too few trials for one block: keep the proportions, dropping gaps first
        pattern = [p for p in pattern if p != "gap"] if n_trials < len(pattern) else pattern
    roles = np.array([pattern[i % len(pattern)] for i in range(n_trials)], dtype=object)
    if seed is not None and n_trials > len(pattern):
        rng = np.random.default_rng(seed)
        for b in range(0, n_trials, len(pattern)):
            blk = roles[b:b + len(pattern)]
            roles[b:b + len(pattern)] = np.roll(blk, int(rng.integers(len(pattern))))
    return roles


def split_bounds(bounds: np.ndarray, roles: np.ndarray, split: str) -> np.ndarray:
    """The ``[start, stop)`` rows of the trials assigned to ``split``."""
    bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    return bounds[np.asarray(roles) == split]
