"""Write the tiny SYNTHETIC MABe22 example bundled in ``behavenet/resources/mabe22_demo``.

Every file is in an official MABe22 round-1 format (mouse triplets), but the content is made up
(seeded random walks of three 12-keypoint "mice"); it is not MABe data and its scores mean nothing
beyond "the pipeline runs". It lets a user try ``behavenet convert``, ``submit``,
``validate-submission`` and ``mabe-eval`` offline before downloading the real data
(``docs/pretrained.md``, section "Offline MABe walk-through").

Files::

    user_train.npy            {"vocabulary", "keypoint_vocabulary", "sequences": {id: {"keypoints", "annotations"}}}
    submission_keypoints.npy  {"sequences": {id: {"keypoints"}}}   (the clips to embed and submit)
    frame_number_map.npy      {id: (start, end)}                   (rows of each submission clip)
    test_labels.npy           {"label_array", "vocabulary", "task_type", "frame_number_map"}
    split.json                {"UserTrain", "SubmissionTrain", "publicTest", "privateTest"}
    tasks.json                {"seeds", "task_id_list", "sequence_level_tasks"}

Usage::

    python scripts/make_mabe_demo.py [--out behavenet/resources/mabe22_demo]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from behavenet.io.mabe import MOUSE_TRIPLET_KEYPOINTS

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["strain", "lights", "experiment_day", "close", "chases"]
SEQUENCE_TASKS = ["strain", "lights"]  # experiment_day is per sequence too, but scored per frame (MSE)
TYPES = {"experiment_day": "Continious"}  # sic, as in the official files
FRAMES = 60  # per clip (the real clips have 1,800)
KEYPOINTS = MOUSE_TRIPLET_KEYPOINTS  # the official mouse keypoint order, as the importer reads it
# a mouse's body in its own frame (nose along +x), pixels
BODY = np.array(
    [[30, 0], [22, 6], [22, -6], [16, 0], [12, 8], [12, -8], [0, 0], [-12, 8], [-12, -8], [-20, 0], [-32, 0], [-44, 0]],
    dtype=np.float64,
)


def _clip(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One clip: keypoints (FRAMES, 3, 12, 2) float32 and annotations (len(TASKS), FRAMES)."""
    strain = float(rng.random() < 0.5)
    lights = float(rng.random() < 0.5)
    day = float(rng.integers(1, 5))
    scale = 1.25 if strain else 1.0  # the "strain" is visible as body size
    speed = 2.0 + 1.5 * lights  # the "lights" as running speed
    pos = rng.uniform(100, 750, size=(3, 2))
    heading = rng.uniform(0, 2 * np.pi, 3)
    kp = np.zeros((FRAMES, 3, 12, 2))
    for t in range(FRAMES):
        heading += rng.normal(0, 0.15, 3)
        if t and rng.random() < 0.05:  # mouse 0 turns towards mouse 1 now and then
            d = pos[1] - pos[0]
            heading[0] = np.arctan2(d[1], d[0])
        step = speed * (1 + 0.3 * day / 4) * np.stack([np.cos(heading), np.sin(heading)], 1)
        pos = np.clip(pos + step, 60, 790)
        for a in range(3):
            c, s = np.cos(heading[a]), np.sin(heading[a])
            rot = np.array([[c, -s], [s, c]])
            kp[t, a] = pos[a] + (scale * BODY) @ rot.T + rng.normal(0, 0.5, (12, 2))
    dist = np.linalg.norm(kp[:, 0, 6] - kp[:, 1, 6], axis=1)
    close = (dist < 150).astype(np.float32)
    vel = np.r_[0.0, np.linalg.norm(np.diff(kp[:, 0, 6], axis=0), axis=1)]
    chases = ((dist < 250) & (vel > np.percentile(vel, 60))).astype(np.float32)
    ann = np.stack([np.full(FRAMES, strain), np.full(FRAMES, lights), np.full(FRAMES, day), close, chases])
    return kp.astype(np.float32), ann.astype(np.float32)


def _ids(rng: np.random.Generator, n: int) -> list[str]:
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice(alphabet, 20)))
    return sorted(out)


def make(out: Path, seed: int = 0, n_train: int = 12, n_submission: int = 24) -> list[Path]:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    ids = _ids(rng, n_train + n_submission)
    train_ids, sub_ids = ids[:n_train], list(rng.permutation(ids[n_train:]))
    train, sub, labels = {}, {}, []
    for sid in train_ids:
        kp, ann = _clip(rng)
        train[sid] = {"keypoints": kp, "annotations": ann}
    fmap = {}
    for i, sid in enumerate(sub_ids):
        kp, ann = _clip(rng)
        sub[sid] = {"keypoints": kp}
        fmap[str(sid)] = (i * FRAMES, (i + 1) * FRAMES)
        labels.append(ann)
    label_array = np.concatenate(labels, axis=1).astype(np.float32)
    np.save(out / "user_train.npy", {"vocabulary": TASKS, "keypoint_vocabulary": KEYPOINTS, "sequences": train})
    np.save(out / "submission_keypoints.npy", {"sequences": sub})
    np.save(out / "frame_number_map.npy", fmap)
    np.save(
        out / "test_labels.npy",
        {
            "label_array": label_array,
            "vocabulary": TASKS,
            "task_type": [TYPES.get(t, "Discrete") for t in TASKS],
            "frame_number_map": fmap,
        },
    )
    order = [str(s) for s in rng.permutation(sub_ids)]
    split = {
        "UserTrain": list(train_ids),
        "SubmissionTrain": order[:16],
        "publicTest": order[16:20],
        "privateTest": order[20:],
    }
    (out / "split.json").write_text(json.dumps(split, indent=1) + "\n")
    tasks = {"seeds": [42, 43, 44], "task_id_list": TASKS, "sequence_level_tasks": SEQUENCE_TASKS}
    (out / "tasks.json").write_text(json.dumps(tasks, indent=1) + "\n")
    return sorted(out.iterdir())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "behavenet" / "resources" / "mabe22_demo"))
    args = parser.parse_args(argv)
    for p in make(Path(args.out)):
        print(p, p.stat().st_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
