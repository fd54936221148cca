from __future__ import annotations

import numpy as np
import pytest

from behavenet.data.splits import assign_splits, chunk_trials, parse_split_spec, split_bounds
from behavenet.errors import ConfigError


def test_parse_split_spec():
    assert parse_split_spec("8;1;1;1") == (8, 1, 1, 1)
    assert parse_split_spec([3, 1, 1]) == (3, 1, 1, 0)
    for bad in ("0;1;1;1", "a;b", "1;2;3;4;5", [1, -1, 0, 0]):
        with pytest.raises(ConfigError, match="data.splits"):
            parse_split_spec(bad)


def test_blocks_have_gaps_between_roles():
    roles = assign_splits(22, "8;1;1;1")
    expected_block = ["train"] * 8 + ["gap", "val", "gap", "test", "gap"]
    # the train trials within a role run are not separated; a gap follows every role run
    assert list(roles[:13]) == ["train"] * 8 + ["gap"] + ["val", "gap"] + ["test", "gap"]
    assert len(roles) == 22
    assert set(roles) == {"train", "val", "test", "gap"}
    # no train trial touches a val/test trial
    for i in range(len(roles) - 1):
        pair = {roles[i], roles[i + 1]}
        assert not ({"train", "val"} <= pair or {"train", "test"} <= pair or {"val", "test"} <= pair)
    assert expected_block[:8] == list(roles[:8])


def test_chunk_trials_covers_recording():
    b = chunk_trials(np.array([[0, 1050], [1100, 1200]]), 100)
    assert b[0].tolist() == [0, 100] and b[9].tolist() == [900, 1050]
    assert b[-1].tolist() == [1100, 1200]
    assert sum(int(e - s) for s, e in b) == 1150
    assert chunk_trials(np.array([[0, 10]]), None).tolist() == [[0, 10]]


def test_split_bounds_selects_roles():
    bounds = chunk_trials(np.array([[0, 1300]]), 100)
    roles = assign_splits(len(bounds), "8;1;1;1")
    assert split_bounds(bounds, roles, "val").tolist() == [[900, 1000]]
    assert split_bounds(bounds, roles, "test").tolist() == [[1100, 1200]]


def test_time_blocks_cut_across_trials_with_gaps():
    from behavenet.data.splits import time_blocks

    # three trials of 40 frames with a hole between the second and the third
    pieces, roles = time_blocks(np.array([[0, 40], [40, 80], [100, 140]]), "8;1;1;1", gap=4)
    # 120 frames, 2 gaps of 4: val and test get 112 // 10 = 11 frames each, train the other 90
    assert pieces.tolist() == [[0, 40], [40, 80], [100, 110], [110, 114], [114, 125], [125, 129], [129, 140]]
    assert roles.tolist() == ["train", "train", "train", "gap", "val", "gap", "test"]


def test_time_blocks_too_short_or_nothing_held_out():
    from behavenet.data.splits import time_blocks

    assert time_blocks(np.array([[0, 100]]), "8;1;1;1", gap=10) is None  # val/test blocks < 2 gaps
    assert time_blocks(np.array([[0, 100]]), "8;0;0;1", gap=1) is None
    pieces, roles = time_blocks(np.array([[0, 100]]), "3;1;0;0", gap=2)
    assert pieces.tolist() == [[0, 74], [74, 76], [76, 100]] and roles.tolist() == ["train", "gap", "val"]
