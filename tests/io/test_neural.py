"""suite2p folders, Trodes/MatClust spikes + position, and re-reading behavenet sessions."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from behavenet import io
from behavenet.errors import ConfigError, FormatError


def test_suite2p_cells(data_dir, tmp_path, h):
    folder = data_dir / "pynapple-units-suite2p"
    s = io.load(folder, fps=30)
    F = np.load(folder / "F.npy")
    iscell = np.load(folder / "iscell.npy")
    cells = np.flatnonzero(iscell[:, 0] > 0)
    assert s.calcium.traces.shape == (2000, 20) == (F.shape[1], len(cells))
    np.testing.assert_array_equal(s.calcium.traces, F[cells].T)
    assert s.calcium.unit_names[0] == f"roi{cells[0]}" and s.calcium.kind == "F"
    assert io.load(folder, fps=30, cells_only=False).calcium.traces.shape == (2000, 219)
    assert io.load(folder, fps=30, cell_probability=0.5).calcium.traces.shape[1] == int((iscell[:, 1] >= 0.5).sum())
    with pytest.raises(ConfigError, match="fps"):
        io.load(folder)
    with pytest.raises(FormatError, match="spks.npy"):  # not bundled
        io.load(folder, fps=30, signal="spks")
    # a suite2p tree: suite2p/plane0, plane1 -> cells of both planes
    for p in ("plane0", "plane1"):
        (tmp_path / "suite2p" / p).mkdir(parents=True)
        for name in ("F.npy", "iscell.npy"):
            shutil.copy(folder / name, tmp_path / "suite2p" / p / name)
    both = io.load(tmp_path, source="suite2p", fps=30)
    assert both.calcium.traces.shape == (2000, 40) and both.calcium.unit_names[20].startswith("plane1/roi")


def test_trodes_linear_track(data_dir):
    s = io.load(data_dir / "nelpy-linear-track", bin_width=0.1)
    assert s.spikes.counts.shape == (19826, 31) and s.spikes.counts.sum() == 28829
    assert s.behavior.names == ["x", "y"] and s.fps == 10
    # the (522, 8) "no detection" value covers the rest epoch, (477, 479) the first 26 s: about half
    # the bins have no position
    missing = np.isnan(s.behavior.values[:, 0]).mean()
    assert 0.45 < missing < 0.55
    v = s.behavior.values
    assert not np.any((v[:, 0] == 522) & (v[:, 1] == 8))
    kept = io.load(data_dir / "nelpy-linear-track", bin_width=0.1, invalid_xy=None)
    assert np.isnan(kept.behavior.values[:, 0]).mean() < 0.01
    explicit = io.load(data_dir / "nelpy-linear-track", bin_width=0.1, invalid_xy=[[522, 8], [477, 479]])
    np.testing.assert_array_equal(explicit.behavior.values, s.behavior.values)


def test_behavenet_sessions_can_be_joined(data_dir, tmp_path, h):
    a = io.convert(data_dir / "deepof-dlc-sleap-tables/testDLC_h5_table.h5", tmp_path / "a.h5", fps=25)
    b = io.convert(data_dir / "deepof-dlc-sleap-tables/testDLC_csv_table.csv", tmp_path / "b.h5", fps=25)
    assert io.infer_source(a) == "behavenet"
    out = io.convert([a, b], tmp_path / "ab.h5")
    h.assert_valid(out)
    s = io.load(out)
    assert s.trial_names == ["a", "b"] and s.n_frames == 197 and s.fps == 25
