"""Window bookkeeping shared by every model family.

A model with receptive field ``(left, right)`` maps the frames ``[t - left, t + right)`` to the
embedding of frame ``t``. :func:`valid_centers` lists the ``t`` whose whole window lies inside one
segment (trial), and :func:`gather_windows` cuts those windows out of a ``(T, ...)`` array.
"""

from __future__ import annotations

import numpy as np
import torch


def valid_centers(segments: np.ndarray, left: int, right: int, offset: int = 0) -> np.ndarray:
    """Frames ``t`` such that ``[t-left, t+right)`` and ``[t+offset-left, t+offset+right)`` both
    fit inside the same segment.

    Parameters
    ----------
    segments
        ``(S, 2)`` ``[start, stop)`` rows.
    left, right
        Receptive field: the window of ``t`` is ``[t-left, t+right)``; ``left + right >= 1``.
    offset
        Extra non-negative shift that must stay inside the segment (e.g. a time-contrastive offset).
    """
    if left < 0 or right < 1:
        raise ValueError(f"invalid receptive field left={left}, right={right}")
    out = []
    for start, stop in np.asarray(segments, dtype=np.int64).reshape(-1, 2):
        lo = start + left
        hi = stop - right + 1 - max(offset, 0)
        if hi > lo:
            out.append(np.arange(lo, hi, dtype=np.int64))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def segment_ids(segments: np.ndarray, n_frames: int) -> np.ndarray:
    """``(T,)`` int64: the segment each frame belongs to (``-1`` outside every segment)."""
    ids = np.full(n_frames, -1, dtype=np.int64)
    for i, (start, stop) in enumerate(np.asarray(segments, dtype=np.int64).reshape(-1, 2)):
        ids[start:stop] = i
    return ids


def gather_windows(data, centers, left: int, right: int):
    """Cut windows ``[t-left, t+right)`` around each centre.

    ``data`` is a numpy array or torch tensor of shape ``(T, *F)``; the result has shape
    ``(B, left + right, *F)`` and the same type. ``centers`` must be valid (see
    :func:`valid_centers`); no padding is done here.
    """
    if isinstance(data, torch.Tensor):
        centers = torch.as_tensor(centers, dtype=torch.long, device=data.device)
        rel = torch.arange(-left, right, device=data.device)
        return data[centers[:, None] + rel[None, :]]
    centers = np.asarray(centers, dtype=np.int64)
    rel = np.arange(-left, right, dtype=np.int64)
    return (
        data[(centers[:, None] + rel[None, :]).reshape(-1)].reshape(len(centers), left + right, *np.shape(data)[1:])
        if not isinstance(data, np.ndarray)
        else data[centers[:, None] + rel[None, :]]
    )


def pad_for_receptive_field(data: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Replicate-pad a ``(T, *F)`` tensor so a model with receptive field ``(left, right)``
    returns ``T`` outputs when run over the whole sequence."""
    if left == 0 and right <= 1:
        return data
    first = data[:1].expand(left, *data.shape[1:])
    last = data[-1:].expand(max(right - 1, 0), *data.shape[1:])
    return torch.cat([first, data, last], dim=0)
