"""WindowDataset's whole-batch path (``__getitems__``) gives exactly what item-by-item reading
and torch's default collate give."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from behavenet.data.datasets import WindowDataset
from behavenet.data.loaders import make_loader
from behavenet.data.splits import SplitData


def _split(si, n=300, seed=0):
    rng = np.random.default_rng(seed)
    return SplitData(
        session_id=f"s{si}",
        session_index=si,
        inputs={
            "pose": rng.normal(size=(n, 6)).astype(np.float32),
            "video": rng.integers(0, 255, (n, 4, 5, 1), np.uint8),
        },
        labels={"x": rng.normal(size=n).astype(np.float32), "c": rng.integers(0, 3, n)},
        label_kinds={"x": "continuous", "c": "discrete"},
        segments=np.array([[0, 120], [130, n]]),
        frame_index=np.arange(n),
        trial_index=np.zeros(n, np.int64),
        fps=30.0,
    )


@pytest.mark.parametrize("label_window", [False, True])
def test_batched_equals_item_by_item(label_window):
    ds = WindowDataset([_split(0), _split(1, seed=1)], left=3, right=4, label_window=label_window)
    idx = list(range(0, 200, 7))  # one session
    fast = WindowDataset.collate(ds.__getitems__(idx))
    slow = default_collate([ds[i] for i in idx])
    assert fast.keys() == slow.keys()
    for key in ("inputs", "labels"):
        assert fast[key].keys() == slow[key].keys()
        for name in fast[key]:
            assert fast[key][name].dtype == slow[key][name].dtype
            assert torch.equal(fast[key][name], slow[key][name]), name
    assert torch.equal(fast["session"], slow["session"]) and torch.equal(fast["t"], slow["t"])
    # a batch mixing sessions falls back to items
    mixed = ds.__getitems__([0, len(ds) - 1])
    assert isinstance(mixed, list) and len(mixed) == 2


def test_loader_serves_whole_batches():
    ds = WindowDataset([_split(0)], left=2, right=3, inputs=["pose"])
    batches = list(make_loader(ds, 64, "train", seed=0))
    assert sum(len(b["t"]) for b in batches) == len(ds)
    b = batches[0]
    t = b["t"].numpy()
    want = np.stack([ds.splits[0].inputs["pose"][c - 2 : c + 3] for c in t])
    assert torch.equal(b["inputs"]["pose"], torch.from_numpy(want))
