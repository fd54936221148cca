"""Torch datasets over :class:`~behavenet.data.splits.SplitData`: windows and whole trials.

* :class:`WindowDataset`: every valid window ``[t-left, t+right)`` (stride ``stride``) of every
  session; items are dicts ``{"inputs": {name: window}, "labels", "session", "t"}``.
* :class:`SessionBatchSampler`: batches that never mix sessions (sessions may differ in input size).
* :class:`TrialDataset`: one item per trial, for models that see whole trials (GP-VAEs); its
  ``collate`` (:func:`pad_collate`) batches trials of different lengths with a ``mask``.

Video inputs (uint8 ``(H, W, C)`` frames, read lazily) are returned as float ``(C, H, W)`` in
[0, 1]; everything else as float32.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, default_collate

from behavenet.data.ondisk import RowMap
from behavenet.data.splits import SplitData
from behavenet.data.windows import gather_windows, valid_centers


def frames_to_tensor(block) -> torch.Tensor:
    """uint8 ``(..., H, W, C)`` frames → float ``(..., C, H, W)`` in [0, 1]; other arrays → float32."""
    arr = np.asarray(block)
    if arr.dtype == np.uint8:
        t = torch.from_numpy(np.ascontiguousarray(arr)).float().div_(255.0)
        return t.movedim(-1, -3)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def read_window(data, center: int, left: int, right: int) -> torch.Tensor:
    return frames_to_tensor(data[center - left : center + right])


class WindowDataset(Dataset):
    """Every valid window ``[t - left, t + right)`` (stride ``stride``) of every split (one per
    session); items ``{"inputs": {name: (left + right, *F)}, "labels": {name: value at t},
    "session", "t"}``. ``inputs`` names the inputs to serve (default: all of each split's)."""

    def __init__(
        self,
        splits: list[SplitData],
        left: int = 0,
        right: int = 1,
        stride: int = 1,
        inputs: list[str] | None = None,
        label_window: bool = False,
    ):
        if left < 0 or right < 1:
            raise ValueError(f"invalid window left={left}, right={right}")
        self.splits = splits
        self.left, self.right = int(left), int(right)
        self.inputs = list(inputs) if inputs else None
        self.label_window = label_window
        centers = [valid_centers(s.segments, self.left, self.right)[:: max(1, int(stride))] for s in splits]
        # filled in place: a 10M-frame session has ~7M windows (the index is 16 bytes per window)
        self.index = np.empty((sum(len(c) for c in centers), 2), dtype=np.int64)
        pos = 0
        for si, c in enumerate(centers):
            self.index[pos : pos + len(c), 0] = si
            self.index[pos : pos + len(c), 1] = c
            pos += len(c)
        self.augment_keys = list(self.inputs or (splits[0].inputs if splits else []))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        si, t = (int(v) for v in self.index[i])
        split = self.splits[si]
        names = self.inputs or list(split.inputs)
        labels = {}
        for name, arr in split.labels.items():
            val = arr[t - self.left : t + self.right] if self.label_window else arr[t]
            labels[name] = torch.as_tensor(np.asarray(val))
        return {
            "inputs": {n: read_window(split.inputs[n], t, self.left, self.right) for n in names},
            "labels": labels,
            "session": torch.tensor(split.session_index),
            "t": torch.tensor(t),
        }

    def __getitems__(self, indices) -> list[dict] | _Collated:
        """A whole batch at once (``DataLoader`` calls this with a batch's indices): the windows
        of a one-session batch over in-memory arrays are cut with one fancy index per input,
        the same values :meth:`collate` of the items would give, ~10x faster than item by item
        (also over the on-disk features of large sessions, :class:`~behavenet.data.ondisk.RowMap`)."""
        rows = self.index[np.asarray(indices, dtype=np.int64).reshape(-1)]
        if len(rows) == 0 or (rows[:, 0] != rows[0, 0]).any():
            return [self[int(i)] for i in indices]
        split = self.splits[int(rows[0, 0])]
        names = self.inputs or list(split.inputs)
        arrays = [split.inputs[n] for n in names] + list(split.labels.values())
        if not all(isinstance(a, (np.ndarray, RowMap)) for a in arrays):  # lazily read video: item by item
            return [self[int(i)] for i in indices]
        centers = rows[:, 1]
        labels = {}
        for name, arr in split.labels.items():
            val = gather_windows(arr, centers, self.left, self.right) if self.label_window else arr[centers]
            labels[name] = torch.as_tensor(val)
        return _Collated(
            inputs={
                n: frames_to_tensor(gather_windows(split.inputs[n], centers, self.left, self.right)) for n in names
            },
            labels=labels,
            session=torch.full((len(rows),), int(split.session_index), dtype=torch.long),
            t=torch.from_numpy(np.ascontiguousarray(centers, dtype=np.int64)),
        )

    @staticmethod
    def collate(items) -> dict:
        """A batch from :meth:`__getitems__` as is; a list of items with torch's default collate."""
        if isinstance(items, _Collated):
            return dict(items)
        return default_collate(items)

    def session_of(self) -> np.ndarray:
        return self.index[:, 0]


class _Collated(dict):
    """A batch built whole by :meth:`WindowDataset.__getitems__` (its ``collate`` passes it through)."""


class SessionBatchSampler(Sampler):
    """Shuffled (or sequential) batches whose items all come from one session.

    Under distributed training (``world_size`` > 1) every rank builds the same seeded list of
    batches and takes every ``world_size``-th one, starting at its ``rank``. With ``even=True``
    (training) the list is cut to a multiple of ``world_size`` so that all ranks take the same
    number of steps. A session with fewer items than ``batch_size * world_size`` is cut into
    smaller batches, so that every rank gets one.
    """

    def __init__(
        self,
        session_of: np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        even: bool = False,
    ):
        self.session_of = np.asarray(session_of)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(seed)
        self.epoch = 0
        self.rank = int(rank)
        self.world_size = max(1, int(world_size))
        self.even = bool(even)

    def _batches(self):
        rng = np.random.default_rng(self.seed + self.epoch)
        batches = []
        for s in np.unique(self.session_of):
            idx = np.flatnonzero(self.session_of == s)
            if self.shuffle:
                idx = rng.permutation(idx)
            size = self.batch_size
            if self.world_size > 1 and len(idx) < size * self.world_size:
                # fewer items than one batch per rank (e.g. a few whole trials): smaller batches,
                # so that every rank gets one
                size = max(1, len(idx) // self.world_size)
            for b in range(0, len(idx), size):
                chunk = idx[b : b + size]
                if self.drop_last and len(chunk) < size:
                    continue
                batches.append(chunk)  # a view; made a list as it is served (memory: one index array)
        if self.shuffle:
            order = rng.permutation(len(batches))
            batches = [batches[i] for i in order]
        if self.world_size > 1:
            if self.even:
                batches = batches[: len(batches) - len(batches) % self.world_size]
            batches = batches[self.rank :: self.world_size]
        return batches

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of each epoch (keeps the ranks' shuffles in step)."""
        self.epoch = int(epoch)

    def __iter__(self):
        batches = self._batches()
        self.epoch += 1
        return (b.tolist() for b in batches)

    def __len__(self) -> int:
        return len(self._batches())


class TrialDataset(Dataset):
    """One item per trial (segment) of every split, for models that see whole trials:
    ``{"inputs": {name: (T_trial, *F)}, "labels": {name: (T_trial, ...)}, "session", "trial",
    "length"}``. Trials differ in length: :meth:`collate` (:func:`pad_collate`) pads a batch to
    its longest trial and adds a boolean ``"mask"`` ``(B, T)``; trials longer than
    ``max_length`` are cut into pieces of at most that length."""

    def __init__(
        self,
        splits: list[SplitData],
        inputs: list[str] | None = None,
        min_length: int = 1,
        max_length: int | None = None,
    ):
        self.splits = splits
        self.inputs = list(inputs) if inputs else None
        index = []
        for si, s in enumerate(splits):
            for a, b in s.segments:
                step = int(max_length) if max_length else int(b - a)
                for start in range(int(a), int(b), max(1, step)):
                    stop = min(int(b), start + max(1, step))
                    if stop - start >= min_length:
                        index.append((si, start, stop))
        self.index = index
        self.augment_keys = list(self.inputs or (splits[0].inputs if splits else []))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        si, a, b = self.index[i]
        split = self.splits[si]
        names = self.inputs or list(split.inputs)
        return {
            "inputs": {n: frames_to_tensor(split.inputs[n][a:b]) for n in names},
            "labels": {k: torch.as_tensor(np.asarray(v[a:b])) for k, v in split.labels.items()},
            "session": torch.tensor(split.session_index),
            "trial": torch.tensor(int(split.trial_index[a])),
            "length": torch.tensor(b - a),
        }

    def session_of(self) -> np.ndarray:
        return np.array([si for si, _, _ in self.index], dtype=np.int64)

    @staticmethod
    def collate(items: list[dict]) -> dict:
        return pad_collate(items)


def pad_collate(items: list[dict]) -> dict:
    """Batch trials of different lengths: pad with zeros to the longest and add a boolean
    ``mask`` ``(B, T)`` that is True on real frames."""
    lengths = [int(it["length"]) for it in items]
    t_max = max(lengths)

    def pad(t: torch.Tensor) -> torch.Tensor:
        out = t.new_zeros((t_max,) + tuple(t.shape[1:]))
        out[: t.shape[0]] = t
        return out

    return {
        "inputs": {k: torch.stack([pad(it["inputs"][k]) for it in items]) for k in items[0]["inputs"]},
        "labels": {k: torch.stack([pad(it["labels"][k]) for it in items]) for k in items[0]["labels"]},
        "mask": torch.stack([torch.arange(t_max) < n for n in lengths]),
        "session": torch.stack([it["session"] for it in items]),
        "trial": torch.stack([it["trial"] for it in items]),
        "length": torch.tensor(lengths),
    }
