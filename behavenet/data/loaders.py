"""Data loaders over a model's datasets, the same for ``train.py`` and the estimators.

:func:`make_loader` turns what a core's ``make_dataset`` returns into a ``DataLoader``:

- a stream that yields whole batches itself (``yields_batches = True``, e.g. the contrastive
  family's sampled index batches): passed through;
- another iterable dataset: batched by ``batch_size``;
- a map-style dataset (windows, whole trials): batches from :class:`~behavenet.data.datasets.
  SessionBatchSampler`, which never mixes sessions (their inputs may differ in size), shuffles
  with the seed for training, and under distributed training gives each rank its share. A
  dataset's own ``collate`` (e.g. padding trials of different lengths) is used when it has one.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

__all__ = ["make_loader", "move_to_device"]


def make_loader(
    dataset,
    batch_size: int,
    stage: str,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    persistent_workers: bool = False,
) -> DataLoader:
    from behavenet.data.datasets import SessionBatchSampler

    common = {"num_workers": int(num_workers), "persistent_workers": bool(persistent_workers and num_workers > 0)}
    if getattr(dataset, "yields_batches", False):
        return DataLoader(dataset, batch_size=None, **common)
    if isinstance(dataset, IterableDataset):
        return DataLoader(dataset, batch_size=int(batch_size), **common)
    session_of = dataset.session_of() if hasattr(dataset, "session_of") else np.zeros(len(dataset), np.int64)
    train = stage == "train"
    sampler = SessionBatchSampler(
        session_of, int(batch_size), shuffle=train, seed=seed, rank=rank, world_size=world_size, even=train
    )
    collate = getattr(dataset, "collate", None)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, **common)


def move_to_device(batch, device):
    """Tensors of a (nested) batch moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch
