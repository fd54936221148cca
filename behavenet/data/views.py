"""In-memory views of one split of one session: the contract between data and models.

A :class:`SplitData` holds the frames of one split (train, val or test) of one session, with the
split's trials concatenated one after another. Models never see HDF5 files: the data module reads
the session files, normalises the signals with statistics from the training frames, and hands each
model a list of ``SplitData`` (one per session). The sklearn-style estimators build the same object
directly from arrays.

``segments`` records where the concatenated trials start and stop, so that windows never straddle
two trials (or the gap between them). Every model family samples windows with
:func:`behavenet.data.windows.valid_centers`, which respects the segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

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

    def __post_init__(self):
        if not self.inputs:
            raise ValueError("SplitData needs at least one input modality")
        n = self.n_frames
        for name, arr in self.inputs.items():
            if len(arr) != n:
                raise ValueError(f"input {name!r} has {len(arr)} frames, expected {n}")
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
