"""Train/val/test splits by trial, with gap trials so neighbouring windows do not leak.

Trials are dealt out in repeating blocks, as in the original BehaveNet: with ``"8;1;1;1"`` the
sequence is 8 train trials, 1 gap, 1 val trial, 1 gap, 1 test trial, 1 gap, then again. A gap trial
is used by no split, so a window at the end of a training trial never overlaps a validation trial.
Recordings without trials (one long trial) are first cut into pseudo-trials of ``trial_length``
frames with :func:`chunk_trials`. A recording with too few trials for one block (no val or test
trial) can instead be cut into one train, one val and one test block by time, with gaps between
them (:func:`time_blocks`; the data modules do this by default).

:class:`SplitData` holds the frames of one split (train, val or test) of one session, with the
split's trials concatenated one after another: the contract between data and models. Models never
see HDF5 files: the data module reads the session files, normalises the signals with statistics
from the training frames, and hands each model a list of ``SplitData`` (one per session). The
sklearn-style estimators build the same object directly from arrays. ``segments`` records where
the concatenated trials start and stop, so that windows never straddle two trials (or the gap
between them): every model family samples windows with :func:`behavenet.data.windows.valid_centers`,
which respects the segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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
            blk = roles[b : b + len(pattern)]
            roles[b : b + len(pattern)] = np.roll(blk, int(rng.integers(len(pattern))))
    return roles


def time_blocks(bounds: np.ndarray, spec="8;1;1;1", gap: int = 1) -> tuple[np.ndarray, np.ndarray] | None:
    """Split the frames of ``bounds`` (the trials, in time order) into one train, one val and one
    test block by time, in the proportions of ``spec``, with ``gap`` unused frames between blocks:
    for recordings too short for trial-wise splits.

    Returns ``(pieces, roles)``: ``[start, stop)`` rows cut at trial and block boundaries, and each
    piece's role (``"train"``, ``"val"``, ``"test"`` or ``"gap"``); ``None`` when the recording is
    too short for held-out blocks of at least ``2 * gap`` frames each.
    """
    n_train, n_val, n_test, _ = parse_split_spec(spec)
    bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    lengths = np.diff(bounds, axis=1).ravel()
    total = int(lengths.sum())
    gap = max(0, int(gap))
    held = [(r, c) for r, c in (("val", n_val), ("test", n_test)) if c > 0]
    if not held:
        return None
    usable = total - gap * len(held)
    weights = n_train + sum(c for _, c in held)
    sizes = {r: int(usable * c // weights) for r, c in held}
    if usable <= 0 or min(sizes.values()) < max(2 * gap, 2):
        return None
    # cumulative frame positions (counting only frames inside trials) of each block
    plan, pos = [], total
    for role, _ in reversed(held):
        plan.append((role, pos - sizes[role], pos))
        pos -= sizes[role]
        plan.append(("gap", pos - gap, pos))
        pos -= gap
    plan.append(("train", 0, pos))
    plan.reverse()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    pieces, roles = [], []
    for role, a, b in plan:
        for (t0, _), s0, n in zip(bounds, starts, lengths):
            lo, hi = max(a, s0), min(b, s0 + n)
            if hi > lo:
                pieces.append((t0 + lo - s0, t0 + hi - s0))
                roles.append(role)
    return np.array(pieces, dtype=np.int64).reshape(-1, 2), np.array(roles, dtype=object)


def split_bounds(bounds: np.ndarray, roles: np.ndarray, split: str) -> np.ndarray:
    """The ``[start, stop)`` rows of the trials assigned to ``split``."""
    bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    return bounds[np.asarray(roles) == split]


LabelKind = Literal["continuous", "discrete"]


@dataclass
class SplitData:
    """Frames of one split of one session.

    Attributes
    ----------
    session_id
        Identifier of the session (unique within a data module).
    session_index
        Position of the session in the data module's list (selects per-session encoders).
    inputs
        ``{modality: array}``; each array has shape ``(T, *feature_shape)``. Neural and pose inputs
        are float32 numpy arrays in memory; video inputs may be lazy frame readers that support
        ``__getitem__`` with an integer index array and ``__len__`` (see
        :class:`behavenet.data.reader.LazyFrames`).
    labels
        ``{name: array}`` aligned with the frames: continuous labels are float32 ``(T, k)``,
        discrete labels are int64 ``(T,)`` with ``-1`` meaning "unlabelled".
    label_kinds
        ``{name: "continuous" | "discrete"}``, set explicitly by configuration, never guessed
        from a dtype.
    segments
        int64 ``(S, 2)`` array of ``[start, stop)`` rows into the concatenated frames, one per trial.
    frame_index
        int64 ``(T,)``: the frame number in the original session of every row.
    trial_index
        int64 ``(T,)``: the trial (sequence) number in the original session of every row.
    fps
        Frames per second of the session time base.
    keypoints
        With a pose input: the keypoints themselves, float32 ``(T, animals, keypoints, dims)`` in
        the file's units, NaN where missing (after the confidence threshold), not normalised; for
        models that build their own pose features (BeT with ``pose_mode: per_animal``). None
        otherwise.
    """

    session_id: str
    inputs: dict[str, Any]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    label_kinds: dict[str, LabelKind] = field(default_factory=dict)
    segments: np.ndarray | None = None
    frame_index: np.ndarray | None = None
    trial_index: np.ndarray | None = None
    session_index: int = 0
    fps: float | None = None
    keypoints: np.ndarray | None = None

    def __post_init__(self):
        if not self.inputs:
            raise ValueError("SplitData needs at least one input modality")
        n = self.n_frames
        for name, arr in self.inputs.items():
            if len(arr) != n:
                raise ValueError(f"input {name!r} has {len(arr)} frames, expected {n}")
        if self.keypoints is not None and len(self.keypoints) != n:
            raise ValueError(f"keypoints have {len(self.keypoints)} frames, expected {n}")
        for name, arr in self.labels.items():
            if len(arr) != n:
                raise ValueError(f"label {name!r} has {len(arr)} frames, expected {n}")
            if name not in self.label_kinds:
                raise ValueError(f"label {name!r} has no kind (continuous or discrete)")
        if self.segments is None:
            self.segments = np.array([[0, n]], dtype=np.int64)
        self.segments = np.asarray(self.segments, dtype=np.int64).reshape(-1, 2)
        if self.frame_index is None:
            self.frame_index = np.arange(n, dtype=np.int64)
        if self.trial_index is None:
            self.trial_index = np.zeros(n, dtype=np.int64)

    @property
    def n_frames(self) -> int:
        return len(next(iter(self.inputs.values())))

    @property
    def input(self):
        """The input array when there is exactly one input modality."""
        if len(self.inputs) != 1:
            raise ValueError(f"SplitData has {len(self.inputs)} inputs; pick one of {list(self.inputs)}")
        return next(iter(self.inputs.values()))

    @property
    def input_name(self) -> str:
        return next(iter(self.inputs))

    def continuous_labels(self, names: list[str] | None = None) -> np.ndarray | None:
        """Concatenate the continuous labels (in ``names`` order) into one ``(T, k)`` array."""
        names = [n for n in (names or self.labels) if self.label_kinds.get(n) == "continuous"]
        if not names:
            return None
        cols = [np.asarray(self.labels[n], dtype=np.float32).reshape(self.n_frames, -1) for n in names]
        return np.concatenate(cols, axis=1)

    def discrete_labels(self, names: list[str] | None = None) -> np.ndarray | None:
        """The single discrete label (``(T,)`` int64), or None; several are combined into one code."""
        names = [n for n in (names or self.labels) if self.label_kinds.get(n) == "discrete"]
        if not names:
            return None
        if len(names) == 1:
            return np.asarray(self.labels[names[0]], dtype=np.int64)
        stacked = np.stack([np.asarray(self.labels[n], dtype=np.int64) for n in names], axis=1)
        _, codes = np.unique(stacked, axis=0, return_inverse=True)
        codes = codes.reshape(-1).astype(np.int64)
        codes[(stacked < 0).any(axis=1)] = -1
        return codes


def input_shape(split: SplitData, modality: str | None = None) -> tuple[int, ...]:
    """Per-frame feature shape of an input (e.g. ``(n_neurons,)`` or ``(C, H, W)``)."""
    arr = split.inputs[modality] if modality else split.input
    shape = getattr(arr, "frame_shape", None)
    if shape is not None:
        return tuple(shape)
    return tuple(np.asarray(arr[0:1]).shape[1:])
