"""Trodes position tracking: every "no detection" value, not only the most frequent (issue 13)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from behavenet import io
from behavenet.errors import ConfigError
from behavenet.io.trodes import camera_resolution, find_sentinels, read_position

from .conftest import DATA

POS = DATA / "nelpy-linear-track/trajectory.videoPositionTracking"


@pytest.fixture(scope="module")
def xy():
    if not POS.exists():
        pytest.skip("data/nelpy-linear-track is not in this checkout")
    rec, _ = read_position(POS)
    return np.stack([rec["xloc"], rec["yloc"]], axis=1).astype(np.float64)


def test_every_edge_sentinel_of_the_real_file_is_found(xy):
    """(522, 8) covers the rest epoch; (477, 479), at the bottom edge of the 640x480 camera, the
    first 1,550 samples before the LED is seen. The most visited real position, (477, 479)'s
    neighbour in frequency (472, 398) (0.8 %, inside the image), is kept."""
    assert camera_resolution(POS) == (640, 480)
    found = [(tuple(int(c) for c in v), round(f, 3)) for v, f in find_sentinels(xy, (640, 480))]
    assert found == [((522, 8), 0.503), ((477, 479), 0.013)]
    # without a header resolution only the borders at 0 are known: (477, 479) is not found
    assert [tuple(int(c) for c in v) for v, _ in find_sentinels(xy)] == [(522, 8)]
    assert np.all(xy[:1550] == [477, 479]) and not np.all(xy[1550] == [477, 479])


def test_trodes_auto_marks_both_sentinels_missing(caplog):
    if not POS.exists():
        pytest.skip("data/nelpy-linear-track is not in this checkout")
    with caplog.at_level(logging.WARNING, logger="behavenet.io.trodes"):
        s = io.load(POS, bin_width=0.1)
    assert [r.getMessage() for r in caplog.records] == [
        f"{POS}: 2 'no detection' value(s) treated as missing: (522, 8) in 50.3% of samples, (477, 479) in "
        "1.3% of samples (values repeated at the image edge or in > 20% of samples; invalid_xy=None keeps "
        "them, invalid_xy=[[x, y], ...] names them)"
    ]
    v = s.behavior.values
    # 1,550 samples at 60 Hz: the first 25.8 s (258 bins of 0.1 s) have no position
    assert np.isnan(v[:258]).all() and np.isfinite(v[258]).all()
    assert not np.any((v[:, 0] == 477) & (v[:, 1] == 479))
    both = io.load(POS, bin_width=0.1, invalid_xy=[[522, 8], [477, 479]])
    np.testing.assert_array_equal(both.behavior.values, v)
    one = io.load(POS, bin_width=0.1, invalid_xy="522,8")
    assert np.isfinite(one.behavior.values[:258]).all()


def test_invalid_xy_must_be_pairs():
    if not POS.exists():
        pytest.skip("data/nelpy-linear-track is not in this checkout")
    with pytest.raises(ConfigError, match=r"invalid_xy: expected 'auto', None, \(x, y\) or a list of \(x, y\)"):
        io.load(POS, invalid_xy=[1, 2, 3])
