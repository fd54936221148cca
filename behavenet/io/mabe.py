"""MABe challenge files: MABe22 mouse triplets and flies (``.npy``), CalMS21 / MABe 2021 (``.json``, ``.npy``).

Every file becomes **one session with one trial per sequence**, in the file's order, with the
sequence ids as trial names (so frame ``i`` of the session is frame ``i - start`` of its sequence,
the layout MABe's ``frame_number_map`` uses).

MABe22 ``.npy`` (``np.save`` of a dict)::

    {"vocabulary": [task, ...], "keypoint_vocabulary": [...],          # train files only
     "sequences": {seq_id: {"keypoints": (T, animals, K, 2), "annotations": (n_tasks, T)}}}

* mice: (1800, 3, 12, 2) at 30 Hz, pixels; missing keypoints are stored as 0 -> NaN;
* flies: (4500, 11, 24, 2) at 150 Hz, mm; absent flies are NaN padding; animal slots that are NaN
  in the whole file are dropped (``drop_padding``). Note that 5 of the 24 fly "keypoints" are
  FlyTracker features, not coordinates (see ``docs/importers.md``); they are kept as keypoints;
* ``annotations`` rows: a task whose value is constant within every sequence (or a known
  sequence-level task: ``experiment_day``, ``time_of_day``, ``strain``, ``lights``) becomes a
  sequence label (discrete codes when integer-valued, else continuous); other integer tasks become
  frame labels (binary tasks get the vocabulary ``["not_<task>", "<task>"]``), non-integer ones
  behaviour variables. NaN = unlabelled.

CalMS21 ``.json``: ``{annotator_group: {seq: {"keypoints": (T, 2, 2, 7), "scores": (T, 2, 7),
"annotations": [T codes], "metadata": {"annotator-id", "vocab": {name: code}}}}}``; keypoints are
transposed to (T, 2, 7, 2) (resident, intruder; nose, left_ear, right_ear, neck, left_hip,
right_hip, tail), scores -> confidence, annotations -> the frame label ``behavior`` over the union
of the vocabularies, annotator ids -> the sequence label ``annotator``. The AIcrowd MABe 2021
``.npy`` (``{"vocabulary", "sequences": {id: {"keypoints", "annotations", "annotator_id"}}}``) maps
the same way.

The ``.npy`` files are pickles; they are read with a restricted unpickler that builds only plain
containers, strings, numbers and numpy arrays and refuses anything else without running it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from behavenet.data.format import Behavior, FrameLabel, Pose, SequenceLabel, Session
from behavenet.errors import FormatError
from behavenet.io._common import (
    FPS_ASSUMED,
    FPS_DEFAULT,
    FPS_FROM_USER,
    allow_empty_animals,
    check_fps,
    default_session_id,
    read_head,
)
from behavenet.io._registry import register_loader

log = logging.getLogger(__name__)

MOUSE_TRIPLET_KEYPOINTS = [
    "nose",
    "left_ear",
    "right_ear",
    "neck",
    "left_forepaw",
    "right_forepaw",
    "center_back",
    "left_hindpaw",
    "right_hindpaw",
    "tail_base",
    "tail_middle",
    "tail_tip",
]
CALMS21_KEYPOINTS = ["nose", "left_ear", "right_ear", "neck", "left_hip", "right_hip", "tail"]
CALMS21_ANIMALS = ["resident", "intruder"]
MOUSE_SEQUENCE_TASKS = {"experiment_day", "time_of_day", "strain", "lights"}


def _load_dict(path: Path) -> dict:
    from behavenet.utils.safe_pickle import load_npy_dict

    return load_npy_dict(path)


def sniff_mabe_npy(path: Path) -> bool:
    from behavenet.io._pickle import is_npy_object

    return path.suffix.lower() == ".npy" and is_npy_object(path)


def sniff_calms21(path: Path) -> bool:
    head = read_head(path, 8192).lstrip()
    if not head.startswith(b"{"):
        return False
    return (
        b'"annotator-id' in head or b'"unlabeled_videos"' in head or (b'"sequences"' in head and b'"keypoints"' in head)
    )


# --------------------------------------------------------------------------- shared assembly
def _as_keypoints(path, seq_id, kp) -> tuple[np.ndarray, str]:
    kp = np.asarray(kp, dtype=np.float32)
    if kp.ndim == 4 and kp.shape[-1] == 2:
        return kp, "TAK2"
    if kp.ndim == 4 and kp.shape[2] == 2:  # CalMS21 (T, animals, xy, K)
        return kp.transpose(0, 1, 3, 2), "TA2K"
    if kp.ndim == 3 and kp.shape[-1] == 2:  # one animal
        return kp[:, None], "TK2"
    raise FormatError(
        path,
        f"sequences/{seq_id}/keypoints",
        f"expected (frames, animals, keypoints, 2) or CalMS21 (frames, 2, 2, 7), found {kp.shape}",
    )


def _flavour(kp_shape) -> dict:
    _, A, K, _ = kp_shape
    if A == 3 and K == 12:
        return {
            "name": "MABe22 mouse triplets",
            "fps": 30.0,
            "species": "mouse",
            "keypoints": MOUSE_TRIPLET_KEYPOINTS,
            "units": "px",
            "zero_missing": True,
        }
    if K == 24 and A >= 1:
        return {
            "name": "MABe22 flies",
            "fps": 150.0,
            "species": "fly",
            "keypoints": None,
            "units": "mm",
            "zero_missing": False,
        }
    if A == 2 and K == 7:
        return {
            "name": "CalMS21 / MABe 2021 mice",
            "fps": 30.0,
            "species": "mouse",
            "keypoints": CALMS21_KEYPOINTS,
            "animals": CALMS21_ANIMALS,
            "units": "px",
            "zero_missing": True,
        }
    return {"name": "MABe-format", "fps": None, "species": "", "keypoints": None, "units": "px", "zero_missing": True}


def _select(seq_ids: list[str], sequences, path) -> list[str]:
    if sequences is None:
        return seq_ids
    if isinstance(sequences, (int, np.integer)):
        return seq_ids[: int(sequences)]
    wanted = [str(s) for s in sequences]
    missing = [s for s in wanted if s not in seq_ids]
    if missing:
        raise FormatError(path, "sequences", f"no sequence {missing[0]!r} in the file")
    return wanted


def _is_integer(v: np.ndarray) -> bool:
    f = v[np.isfinite(v)]
    return f.size == 0 or bool(np.all(f == np.round(f)))


def _build(path: Path, seq_ids, kps, confs, fps, zero_missing, keypoint_names, drop_padding) -> tuple[Session, dict]:
    shapes = {k.shape[1:] for k in kps}
    if len(shapes) != 1:
        raise FormatError(path, "sequences", f"sequences have different (animals, keypoints, dims): {sorted(shapes)}")
    flav = _flavour(kps[0].shape)
    lengths = [len(k) for k in kps]
    if min(lengths) == 0:
        raise FormatError(path, f"sequences/{seq_ids[lengths.index(0)]}", "sequence has no frames")
    kp = np.concatenate(kps)
    conf = None if confs is None else np.concatenate(confs).astype(np.float32)
    zm = flav["zero_missing"] if zero_missing is None else bool(zero_missing)
    if zm:
        zero = (kp == 0).all(axis=-1)
        kp[zero] = np.nan
    user_fps = check_fps(fps, path)
    if user_fps is not None:
        rate, src = user_fps, FPS_FROM_USER
    elif flav["fps"] is not None:
        rate, src = flav["fps"], FPS_DEFAULT
    else:
        rate, src = 1.0, FPS_ASSUMED
    A, K = kp.shape[1], kp.shape[2]
    names = keypoint_names or flav["keypoints"] or [f"kp{i}" for i in range(K)]
    names = [str(n) for n in names]
    if len(names) != K:
        raise FormatError(path, "keypoint_vocabulary", f"{len(names)} names for {K} keypoints")
    animals = list(flav.get("animals") or [f"{'fly' if flav['species'] == 'fly' else 'mouse'}{i}" for i in range(A)])
    if flav["name"] == "MABe-format":
        animals = [f"animal{i}" for i in range(A)]
    session = Session(
        session_id=default_session_id(path),
        fps=rate,
        species=flav["species"],
        source_software="MABe",
        description=f"{flav['name']} ({len(seq_ids)} sequences)",
    )
    pose = Pose(keypoints=kp, keypoint_names=names, animal_names=animals, confidence=conf, units=flav["units"])
    if drop_padding:
        present = np.isfinite(kp).all(axis=-1).any(axis=(0, 2))
        if not present.all() and present.any():
            keep = np.flatnonzero(present)
            session.attrs["dropped_padding_animals"] = [animals[i] for i in np.flatnonzero(~present)]
            pose = Pose(
                keypoints=kp[:, keep],
                keypoint_names=names,
                animal_names=[animals[i] for i in keep],
                confidence=None if conf is None else conf[:, keep],
                units=flav["units"],
            )
    else:
        allow_empty_animals(session)  # padding slots kept on request
    session.pose = pose
    stops = np.cumsum(lengths)
    session.trials = np.stack([stops - np.array(lengths), stops], axis=1).astype(np.int64)
    session.trial_names = [str(s) for s in seq_ids]
    session.attrs.update({"fps_source": src, "mabe_flavour": flav["name"], "zero_as_missing": zm})
    return session, flav


# --------------------------------------------------------------------------- MABe22 / AIcrowd .npy
def _task_labels(
    session: Session, path: Path, tasks: list[str], ann: np.ndarray, lengths: list[int], sequence_tasks
) -> None:
    """MABe22 ``annotations`` (n_tasks, T) -> sequence labels, frame labels or behaviour."""
    bounds = session.trial_bounds()
    forced = set(MOUSE_SEQUENCE_TASKS if sequence_tasks is None else sequence_tasks)
    behav_cols, behav_names = [], []
    for t, task in enumerate(tasks):
        row = ann[t].astype(np.float64)
        per_seq = [row[a:b] for a, b in bounds]
        constant = all(np.all(np.isnan(s)) or np.nanmin(s) == np.nanmax(s) for s in per_seq)
        integer = _is_integer(row)
        if task in forced or (constant and not task.startswith("perframe")):
            if not constant:
                log.warning(
                    "%s: task %s varies within sequences; keeping its first labelled value per sequence", path, task
                )
            vals = np.array([s[np.isfinite(s)][0] if np.isfinite(s).any() else np.nan for s in per_seq])
            if integer:
                top = int(np.nanmax(vals)) if np.isfinite(vals).any() else 1
                vocab = [f"not_{task}", task] if top <= 1 else [f"{task}={v}" for v in range(top + 1)]
                codes = np.where(np.isfinite(vals), vals, -1).astype(np.int32)
                session.sequence_labels[task] = SequenceLabel(values=codes, kind="discrete", vocabulary=vocab)
            else:
                session.sequence_labels[task] = SequenceLabel(values=vals.astype(np.float32), kind="continuous")
        elif integer:
            top = int(np.nanmax(row)) if np.isfinite(row).any() else 1
            if np.nanmin(row) < 0 if np.isfinite(row).any() else False:
                raise FormatError(path, f"annotations/{task}", "negative class codes")
            vocab = [f"not_{task}", task] if top <= 1 else [f"{task}={v}" for v in range(top + 1)]
            codes = np.where(np.isfinite(row), row, -1).astype(np.int32)
            session.frame_labels[task] = FrameLabel(codes=codes, vocabulary=vocab)
        else:
            behav_cols.append(row.astype(np.float32))
            behav_names.append(task)
    if behav_cols:
        session.behavior = Behavior(values=np.stack(behav_cols, axis=1), names=behav_names)


def _vocab_list(vocab) -> list[str] | None:
    if vocab is None:
        return None
    if isinstance(vocab, dict):
        return [str(k) for k, _ in sorted(vocab.items(), key=lambda kv: int(kv[1]))]
    return [str(v) for v in (vocab.tolist() if isinstance(vocab, np.ndarray) else vocab)]


def _class_labels(session, path, seq_ids, seqs, vocab_of, lengths, label_name="behavior"):
    """Per-frame class codes (CalMS21 style) over the union of the sequences' vocabularies."""
    union: list[str] = []
    codes_all = []
    for sid, n in zip(seq_ids, lengths):
        ann = seqs[sid].get("annotations")
        if ann is None:
            codes_all.append(np.full(n, -1, np.int32))
            continue
        ann = np.asarray(ann)
        if ann.ndim != 1 or len(ann) != n:
            raise FormatError(
                path, f"sequences/{sid}/annotations", f"expected {n} class codes, found shape {ann.shape}"
            )
        vocab = vocab_of(sid)
        if vocab is None:
            top = int(ann.max()) if ann.size else 0
            vocab = [f"class{v}" for v in range(top + 1)]
        for v in vocab:
            if v not in union:
                union.append(v)
        lut = np.array([union.index(v) for v in vocab], dtype=np.int32)
        if ann.size and (ann.min() < 0 or ann.max() >= len(vocab)):
            raise FormatError(
                path, f"sequences/{sid}/annotations", f"codes outside the vocabulary of {len(vocab)} classes"
            )
        codes_all.append(lut[ann.astype(np.int64)])
    if union:
        session.frame_labels[label_name] = FrameLabel(codes=np.concatenate(codes_all), vocabulary=union)


@register_loader(
    "mabe",
    suffixes=(".npy",),
    sniff=sniff_mabe_npy,
    priority=30,
    aliases=("mabe22", "mabe2022", "mabe2021"),
    expects="a MABe file: a .npy holding a pickled dict (np.save of {'sequences': ...})",
    description="MABe22 mouse-triplet / fly .npy dicts and AIcrowd MABe 2021 .npy (restricted unpickling)",
)
def load_mabe(
    path: Path,
    *,
    fps: float | None = None,
    sequences=None,
    keypoint_names=None,
    zero_missing: bool | None = None,
    drop_padding: bool = True,
    sequence_tasks=None,
) -> Session:
    """Read a MABe ``.npy`` dict file: one trial per sequence.

    Parameters
    ----------
    fps
        Frame rate (default 30 for mice, 150 for flies).
    sequences
        Import only these sequence ids, or the first N when an int.
    keypoint_names
        Names to use (default: the file's ``keypoint_vocabulary``, else the documented mouse names).
    zero_missing
        Treat (0, 0) keypoints as missing (default: yes for mice, no for flies).
    drop_padding
        Drop animal slots that are missing in every frame (fly padding).
    sequence_tasks
        Annotation tasks to treat as sequence-level (default: experiment_day, time_of_day, strain,
        lights, plus tasks constant within every sequence).
    """
    data = _load_dict(path)
    if "sequences" not in data or not isinstance(data["sequences"], dict):
        keys = ", ".join(map(str, list(data)[:6]))
        raise FormatError(
            path, "sequences", f"expected a dict with a 'sequences' dict (MABe format); found keys {keys}"
        )
    seqs = data["sequences"]
    if not seqs:
        raise FormatError(path, "sequences", "the file holds no sequences")
    seq_ids = _select([str(k) for k in seqs], sequences, path)
    seqs = {str(k): v for k, v in seqs.items()}
    kps, layouts = [], set()
    for sid in seq_ids:
        s = seqs[sid]
        if not isinstance(s, dict) or "keypoints" not in s:
            raise FormatError(path, f"sequences/{sid}", "expected a dict with 'keypoints'")
        kp, layout = _as_keypoints(path, sid, s["keypoints"])
        kps.append(kp)
        layouts.add(layout)
    names = keypoint_names
    if names is None and data.get("keypoint_vocabulary") is not None:
        names = [str(n) for n in data["keypoint_vocabulary"]]
    session, flav = _build(path, seq_ids, kps, None, fps, zero_missing, names, drop_padding)
    lengths = [len(k) for k in kps]
    session.attrs["mabe_layout"] = "/".join(sorted(layouts))
    anns = [seqs[sid].get("annotations") for sid in seq_ids]
    if any(a is not None for a in anns):
        first = np.asarray(next(a for a in anns if a is not None))
        if first.ndim == 2:  # MABe22: (n_tasks, T)
            vocab = data.get("vocabulary")
            n_tasks = first.shape[0]
            tasks = [str(v) for v in vocab] if vocab is not None else [f"task{i}" for i in range(n_tasks)]
            if len(tasks) != n_tasks:
                raise FormatError(path, "vocabulary", f"{len(tasks)} task names for {n_tasks} annotation rows")
            rows = []
            for sid, a, n in zip(seq_ids, anns, lengths):
                if a is None:
                    rows.append(np.full((n_tasks, n), np.nan))
                    continue
                a = np.asarray(a, dtype=np.float64)
                if a.shape != (n_tasks, n):
                    raise FormatError(
                        path, f"sequences/{sid}/annotations", f"expected shape {(n_tasks, n)}, found {a.shape}"
                    )
                rows.append(a)
            _task_labels(session, path, tasks, np.concatenate(rows, axis=1), lengths, sequence_tasks)
        else:  # MABe 2021 AIcrowd: (T,) class codes + a file vocabulary
            vocab = _vocab_list(data.get("vocabulary"))
            _class_labels(session, path, seq_ids, seqs, lambda sid: vocab, lengths)
    ann_ids = [seqs[sid].get("annotator_id") for sid in seq_ids]
    if any(a is not None for a in ann_ids):
        _annotator_label(session, ann_ids)
    return session


def _annotator_label(session: Session, ids) -> None:
    vocab = sorted({str(int(a)) if isinstance(a, (int, np.integer, float)) else str(a) for a in ids if a is not None})
    codes = np.array(
        [
            -1 if a is None else vocab.index(str(int(a)) if isinstance(a, (int, np.integer, float)) else str(a))
            for a in ids
        ],
        dtype=np.int32,
    )
    session.sequence_labels["annotator"] = SequenceLabel(values=codes, kind="discrete", vocabulary=vocab)


# --------------------------------------------------------------------------- CalMS21 .json
@register_loader(
    "calms21",
    suffixes=(".json",),
    sniff=sniff_calms21,
    priority=30,
    aliases=("calms",),
    expects="a CalMS21 file: a JSON object of annotator groups (or 'sequences') holding keypoints",
    description="CalMS21 .json (annotator groups; keypoints, scores, annotations, vocab)",
)
def load_calms21(
    path: Path,
    *,
    fps: float | None = None,
    sequences=None,
    annotator: str | None = None,
    zero_missing: bool | None = None,
) -> Session:
    """Read a CalMS21 ``.json`` file: one trial per sequence (all annotator groups, in file order).

    Parameters
    ----------
    fps
        Frame rate (default 30).
    sequences
        Import only these sequence names, or the first N when an int.
    annotator
        Import only this top-level group (e.g. ``"annotator-id_0"``).
    zero_missing
        Treat (0, 0) keypoints as missing (default yes).
    """
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise FormatError(path, None, f"not valid JSON (truncated?): {exc}") from None
    except UnicodeDecodeError as exc:
        raise FormatError(path, None, f"not UTF-8 JSON: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise FormatError(path, None, "expected a JSON object of annotator groups")
    if "sequences" in data and isinstance(data["sequences"], dict):  # AIcrowd-style dict saved as JSON
        groups = {"sequences": data["sequences"]}
        file_vocab = _vocab_list(data.get("vocabulary"))
    else:
        groups = data
        file_vocab = None
    if annotator is not None:
        if annotator not in groups:
            raise FormatError(path, "annotator", f"no group {annotator!r} (found: {', '.join(list(groups)[:5])})")
        groups = {annotator: groups[annotator]}
    entries = []
    for g, seqs in groups.items():
        if not isinstance(seqs, dict):
            raise FormatError(path, g, "expected an object of sequences")
        for name, s in seqs.items():
            if not isinstance(s, dict) or "keypoints" not in s:
                raise FormatError(path, f"{g}/{name}", "expected an object with 'keypoints'")
            entries.append((g, str(name), s))
    if not entries:
        raise FormatError(path, None, "no sequences in the file")
    ids = [n for _, n, _ in entries]
    if len(set(ids)) != len(ids):
        ids = [f"{g}/{n}" for g, n, _ in entries]
    by_id = dict(zip(ids, entries))
    ids = _select(ids, sequences, path)
    kps, confs = [], []
    for sid in ids:
        g, name, s = by_id[sid]
        kp, _ = _as_keypoints(path, sid, s["keypoints"])
        kps.append(kp)
        sc = s.get("scores")
        confs.append(None if sc is None else np.asarray(sc, dtype=np.float32))
    if any(c is None for c in confs):
        confs = None
    else:
        for sid, c, k in zip(ids, confs, kps):
            if c.shape != k.shape[:3]:
                raise FormatError(path, f"{sid}/scores", f"expected shape {k.shape[:3]}, found {c.shape}")
    session, _ = _build(path, ids, kps, confs, fps, zero_missing, None, drop_padding=False)
    session.source_software = "CalMS21 (MARS)"
    lengths = [len(k) for k in kps]
    seqs = {sid: by_id[sid][2] for sid in ids}

    def vocab_of(sid):
        meta = seqs[sid].get("metadata") or {}
        return _vocab_list(meta.get("vocab")) or file_vocab

    _class_labels(session, path, ids, seqs, vocab_of, lengths)
    ann_ids = [(seqs[sid].get("metadata") or {}).get("annotator-id", seqs[sid].get("annotator_id")) for sid in ids]
    if any(a is not None for a in ann_ids):
        _annotator_label(session, ann_ids)
    session.attrs["annotator_groups"] = sorted({by_id[sid][0] for sid in ids})
    return session
