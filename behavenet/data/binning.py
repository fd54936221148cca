"""Binning of event times and resampling of continuous signals onto a session time base."""

from __future__ import annotations

import numpy as np


def bin_spike_times(
    spike_times: list[np.ndarray], start: float, stop: float, bin_width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Count spikes of each unit in bins of ``bin_width`` seconds over ``[start, stop)``.

    Returns ``(counts, centers)``: uint16/int32 counts ``(n_bins, n_units)`` and bin centres (s).
    """
    if bin_width <= 0:
        raise ValueError(f"bin_width must be positive, got {bin_width}")
    n_bins = int(np.floor((stop - start) / bin_width + 1e-9))
    edges = start + np.arange(n_bins + 1) * bin_width
    counts = np.zeros((n_bins, len(spike_times)), dtype=np.int32)
    for j, t in enumerate(spike_times):
        t = np.asarray(t, dtype=np.float64)
        idx = np.floor((t - start) / bin_width + 1e-12).astype(np.int64)
        idx = idx[(idx >= 0) & (idx < n_bins)]
        counts[:, j] = np.bincount(idx, minlength=n_bins)
    if counts.size and counts.max() < np.iinfo(np.uint16).max:
        counts = counts.astype(np.uint16)
    return counts, edges[:-1] + bin_width / 2


def resample(times: np.ndarray, values: np.ndarray, new_times: np.ndarray, max_gap: float | None = None) -> np.ndarray:
    """Linearly interpolate ``values`` (``(n,)`` or ``(n, k)``) sampled at ``times`` onto
    ``new_times``. Points farther than ``max_gap`` from any sample, or outside the sampled range,
    become NaN."""
    times = np.asarray(times, dtype=np.float64)
    vals = np.asarray(values, dtype=np.float64)
    vals2 = vals.reshape(len(vals), -1)
    out = np.stack(
        [np.interp(new_times, times, vals2[:, j], left=np.nan, right=np.nan) for j in range(vals2.shape[1])], axis=1
    )
    if max_gap is not None and len(times):
        pos = np.clip(np.searchsorted(times, new_times), 1, len(times) - 1)
        gap = np.minimum(np.abs(new_times - times[pos - 1]), np.abs(times[pos] - new_times))
        out[gap > max_gap] = np.nan
    return out.reshape((len(new_times),) + vals.shape[1:])
