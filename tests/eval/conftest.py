"""Synthetic MABe22-format fixtures (seeded) for the evaluation tests.

Files are written in the official formats: the submission and the labels are ``np.save`` of a
dict (``frame_number_map`` values are tuples, ``vocabulary`` a list), split and tasks are JSON.
Nothing here reads ``/work/shared``.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

MOUSE_TASKS = [
    "experiment_day",
    "time_of_day",
    "strain",
    "approaches",
    "chases",
    "close",
    "lights",
]
MOUSE_SEQ = ["experiment_day", "strain", "lights"]
MOUSE_TYPES = {"experiment_day": "Continious", "time_of_day": "Continious"}


@dataclass
class Fixture:
    dir: Path
    submission: Path
    labels: Path
    split: Path
    tasks: Path
    embeddings: np.ndarray
    label_array: np.ndarray
    vocabulary: list
    task_type: list
    frame_map: dict
    split_lists: dict
    task_info: dict


def _ids(rng: np.random.Generator, n: int) -> list[str]:
    alphabet = np.array(list(string.ascii_uppercase + string.digits))
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(alphabet, 12)))
    return sorted(out)


def make_fixture(
    directory: Path,
    *,
    seed: int = 0,
    n_clips: int = 48,
    clip_len: int = 30,
    dim: int = 6,
    species: str = "mouse",
    variable_lengths: bool = False,
    scale: float = 1.0,
) -> Fixture:
    """Write a small data set in the official formats and return its paths and arrays."""
    rng = np.random.default_rng(seed)
    ids = _ids(rng, n_clips)
    order = rng.permutation(n_clips)  # frame-map order differs from the id order
    lengths = rng.integers(clip_len // 2, clip_len * 2, n_clips) if variable_lengths else np.full(n_clips, clip_len)
    fmap: dict = {}
    pos = 0
    for i in order:
        fmap[ids[i]] = (pos, pos + int(lengths[i]))
        pos += int(lengths[i])
    n = pos
    clip_of_row = np.empty(n, dtype=np.int64)
    for k, (s, e) in enumerate(fmap.values()):
        clip_of_row[s:e] = k
    keys = list(fmap)

    if species == "mouse":
        task_ids = list(MOUSE_TASKS)
        vocab = list(MOUSE_TASKS)
        seq_tasks = list(MOUSE_SEQ)
        ttype = [MOUSE_TYPES.get(t, "Discrete") for t in vocab]
    else:
        slots = {"female": [0, 1, 2], "perframe_chase": [0, 1]}
        slot_rows = [f"{b}_singletask_fly_{k}" for b, ks in slots.items() for k in ks]
        task_ids = ["control", "lineA", "control", "aggression"] + slot_rows
        vocab = ["control", "lineA", "control", "aggression"] + slot_rows  # 'control' twice
        seq_tasks = ["control", "lineA", "control", "aggression", "female_singletask_fly_0"]
        ttype = ["Discrete"] * len(vocab)

    label_array = np.full((len(vocab), n), np.nan, dtype=np.float32)
    signal = np.zeros((n, dim))
    for r, name in enumerate(vocab):
        w = rng.normal(size=dim)
        if ttype[r] == "Continious":
            per_clip = rng.random(n_clips).astype(np.float32).round(2)
            y = per_clip[clip_of_row]
            signal += 0.8 * np.outer(y - 0.5, w)
        elif name in seq_tasks or name.startswith("female") or name in ("lights", "strain", "control"):
            per_clip = (rng.random(n_clips) < 0.45).astype(np.float32)
            y = per_clip[clip_of_row]
            signal += 0.6 * np.outer(y - 0.5, w)
        else:  # sparse frame-level behaviour in short bouts
            y = np.zeros(n, dtype=np.float32)
            for start in rng.choice(n - 5, size=max(1, n // 25), replace=False):
                y[start : start + rng.integers(2, 6)] = 1.0
            signal += 1.2 * np.outer(y, w)
        y = y.astype(np.float32)
        # some unlabelled frames: a few whole clips plus scattered frames
        if ttype[r] == "Discrete" and name not in ("strain", "lights"):
            for k in rng.choice(n_clips, size=2, replace=False):
                s, e = fmap[keys[k]]
                y[s:e] = np.nan
            y[rng.random(n) < 0.03] = np.nan
        label_array[r] = y
    if species == "fly":
        # row 2 is a *different* 'control' (the superclass) that the official code never reads
        label_array[2] = 1.0 - label_array[0]
        # per-slot rows of unflagged slots: partly unlabelled clips
        for r, name in enumerate(vocab):
            if "_singletask_fly_" in name and not name.endswith("_0"):
                label_array[r, clip_of_row % 5 == 0] = np.nan
    # a small ``scale`` makes the ridge penalty matter (alphas give different scores)
    emb = (scale * (rng.normal(size=(n, dim)) + signal + 3.0)).astype(np.float32)

    train_ids = list(rng.permutation(keys))
    n_pub = max(4, n_clips // 6)
    n_pri = max(4, n_clips // 6)
    split = {
        "UserTrain": ["USERTRAIN" + str(i) for i in range(3)],
        "SubmissionTrain": train_ids[: n_clips - n_pub - n_pri],
        "publicTest": train_ids[n_clips - n_pub - n_pri : n_clips - n_pri],
        "privateTest": train_ids[n_clips - n_pri :],
    }
    tasks = {"seeds": [42, 43, 44], "task_id_list": task_ids, "sequence_level_tasks": seq_tasks}

    directory.mkdir(parents=True, exist_ok=True)
    sub_p = directory / "submission.npy"
    lab_p = directory / "labels.npy"
    split_p = directory / "split.json"
    tasks_p = directory / "tasks.json"
    np.save(sub_p, {"frame_number_map": dict(fmap), "embeddings": emb}, allow_pickle=True)
    np.save(
        lab_p,
        {"label_array": label_array, "vocabulary": vocab, "task_type": ttype, "frame_number_map": dict(fmap)},
        allow_pickle=True,
    )
    split_p.write_text(json.dumps(split))
    tasks_p.write_text(json.dumps(tasks))
    return Fixture(directory, sub_p, lab_p, split_p, tasks_p, emb, label_array, vocab, ttype, fmap, split, tasks)


@pytest.fixture
def mouse_fixture(tmp_path: Path) -> Fixture:
    return make_fixture(tmp_path / "mouse", seed=0)


@pytest.fixture
def fly_fixture(tmp_path: Path) -> Fixture:
    return make_fixture(tmp_path / "fly", seed=1, species="fly", n_clips=40, clip_len=25, dim=8)


@pytest.fixture
def make_mabe(tmp_path: Path):
    """Factory: ``make_mabe(name, **kwargs)`` writes another fixture under ``tmp_path / name``."""

    def factory(name: str = "fx", **kwargs) -> Fixture:
        return make_fixture(tmp_path / name, **kwargs)

    return factory
