"""Lightning data modules over behavenet session files.

:class:`SessionDataModule` does the work; :class:`NeuralDataModule`, :class:`PoseDataModule`,
:class:`VideoDataModule` and :class:`PairedDataModule` are the same class with different defaults
(they exist so configs and docs can name what they load). What it does, in order:

1. opens each session file lazily (a list of files = multi-session), format v1 or BehaveNet v1;
2. cuts long trial-less recordings into pseudo-trials (``trial_seconds``) and deals trials into
   train/val/test blocks with gap trials in between (``splits="8;1;1;1"``);
3. reads the input signals (``inputs: [spikes, behavior]``, or one ``input``: ``spikes``,
   ``calcium``, ``behavior``, ``pose`` or ``video``): neural and pose inputs into memory, video
   lazily (frames read per window, never the whole video). Several inputs of one session may
   come from one file or from several files joined by session id. A neural or pose input whose
   features would take more than ``on_disk_threshold_mb`` is computed chunk by chunk into a
   temporary float32 file instead, and served from it (see "Large sessions" below);
4. normalises each input with statistics from training frames only: z-score for neural/behaviour
   inputs; egocentric centring/rotation and one global scale for pose;
5. attaches labels by name (behaviour variables → continuous; frame labels → discrete; sequence
   labels → broadcast over their trial, kind from the file);
6. serves :class:`~behavenet.data.splits.SplitData` per split and session to the model, which
   returns the dataset it trains on (``Core.make_dataset``, see :mod:`behavenet.models.base`);
   batches are ``{"inputs": {name: tensor}, "labels": {...}}`` (plus ``"mask"`` for whole
   trials); optional pose augmentation is applied to training batches after transfer to the
   device (or, for models that gather their own windows, by the model).

Large sessions: with features over ``on_disk_threshold_mb`` (default 256 MB) a session's inputs
are computed from the file in chunks of raw frames (float32), written to a raw float32 file in a
temporary folder (``on_disk_dir``, default the system's), and normalised there in place with
training-frame statistics accumulated chunk by chunk (float64, equal to the in-memory statistics
within float32 round-off). Splits and the whole session are :class:`~behavenet.data.ondisk.RowMap`
views of that file (row ranges, read a batch at a time; ``frame_index``/``trial_index`` and labels
are row maps too), so the main process holds no copy of the session. ``teardown()`` (no stage)
deletes the folder; the process's exit does at the latest. Smaller sessions are held in memory
exactly as before (bit-identical results).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from behavenet.data.loaders import make_loader
from behavenet.data.ondisk import ChunkStats, FeatureCache, FeatureFile, RowMap, TrialOf, block_mask
from behavenet.data.reader import open_session
from behavenet.data.splits import (
    SPLITS,
    SplitData,
    assign_splits,
    chunk_trials,
    input_shape,
    parse_split_spec,
    time_blocks,
)
from behavenet.data.transforms import PoseAugment, ZScore, _kp_index, pose_features
from behavenet.errors import ConfigError, FormatError

log = logging.getLogger(__name__)

INPUTS = ("spikes", "calcium", "behavior", "pose", "video")


class IndexedFrames:
    """Lazy frames of a video re-indexed by ``frame_index`` (rows of a split), with optional
    grayscale conversion and integer spatial downsampling applied on read."""

    def __init__(self, frames, frame_index: np.ndarray, grayscale: bool = False, downsample: int = 1):
        self.frames = frames
        self.frame_index = np.asarray(frame_index, dtype=np.int64)
        self.grayscale = bool(grayscale)
        self.downsample = max(1, int(downsample))

    def __len__(self) -> int:
        return len(self.frame_index)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        h, w, c = self.frames.frame_shape
        h, w = -(-h // self.downsample), -(-w // self.downsample)
        return (h, w, 1 if self.grayscale else c)

    def _post(self, block: np.ndarray) -> np.ndarray:
        if self.downsample > 1:
            block = block[..., :: self.downsample, :: self.downsample, :]
        if self.grayscale and block.shape[-1] == 3:
            block = (block.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
            block = np.clip(np.rint(block), 0, 255).astype(np.uint8)
        return block

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            rows = self.frame_index[idx]
        elif isinstance(idx, (int, np.integer)):
            return self._post(self.frames[int(self.frame_index[idx])])
        else:
            rows = self.frame_index[np.asarray(idx, dtype=np.int64)]
        return self._post(self.frames[rows])


class SessionDataModule(L.LightningDataModule):
    """Data module for one or more behavenet session files (see the module docstring).

    Parameters
    ----------
    files
        A session file or a list of them (multi-session). BehaveNet v1 files are accepted. With
        several ``inputs``, files that share a session id and each hold some of the inputs are
        joined into one session (e.g. ``[a_neural.h5, a_pose.h5, b_neural.h5, b_pose.h5]``).
    input
        The input modality: ``spikes``, ``calcium``, ``behavior``, ``pose`` or ``video``.
    inputs
        Several input modalities served together (e.g. ``[spikes, behavior]``); overrides
        ``input``, whose value becomes the first of them.
    labels
        Names of behaviour variables, frame labels or sequence labels to serve with the input.
    splits
        ``"train;val;test;gap"`` trials per block (BehaveNet's ``trial_splits``).
    trial_seconds
        Cut trials longer than twice this into pseudo-trials of this length (``None``: keep).
    time_blocks
        A session too short for trial-wise splits (no val or no test trial) is split by time into
        one train, one val and one test block (proportions of ``splits``), with ``time_block_gap``
        unused frames between blocks, so every run is scored (``False``: all its frames train).
    time_block_gap
        Frames between those blocks; ``None``: one second of frames, widened to the attached
        model's receptive field when that is longer (see :meth:`attach_model`).
    normalize
        Standardise the inputs with training-frame statistics (z-score; one global scale for
        pose): ``True``/``False`` for every input, or ``{input: bool}`` per input (inputs not
        named are standardised), e.g. ``{spikes: false}`` to serve raw spike counts to a Poisson
        likelihood.
    batch_size, num_workers
        DataLoader settings for models that serve windows or trials (the contrastive family
        samples its own batches).
    pose
        ``{"egocentric": True, "center": "centroid", "heading": None | [from, to],
        "include_origin": True, "confidence_threshold": None, "pairwise": True}``; ``pairwise``
        appends the distance between every pair of animals (multi-animal data).
    augment
        Pose augmentation of training batches: ``{"rotation": radians, "reflection": p,
        "jitter": sd}`` (in normalised units).
    video
        ``{"grayscale": False, "downsample": 1}``.
    session_options
        Extra keyword arguments for :func:`behavenet.data.reader.open_session` (e.g. ``fps`` for
        BehaveNet v1 files).
    convert_options, convert_cache
        Files that are not session files (a DeepLabCut table, a ``.slp``, an NWB file, ...) are
        converted once with :func:`behavenet.io.convert` (these options) into ``convert_cache``
        (default ``outputs/cache/converted``) and the converted copy is used.
    normalization_state
        Apply these normalisation statistics (``{input: statistics}`` for every session, or a list
        with one per session, as in a run's ``normalization.json``) instead of fitting them on the
        training frames; used to embed new data with a trained model.
    seed
        Seeds the split shuffling (if ``split_seed`` is unset) and all sampling.
    on_disk_threshold_mb
        Neural and pose inputs whose float32 features would take more than this many MB (per
        session and input) are computed chunk by chunk into a temporary file and served from it
        (see the module docstring, "Large sessions"); ``None``: always in memory.
    on_disk_dir
        Folder for those temporary files (``None``: the system's temporary folder, ``$TMPDIR``).
    """

    def __init__(
        self,
        files: str | list[str],
        input: str = "spikes",
        labels: list[str] | None = None,
        splits: str = "8;1;1;1",
        trial_seconds: float | None = None,
        split_seed: int | None = None,
        normalize: bool | dict = True,
        batch_size: int = 256,
        num_workers: int = 0,
        inputs: list[str] | None = None,
        pose: dict | None = None,
        augment: dict | None = None,
        video: dict | None = None,
        session_options: dict | None = None,
        seed: int = 0,
        persistent_workers: bool = False,
        normalization_state: dict | list | None = None,
        convert_options: dict | None = None,
        convert_cache: str | None = None,
        time_blocks: bool = True,
        time_block_gap: int | None = None,
        on_disk_threshold_mb: float | None = 256,
        on_disk_dir: str | None = None,
    ):
        super().__init__()
        files = [files] if isinstance(files, (str, Path)) else list(files or [])
        if not files:
            raise ConfigError("data.files", "expected at least one session file")
        names = [str(n) for n in inputs] if inputs else [input]
        if not names:
            raise ConfigError("data.inputs", "expected at least one input, e.g. [spikes, behavior]")
        for name in names:
            if name not in INPUTS:
                key = "data.inputs" if inputs else "data.input"
                raise ConfigError(key, f"expected one of {list(INPUTS)}, got {name!r}")
        if len(set(names)) != len(names):
            raise ConfigError("data.inputs", f"lists an input twice: {names}")
        self.files = [str(f) for f in files]
        self.inputs = names
        self.input = names[0]
        self.label_names = list(labels or [])
        self.splits_spec = splits
        self.trial_seconds = trial_seconds
        self.split_seed = split_seed
        if isinstance(normalize, bool) or normalize is None:
            self.normalize = bool(normalize)
        elif hasattr(normalize, "items"):
            bad = {k: v for k, v in normalize.items() if not isinstance(v, bool)}
            if bad:
                raise ConfigError("data.normalize", f"expected true/false per input, got {dict(bad)}")
            self.normalize = {str(k): bool(v) for k, v in normalize.items()}
        else:
            raise ConfigError("data.normalize", f"expected true, false or {{input: true/false}}, got {normalize!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError("data.batch_size", f"expected an integer >= 1, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.persistent_workers = bool(persistent_workers and num_workers > 0)
        self.pose_opts = {
            "egocentric": True,
            "center": "centroid",
            "heading": None,
            "include_origin": True,
            "confidence_threshold": None,
            "pairwise": True,
            **dict(pose or {}),
        }
        self.augment_opts = dict(augment or {})
        self.video_opts = {"grayscale": False, "downsample": 1, **dict(video or {})}
        self.session_options = dict(session_options or {})
        self.seed = int(seed)
        self.normalization_state = normalization_state
        self.convert_options = dict(convert_options or {})
        self.convert_cache = convert_cache
        self.time_blocks = bool(time_blocks)
        if time_block_gap is not None and (not isinstance(time_block_gap, int) or time_block_gap < 0):
            raise ConfigError("data.time_block_gap", f"expected null or an integer >= 0, got {time_block_gap!r}")
        self.time_block_gap = time_block_gap
        if on_disk_threshold_mb is not None and (
            isinstance(on_disk_threshold_mb, bool)
            or not isinstance(on_disk_threshold_mb, (int, float))
            or on_disk_threshold_mb < 0
        ):
            raise ConfigError(
                "data.on_disk_threshold_mb", f"expected null or a number of MB >= 0, got {on_disk_threshold_mb!r}"
            )
        self.on_disk_threshold_mb = on_disk_threshold_mb
        self.on_disk_dir = None if on_disk_dir in (None, "") else str(on_disk_dir)
        self._features: FeatureCache | None = None  # temporary feature files of large sessions
        self._min_gap = 0  # the attached model's receptive field
        self._time_split: dict[str, int] = {}  # session id -> gap frames, for sessions split by time
        self._trial_counts: dict[int, dict] = {}  # session index -> {split: (trials, frames)}
        self.model = None
        self._ready = False
        self.readers: list[Any] = []
        self.split_data: dict[str, list[SplitData]] = {}
        self.full_data: list[SplitData] = []
        self.frame_roles: list[np.ndarray] = []
        self.normalizers: list[dict] = []
        self._label_info: dict[str, dict] = {}
        self._augment = PoseAugment(**self.augment_opts) if self.augment_opts else None
        self._augment_keys: list[str] = []
        self._pose_layout: dict | None = None
        #: keep the raw keypoints of a pose input in every SplitData (``keypoints``): set by
        #: :meth:`attach_model` for a model whose ``needs_keypoints`` is true
        self.keep_keypoints = False
        self._pending_keypoints: np.ndarray | None = None

    # ------------------------------------------------------------------ setup
    def attach_model(self, model) -> None:
        """Let ``model.make_dataset`` decide how batches are sampled (see behavenet.models.base).

        Sessions split into blocks by time get gaps at least the model's receptive field: when the
        gaps chosen at :meth:`setup` are shorter, the data are split again. A model whose
        ``needs_keypoints`` is true gets the raw keypoints of a pose input in every split
        (``SplitData.keypoints``; the data are loaded again to keep them)."""
        self.model = model
        left, right = getattr(model, "receptive_field", (0, 1))
        self._min_gap = int(left) + int(right)
        resplit = any(g < self._min_gap for g in self._time_split.values()) and self.time_block_gap is None
        if bool(getattr(model, "needs_keypoints", False)) and not self.keep_keypoints:
            self.keep_keypoints = True
            resplit = True
        if self._ready and resplit:
            self.teardown()
            self._ready = False
            self.split_data, self.full_data, self.frame_roles, self.normalizers = {}, [], [], []
            self._label_info, self._time_split = {}, {}
            self.setup()

    def prepare_data(self) -> None:
        from behavenet.embeddings import is_embeddings_file

        files = []
        for f in self.files:
            if not Path(f).exists():
                raise FormatError(f, None, "session file not found (data.files)")
            if _is_session_file(f):
                files.append(f)
            elif is_embeddings_file(f):  # a model's embeddings: one session per embedded session
                files.extend(str(p) for p in self._converted_embeddings(f))
            else:
                files.append(str(self._converted(f)))
        self.files = files

    def _converted_embeddings(self, path: str) -> list[Path]:
        """The sessions of an embeddings file as session files (the embedding is the ``calcium``
        input; :func:`behavenet.embeddings.embeddings_to_sessions`), converted once (cached by
        path and mtime)."""
        import hashlib
        import shutil
        import tempfile

        from behavenet.embeddings import embeddings_to_sessions

        p = Path(path).resolve()
        key = f"{p}|{p.stat().st_mtime}|embeddings"
        cache = Path(self.convert_cache or Path.cwd() / "outputs" / "cache" / "converted")
        out = cache / f"{p.stem}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
        if not out.is_dir():
            cache.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out.name}.", dir=cache))
            try:
                embeddings_to_sessions(p, tmp)
                tmp.rename(out)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return sorted(out.glob("*.h5"))

    def _converted(self, path: str) -> Path:
        """Convert a non-session file once (cached by path, mtime and options)."""
        import hashlib
        import json

        from behavenet import io

        p = Path(path).resolve()
        key = json.dumps(
            {"path": str(p), "mtime": p.stat().st_mtime, "opts": self.convert_options}, sort_keys=True, default=str
        )
        cache = Path(self.convert_cache or Path.cwd() / "outputs" / "cache" / "converted")
        out = cache / f"{p.stem}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.h5"
        if not out.exists():
            log.info("converting %s -> %s", p, out)
            io.convert(str(p), str(out), **self.convert_options)
        return out

    def setup(self, stage: str | None = None) -> None:
        if self._ready:
            return
        self.prepare_data()
        self._all_readers = [open_session(f, **self.session_options) for f in self.files]
        groups = self._sessions(self._all_readers)
        self.readers = [g["primary"] for g in groups]
        self.files = [str(g["primary"].path) for g in groups]
        ids = [r.session_id for r in self.readers]
        if len(set(ids)) != len(ids):  # make ids unique, keeping order
            ids = [f"{sid}#{i}" for i, sid in enumerate(ids)]
        self.session_ids = ids
        for si, group in enumerate(groups):
            self._setup_session(si, group)
        for split in SPLITS:
            if split == "train" and not self.split_data["train"]:
                raise ConfigError(
                    "data.splits", f"no training frames: every session is too short for the split {self.splits_spec!r}"
                )
        self._log_splits()
        self._ready = True

    def _log_splits(self) -> None:
        """One line saying how the frames were split (trial-wise sessions summed up)."""
        by_trial = [si for si, sid in enumerate(self.session_ids) if sid not in self._time_split]
        if not by_trial:
            return
        counts = {split: [0, 0] for split in SPLITS}
        for si in by_trial:
            for split, (n, frames) in self._trial_counts[si].items():
                counts[split][0] += n
                counts[split][1] += frames
        log.info(
            "data: split by trial (splits %r) over %d session(s): train %d trial(s), %d frames; "
            "val %d, %d frames; test %d, %d frames",
            self.splits_spec,
            len(by_trial),
            *counts["train"],
            *counts["val"],
            *counts["test"],
        )
        for split in ("val", "test"):
            if not counts[split][1] and parse_split_spec(self.splits_spec)[SPLITS.index(split)]:
                log.warning(
                    "data: no %s frames (no session has a %s trial); %s scores are missing", split, split, split
                )

    def _trial_length(self, reader) -> int | None:
        if not self.trial_seconds:
            return None
        return max(1, int(round(self.trial_seconds * reader.fps)))

    def _sessions(self, readers: list) -> list[dict]:
        """Group the opened files into sessions: ``{"primary": reader of the first input,
        "by_input": {input: reader}, "readers": [...]}``.

        With one input every file is a session. With several, a file holding every input is a
        session of its own; files sharing a session id that each hold some inputs are joined
        (each input from the one file that has it; same frame count and rate).
        """

        def complete(r) -> bool:
            return all(n in r.modalities for n in self.inputs)

        if len(self.inputs) == 1 or all(complete(r) for r in readers):
            for r in readers:
                self._require_inputs(r, self.inputs)
            return [{"primary": r, "by_input": {n: r for n in self.inputs}, "readers": [r]} for r in readers]
        order, by_id = [], {}
        for r in readers:
            if r.session_id not in by_id:
                order.append(r.session_id)
                by_id[r.session_id] = []
            by_id[r.session_id].append(r)
        groups = []
        for sid in order:
            members = by_id[sid]
            if len(members) > 1 and all(complete(r) for r in members):
                groups.extend({"primary": r, "by_input": {n: r for n in self.inputs}, "readers": [r]} for r in members)
                continue
            by_input = {}
            for name in self.inputs:
                having = [r for r in members if name in r.modalities]
                if not having:
                    files = ", ".join(str(r.path) for r in members)
                    raise FormatError(
                        members[0].path,
                        f"input '{name}'",
                        f"no file of session {sid!r} has {name} data (files: {files}); files are joined by session id",
                    )
                if len(having) > 1:
                    raise FormatError(
                        having[1].path,
                        f"input '{name}'",
                        f"session {sid!r} has {name} data "
                        f"in two files ({having[0].path} too); give each input of a session "
                        "in one file",
                    )
                by_input[name] = having[0]
            primary = by_input[self.inputs[0]]
            for r in members:
                if r.n_frames != primary.n_frames or abs(float(r.fps) - float(primary.fps)) > 1e-9:
                    raise FormatError(
                        r.path,
                        "attrs.n_frames",
                        f"session {sid!r}: {r.n_frames} frames at "
                        f"{r.fps} fps, but {primary.path} has {primary.n_frames} at "
                        f"{primary.fps}; files joined by session id must share the time base",
                    )
            used = set(map(id, by_input.values()))
            groups.append(
                {
                    "primary": primary,
                    "by_input": by_input,
                    "readers": [primary]
                    + [r for r in members if r is not primary and id(r) in used]
                    + [r for r in members if id(r) not in used],
                }
            )
        return groups

    @staticmethod
    def _require_inputs(reader, names) -> None:
        for name in names:
            if name not in reader.modalities:
                raise FormatError(
                    reader.path,
                    f"input '{name}'",
                    f"the session has no {name} data (it has: {', '.join(reader.modalities) or 'none'})",
                )

    def _setup_session(self, si: int, group: dict) -> None:
        reader = group["primary"]
        orig = np.asarray(reader.trials, dtype=np.int64)
        bounds = chunk_trials(orig, self._trial_length(reader))
        seed = self.split_seed
        roles = assign_splits(len(bounds), self.splits_spec, seed=seed)
        if self.time_blocks:
            bounds, roles = self._maybe_time_blocks(reader, si, orig, bounds, roles)
        self._trial_counts[si] = {
            split: (int((roles == split).sum()), int(np.diff(bounds[roles == split], axis=1).sum())) for split in SPLITS
        }
        large = {name: self._on_disk(name, group["by_input"][name]) for name in self.inputs}
        lazy = any(large.values())  # row maps instead of per-split copies
        if lazy:
            self.frame_roles.append(FrameRoles(bounds, roles, reader.n_frames))
        else:
            role_per_frame = np.full(reader.n_frames, "none", dtype=object)
            for (a, b), r in zip(bounds, roles):
                role_per_frame[a:b] = r
            self.frame_roles.append(role_per_frame)

        train_bounds = bounds[roles == "train"]
        train_rows = None if all(large.values()) else _rows(train_bounds)
        given = self._given_state(si)
        data, norms = {}, {}
        self._pending_keypoints = None
        for name in self.inputs:
            state = given.get(name) if given else None
            if large[name]:
                data[name], norms[name] = self._load_input_on_disk(
                    si, name, group["by_input"][name], train_bounds, state
                )
            else:
                data[name], norms[name] = self._load_input(name, group["by_input"][name], train_rows, state)
        self.normalizers.append(norms)
        keypoints, self._pending_keypoints = self._pending_keypoints, None
        labels, kinds = self._load_labels(group["readers"], orig, compact=lazy)

        def make(rows_bounds: np.ndarray, segments_from: np.ndarray) -> SplitData | None:
            if lazy:
                rows = RowMap(rows_bounds)  # the row numbers, never materialised
                trial_of = RowMap(rows_bounds, transform=TrialOf(orig[:, 0]))
            else:
                rows = _rows(rows_bounds)
                trial_of = np.searchsorted(orig[:, 0], rows, side="right") - 1
            if len(rows) == 0:
                return None
            seg = _segments(_merge_contiguous(segments_from, orig))

            def serve(arr):
                if isinstance(arr, FeatureFile):
                    return RowMap(rows_bounds, arr)
                if not isinstance(arr, np.ndarray):
                    return IndexedFrames(arr, rows, self.video_opts["grayscale"], self.video_opts["downsample"])
                return RowMap(rows_bounds, arr) if lazy else arr[rows]

            def label(arr, kind):
                if not lazy:
                    return arr[rows]
                return RowMap(rows_bounds, arr, dtype=np.int64 if kind == "discrete" else np.float32)

            return SplitData(
                session_id=self.session_ids[si],
                session_index=si,
                inputs={name: serve(arr) for name, arr in data.items()},
                labels={k: label(v, kinds[k]) for k, v in labels.items()},
                label_kinds=dict(kinds),
                segments=seg,
                frame_index=rows,
                trial_index=trial_of,
                fps=reader.fps,
                keypoints=None if keypoints is None else keypoints[np.asarray(rows)],
            )

        for split in SPLITS:
            sd = make(bounds[roles == split], bounds[roles == split])
            self.split_data.setdefault(split, [])
            if sd is not None:
                self.split_data[split].append(sd)
        # all frames in time order, segmented by the ORIGINAL trials (continuous embeddings)
        self.full_data.append(make(orig, orig))

    def _maybe_time_blocks(self, reader, si: int, orig, bounds, roles):
        """Trial-wise ``(bounds, roles)``, or time blocks when the session has no val or no test
        trial (and the split asks for them)."""
        _, n_val, n_test, _ = parse_split_spec(self.splits_spec)
        wanted = [r for r, c in (("val", n_val), ("test", n_test)) if c > 0]
        if not wanted or all((roles == r).any() for r in wanted):
            return bounds, roles
        sid = self.session_ids[si]
        if self.time_block_gap is not None:
            gap = self.time_block_gap
        else:
            gap = max(1, int(round(float(reader.fps))), self._min_gap)
        blocks = time_blocks(orig, self.splits_spec, gap)
        n_frames = int(np.diff(orig, axis=1).sum())
        if blocks is None:
            log.warning(
                "data: session %r (%d frames) is too short for held-out blocks with gaps of %d frames: "
                "all its frames train, and it gets no val or test scores",
                sid,
                n_frames,
                gap,
            )
            return bounds, roles
        pieces, block_roles = blocks
        self._time_split[sid] = gap

        def frames(role):
            rows = pieces[block_roles == role]
            return f"{role} {rows[0, 0]}-{rows[-1, 1]}" if len(rows) else None

        log.info(
            "data: session %r (%d frames, %d trial(s)) is too short for trial-wise splits %r; split by time: "
            "%s (frames; gaps of %d frames; data.time_blocks=false trains on every frame)",
            sid,
            n_frames,
            len(orig),
            self.splits_spec,
            ", ".join(f for f in map(frames, ("train", "val", "test")) if f),
            gap,
        )
        return pieces, block_roles

    def _normalizes(self, name: str) -> bool:
        """Whether input ``name`` is standardised (``normalize``: a bool or ``{input: bool}``)."""
        if isinstance(self.normalize, dict):
            return self.normalize.get(name, True)
        return bool(self.normalize)

    def _given_state(self, si: int) -> dict | None:
        """``{input: statistics}`` given for session ``si`` (a run's ``normalization.json`` entry;
        a single statistics dict, as older runs wrote, applies to the first input)."""
        st = self.normalization_state
        if st is None:
            return None
        if isinstance(st, (list, tuple)):
            if si >= len(st):
                raise ConfigError("data.normalization_state", f"has {len(st)} entries, session {si} needs one")
            st = st[si]
        st = dict(st)
        if "kind" in st:  # one input's statistics
            return {self.input: st}
        return st

    def _keypoints(self, reader, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Keypoints of frames ``[start, stop)`` (float32; NaN where missing or below
        ``pose.confidence_threshold``)."""
        kp = np.asarray(reader.read("pose", start, stop), dtype=np.float32)
        thr = self.pose_opts.get("confidence_threshold")
        if thr is not None and reader.has("pose_confidence"):
            conf = reader.read("pose_confidence", start, stop)
            kp = kp.copy()
            kp[conf < float(thr)] = np.nan
        return kp

    def _pose_features(
        self, reader, start: int | None = None, stop: int | None = None, kp: np.ndarray | None = None
    ) -> np.ndarray:
        """Pose features (``pose_features`` with the ``pose`` options) of frames ``[start, stop)``
        (of ``kp`` when given: :meth:`_keypoints` of those frames)."""
        kp = self._keypoints(reader, start, stop) if kp is None else kp
        o = self.pose_opts
        return pose_features(
            kp,
            egocentric_frame=o["egocentric"],
            center=o["center"],
            heading=o["heading"],
            keypoint_names=reader.keypoint_names,
            include_origin=o["include_origin"],
            pairwise=bool(o.get("pairwise")),
        )

    def _set_pose_layout(self, reader, n_features: int) -> dict:
        a, k, d = reader.shape("pose")[1:]
        o = self.pose_opts
        per_animal = k * d + ((d + 2) if (o["egocentric"] and o["include_origin"]) else 0)
        layout = {
            "animals": a,
            "keypoints": k,
            "dims": d,
            "per_animal": per_animal,
            "pairwise": n_features - a * per_animal,
            "ego": bool(o["egocentric"]),
            "keypoint_names": reader.keypoint_names,
            "animal_names": reader.animal_names,
            "heading": None if o["heading"] is None else [_kp_index(h, reader.keypoint_names) for h in o["heading"]],
        }
        self._pose_layout = layout
        return layout

    def _feature_count(self, name: str, reader) -> int:
        if name == "pose":
            return int(self._pose_features(reader, 0, 1).shape[1])
        return int(np.prod(reader.shape(name)[1:]))

    def _on_disk(self, name: str, reader) -> bool:
        """Whether input ``name`` of this session is computed into a temporary file (its float32
        features would exceed ``on_disk_threshold_mb``)."""
        if self.on_disk_threshold_mb is None or name not in ("spikes", "calcium", "behavior", "pose"):
            return False
        if name != "pose" and len(reader.shape(name)) != 2:
            return False
        nbytes = reader.n_frames * self._feature_count(name, reader) * 4
        return nbytes > float(self.on_disk_threshold_mb) * 2**20

    def _load_input_on_disk(self, si: int, name: str, reader, train_bounds: np.ndarray, state: dict | None):
        """:meth:`_load_input` for a large session: features computed ``chunk`` frames at a time
        into a float32 file (pass 1, accumulating the training rows' statistics), then
        normalised in place (pass 2). Returns ``(FeatureFile, normalisation state)``."""
        n = int(reader.n_frames)
        n_feat = self._feature_count(name, reader)
        row_bytes = 4 * n_feat
        chunk = int(max(4096, min(1 << 17, (32 << 20) // max(row_bytes, 1))))
        n_train = int(np.diff(train_bounds, axis=1).sum()) if len(train_bounds) else 0
        normalize = self._normalizes(name) and (n_train > 0 or bool(state))
        try:
            if self._features is None:
                self._features = FeatureCache(self.on_disk_dir)
            path, ff = self._features.new_file(f"s{si:03d}-{name}.f32", (n, n_feat))
            if name == "pose" and self.keep_keypoints:  # a model that reads raw keypoints (in memory)
                self._pending_keypoints = self._keypoints(reader)
            return self._write_on_disk(si, name, reader, train_bounds, state, path, ff, chunk, normalize)
        except OSError as exc:
            if exc.errno is None:  # not the file system (e.g. HDF5 reading the session)
                raise
            where = self._features.path if self._features is not None else (self.on_disk_dir or "the temporary folder")
            raise ConfigError(
                "data.on_disk_dir",
                f"cannot write {n * row_bytes / 2**20:.0f} MB of {name} features of {reader.path} to {where} "
                f"({exc.strerror or exc}); give a folder with room, or data.on_disk_threshold_mb=null to keep them "
                "in memory",
            ) from None

    def _write_on_disk(self, si, name, reader, train_bounds, state, path, ff, chunk, normalize):
        """Pass 1 and pass 2 of :meth:`_load_input_on_disk` into ``path``."""
        n, n_feat = ff.shape
        row_bytes = ff.row_bytes
        if name == "pose":
            layout = self._set_pose_layout(reader, n_feat)
            a, k, d, per = (layout[x] for x in ("animals", "keypoints", "dims", "per_animal"))
            pairs, origin, origin_all = ChunkStats(layout["pairwise"]), ChunkStats(d), ChunkStats(1)
            sumsq, count = 0.0, 0

            held = self._pending_keypoints  # the raw keypoints, when a model keeps them: read once

            def produce(lo, hi):
                return self._pose_features(reader, lo, hi, kp=None if held is None else held[lo:hi])

            def accumulate(x):
                nonlocal sumsq, count
                pairs.update(x[:, a * per :])
                f = x[:, : a * per].reshape(len(x), a, per)
                ego = f[:, :, : k * d].astype(np.float64)
                sumsq += float(np.sum(ego * ego))
                count += ego.size
                if per > k * d:
                    org = f[:, :, k * d : k * d + d].reshape(-1, d)
                    origin.update(org)
                    origin_all.update(org.reshape(-1, 1))
        else:
            stats = ChunkStats(n_feat)

            def produce(lo, hi):
                x = np.asarray(reader.read(name, lo, hi), dtype=np.float32).reshape(hi - lo, n_feat)
                if name == "behavior":
                    return np.nan_to_num(x)
                if not np.isfinite(x).all():
                    raise FormatError(reader.path, name, "input contains NaN or infinite values")
                return x

            accumulate = stats.update

        log.info(
            "data: %s of session %r: %d frames x %d features (%.0f MB float32) > data.on_disk_threshold_mb=%s; "
            "computed in chunks into %s",
            name,
            self.session_ids[si],
            n,
            n_feat,
            n * row_bytes / 2**20,
            self.on_disk_threshold_mb,
            path,
        )
        with open(path, "wb") as fh:
            for lo in range(0, n, chunk):
                hi = min(n, lo + chunk)
                x = np.ascontiguousarray(produce(lo, hi), dtype=np.float32)
                if normalize and not state:
                    rows = block_mask(train_bounds, lo, hi)
                    if rows.any():
                        accumulate(x[rows])
                fh.write(memoryview(x).cast("B"))
        if name == "pose":
            norm = {"kind": "pose", "scale": 1.0, "origin_mean": None, "origin_scale": 1.0}
            if not normalize:
                return ff, norm
            pz = om = None
            osd = 1.0
            if layout["pairwise"]:
                if state and state.get("pairwise_mean") is not None:
                    pz = ZScore(
                        np.asarray(state["pairwise_mean"], np.float32), np.asarray(state["pairwise_std"], np.float32)
                    )
                else:
                    pz = ZScore(*pairs.zscore())
            if state:
                scale = float(state["scale"])
            else:
                scale = float(np.sqrt(sumsq / count)) if count else float("nan")
                scale = scale if np.isfinite(scale) and scale else 1.0
            if per > k * d:
                if state and state.get("origin_mean") is not None:
                    om, osd = np.asarray(state["origin_mean"], np.float32), float(state["origin_scale"])
                else:
                    om = origin.mean.astype(np.float32)
                    osd = float(np.sqrt(origin_all.m2[0] / origin_all.n[0])) if origin_all.n[0] else 0.0
                    osd = osd or 1.0
            norm.update(_pose_norm_state(pz, scale, om, osd))

            def apply(x):
                return _apply_pose_norm(x, layout, pz, scale, om, osd)
        else:
            norm = {"kind": "zscore" if self._normalizes(name) else "none"}
            if not normalize:
                return ff, norm
            if state and "mean" in state:
                z = ZScore(np.asarray(state["mean"], np.float32), np.asarray(state["std"], np.float32))
                if z.mean.shape[0] != n_feat:
                    raise FormatError(
                        reader.path,
                        name,
                        f"has {n_feat} columns but the normalisation state was fitted on {z.mean.shape[0]}",
                    )
            else:
                z = ZScore(*stats.zscore())
            norm.update(z.state())
            apply = z
        with open(path, "r+b") as fh:
            for lo in range(0, n, chunk):
                hi = min(n, lo + chunk)
                fh.seek(lo * row_bytes)
                x = np.fromfile(fh, dtype=np.float32, count=(hi - lo) * n_feat).reshape(hi - lo, n_feat)
                y = np.ascontiguousarray(apply(x), dtype=np.float32)
                fh.seek(lo * row_bytes)
                fh.write(memoryview(y).cast("B"))
        return ff, norm

    def _load_input(self, name: str, reader, train_rows: np.ndarray, state: dict | None = None):
        if name == "video":
            return reader.video(), {"kind": "video", "scale": 1.0 / 255}
        if name == "pose":
            kp = self._keypoints(reader)
            feats = self._pose_features(reader, kp=kp)
            self._pending_keypoints = kp if self.keep_keypoints else None
            layout = self._set_pose_layout(reader, feats.shape[1])
            a, k, d, per_animal, n_pairs = (
                layout[x] for x in ("animals", "keypoints", "dims", "per_animal", "pairwise")
            )
            norm = {"kind": "pose", "scale": 1.0, "origin_mean": None, "origin_scale": 1.0}
            if self._normalizes("pose") and (len(train_rows) or state):
                pz = om = None
                osd = 1.0
                if n_pairs:
                    if state and state.get("pairwise_mean") is not None:
                        pz = ZScore(
                            np.asarray(state["pairwise_mean"], np.float32),
                            np.asarray(state["pairwise_std"], np.float32),
                        )
                    else:
                        pz = ZScore.fit(feats[:, a * per_animal :][train_rows])
                f = feats[:, : a * per_animal].reshape(len(feats), a, per_animal)
                if state:
                    scale = float(state["scale"])
                else:
                    scale = float(np.sqrt(np.mean(f[train_rows, :, : k * d] ** 2))) or 1.0
                if per_animal > k * d:
                    if state and state.get("origin_mean") is not None:
                        om, osd = np.asarray(state["origin_mean"], np.float32), float(state["origin_scale"])
                    else:
                        org = f[train_rows, :, k * d : k * d + d]
                        om = org.reshape(-1, d).mean(0)
                        osd = float(org.reshape(-1, d).std()) or 1.0
                norm.update(_pose_norm_state(pz, scale, om, osd))
                feats = _apply_pose_norm(feats, layout, pz, scale, om, osd)
            return feats.astype(np.float32), norm
        arr = np.asarray(reader.read(name), dtype=np.float32)
        if not np.isfinite(arr).all() and name != "behavior":
            raise FormatError(reader.path, name, "input contains NaN or infinite values")
        if name == "behavior":
            arr = np.nan_to_num(arr)
        norm = {"kind": "zscore" if self._normalizes(name) else "none"}
        if self._normalizes(name):
            if state and "mean" in state:
                z = ZScore(np.asarray(state["mean"], np.float32), np.asarray(state["std"], np.float32))
                if z.mean.shape[0] != arr.reshape(len(arr), -1).shape[1]:
                    raise FormatError(
                        reader.path,
                        name,
                        f"has {arr.shape[1]} columns but the normalisation state was fitted on {z.mean.shape[0]}",
                    )
            else:
                z = ZScore.fit(arr[train_rows])
            arr = z(arr)
            norm.update(z.state())
        return arr, norm

    def _load_labels(self, readers: list, orig_trials: np.ndarray, compact: bool = False):
        """The requested labels, each from the first of the session's files that has it
        (``compact``: discrete codes as int32, for large sessions served through row maps)."""
        labels, kinds = {}, {}
        behavior: dict[int, np.ndarray] = {}
        for name in self.label_names:
            for reader in readers:
                found = self._read_label(reader, name, orig_trials, behavior, compact)
                if found is not None:
                    labels[name], kinds[name], self._label_info[name] = found
                    break
            else:
                available = [
                    n
                    for r in readers
                    for n in (
                        (r.behavior_names if r.has("behavior") else []) + r.frame_label_names + r.sequence_label_names
                    )
                ]
                raise FormatError(
                    readers[0].path,
                    f"label '{name}'",
                    f"not found in the session (available: {', '.join(available) or 'none'})",
                )
        return labels, kinds

    @staticmethod
    def _read_label(reader, name: str, orig_trials: np.ndarray, behavior_cache: dict, compact: bool = False):
        """``(per-frame values, kind, info)`` of label ``name`` in one file, or None."""
        codes_dtype = np.int32 if compact else np.int64
        behavior_names = reader.behavior_names if reader.has("behavior") else []
        cols = (
            [behavior_names.index(name)]
            if name in behavior_names
            else [i for i, b in enumerate(behavior_names) if b.startswith(f"{name}.")]
        )
        if cols:
            if id(reader) not in behavior_cache:
                behavior_cache[id(reader)] = np.asarray(reader.read("behavior"), dtype=np.float32)
            return (
                behavior_cache[id(reader)][:, cols],
                "continuous",
                {
                    "kind": "continuous",
                    "dim": len(cols),
                    "source": "behavior",
                    "columns": [behavior_names[i] for i in cols],
                },
            )
        if name in reader.frame_label_names:
            codes, vocab = reader.frame_label(name)
            return (
                codes.astype(codes_dtype),
                "discrete",
                {"kind": "discrete", "dim": 1, "source": "frame", "vocabulary": list(vocab)},
            )
        if name in reader.sequence_label_names:
            vals, kind, vocab = reader.sequence_label(name)
            per_frame = np.zeros(reader.n_frames, dtype=np.float32 if kind == "continuous" else codes_dtype)
            per_frame[:] = np.nan if kind == "continuous" else -1
            for (a, b), v in zip(orig_trials, vals):
                per_frame[a:b] = v
            return (
                per_frame[:, None] if kind == "continuous" else per_frame,
                kind,
                {"kind": kind, "dim": 1, "source": "sequence", "vocabulary": list(vocab) if vocab else None},
            )
        return None

    # ------------------------------------------------------------------ description
    @property
    def spec(self) -> dict[str, Any]:
        """Plain-dict description of the inputs and labels, passed to models as ``data_spec``."""
        self.setup()
        inputs = {
            name: {
                "shapes": [list(input_shape(s, name)) for s in self.full_data],
                "normalized": name != "video" and self._normalizes(name),
                "counts": name == "spikes" and not self._normalizes(name),
                **({"layout": "hwc"} if name == "video" else {}),
            }
            for name in self.inputs
        }
        spec = {
            "input": self.input,
            "input_shapes": inputs[self.input]["shapes"],
            "inputs": inputs,
            "session_ids": list(self.session_ids),
            "labels": {k: dict(v) for k, v in self._label_info.items()},
            "fps": float(self.readers[0].fps),
        }
        if self._pose_layout is not None:
            spec["pose_layout"] = {k: v for k, v in self._pose_layout.items()}
        return spec

    # ------------------------------------------------------------------ loaders
    def _dataset(self, stage: str):
        """The attached model's dataset for ``stage`` (frame by frame without a model)."""
        self.setup()
        splits = self.split_data.get(stage, [])
        if not splits:
            return None
        if self.model is not None:
            return self.model.make_dataset(splits, stage, seed=self.seed + {"train": 0, "val": 1, "test": 2}[stage])
        from behavenet.data.datasets import WindowDataset

        return WindowDataset(splits, left=0, right=1, inputs=self.inputs)

    def _loader(self, stage: str):
        ds = self._dataset(stage)
        if ds is None:
            return []
        if stage == "train":
            self._augment_keys = list(getattr(ds, "augment_keys", []))
        # Lightning's distributed sampler is off (trainer.use_distributed_sampler: false in the
        # multi-process configs): each dataset/sampler takes this rank's share itself.
        rank, world = self._rank_world()
        return make_loader(
            ds,
            self.batch_size,
            stage,
            seed=self.seed,
            rank=rank,
            world_size=world,
            num_workers=self.num_workers,
            persistent_workers=self.persistent_workers,
        )

    def _rank_world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def train_dataloader(self):
        return self._loader("train")

    def val_dataloader(self):
        return self._loader("val")

    def test_dataloader(self):
        return self._loader("test")

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Pose augmentation of training batches ``{"inputs": {"pose": ...}}`` (when the model's
        dataset names ``pose`` among its ``augment_keys``)."""
        if self._augment is None or not self._augment.active or "pose" not in self._augment_keys:
            return batch
        trainer = getattr(self, "trainer", None)
        if trainer is None or not trainer.training:
            return batch
        if not hasattr(self, "_aug_gen"):
            self._aug_gen = torch.Generator().manual_seed(self.seed + 12345)
        inputs = batch.get("inputs") if isinstance(batch, dict) else None
        if inputs is not None and "pose" in inputs:
            inputs["pose"] = self.augment_pose(inputs["pose"], self._aug_gen)
        return batch

    def training_window_transforms(self) -> dict:
        """For models that gather their own training windows (index batches, e.g. the
        contrastive family): ``{input name: callable}`` applying the augmentation to ``(B, L, F)``
        windows of that input, one random transform per window (seeded); ``{}`` without
        augmentation."""
        if self._augment is None or not self._augment.active or "pose" not in self.inputs:
            return {}
        gen = torch.Generator().manual_seed(self.seed + 12345)
        return {"pose": lambda windows: self.augment_pose(windows, gen)}

    def augment_pose(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        """Apply the configured augmentation to pose feature tensors ``(..., F)``."""
        lay = self._pose_layout
        if lay is None or self._augment is None:
            return x
        a, k, d, per = lay["animals"], lay["keypoints"], lay["dims"], lay["per_animal"]
        shape = x.shape
        flat = x.reshape(shape[0], -1, shape[-1])
        y = flat[..., : a * per].reshape(shape[0], -1, a, per).clone()
        kp = y[..., : k * d].reshape(shape[0], -1, a, k, d)
        device = x.device
        kp = self._augment(kp.cpu(), generator).to(device)
        y[..., : k * d] = kp.reshape(shape[0], -1, a, k * d)
        # distances between animals are unchanged by rotation/reflection; jitter is not applied to them
        out = torch.cat([y.reshape(shape[0], -1, a * per), flat[..., a * per :]], dim=-1)
        return out.reshape(shape)

    # ------------------------------------------------------------------ export helpers
    def iter_full_sessions(self):
        """Yield ``(session_id, SplitData over all frames, role_per_frame)`` in file order."""
        self.setup()
        for sid, sd, roles in zip(self.session_ids, self.full_data, self.frame_roles):
            yield sid, sd, roles[np.asarray(sd.frame_index)]

    def teardown(self, stage: str | None = None) -> None:
        """Close the session files (they reopen on demand). Without a ``stage`` (not one of
        Lightning's per-stage calls) also delete the temporary feature files of large sessions;
        the next :meth:`setup` computes them again."""
        for r in getattr(self, "_all_readers", self.readers):
            r.close()
        if self._features is not None:
            for ff in self._features._files:
                ff.close()
            if stage is None:
                self._features.cleanup()
                self._features = None
                self._ready = False
                self.split_data, self.full_data, self.frame_roles, self.normalizers = {}, [], [], []
                self._label_info, self._time_split, self._trial_counts = {}, {}, {}


def _is_session_file(path) -> bool:
    """A behavenet session file or an original BehaveNet file (both are read directly)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            from behavenet.data.format import FORMAT_NAME, decode_strings, is_behavenet_v1

            return (decode_strings(f.attrs.get("format", ""))[0] == FORMAT_NAME) or is_behavenet_v1(f)
    except (OSError, ValueError):
        return False


class FrameRoles:
    """The role (``"train"``, ``"val"``, ``"test"``, ``"gap"``; ``"none"`` outside every piece)
    of frames of a large session, looked up from its pieces instead of one string per frame:
    ``roles[frame numbers]`` → object array."""

    def __init__(self, bounds: np.ndarray, roles: np.ndarray, n_frames: int):
        bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
        order = np.argsort(bounds[:, 0], kind="stable")
        self.bounds = bounds[order]
        self.roles = np.append(np.asarray(roles, dtype=object)[order], "none")
        self.n_frames = int(n_frames)

    def __len__(self) -> int:
        return self.n_frames

    def __getitem__(self, frames):
        frames = np.asarray(frames, dtype=np.int64)
        piece = np.searchsorted(self.bounds[:, 0], frames, side="right") - 1
        inside = (piece >= 0) & (frames < self.bounds[np.maximum(piece, 0), 1]) if len(self.bounds) else False
        return self.roles[np.where(inside, piece, len(self.roles) - 1)]

    def __array__(self, dtype=None, copy=None):
        out = self[np.arange(self.n_frames)]
        return out if dtype is None else out.astype(dtype)


def _pose_norm_state(pz, scale: float, om, osd: float) -> dict:
    """The pose normalisation statistics as stored in ``normalization.json``."""
    out = {}
    if pz is not None:
        out.update(pairwise_mean=pz.mean.tolist(), pairwise_std=pz.std.tolist())
    out["scale"] = scale
    if om is not None:
        out.update(origin_mean=np.asarray(om).tolist(), origin_scale=osd)
    return out


def _apply_pose_norm(feats: np.ndarray, layout: dict, pz, scale: float, om, osd: float) -> np.ndarray:
    """Pose features ``(T, F)`` normalised: egocentric coordinates divided by ``scale``, each
    animal's origin centred on ``om`` and divided by ``osd`` (when ``om`` is given), the pairwise
    distances z-scored by ``pz`` (when given). Row by row, so chunks give the rows of the whole."""
    a, k, d, per = (layout[x] for x in ("animals", "keypoints", "dims", "per_animal"))
    pairs = feats[:, a * per :]
    if pz is not None:
        pairs = pz(pairs)
    f = feats[:, : a * per].reshape(len(feats), a, per)
    f[:, :, : k * d] /= scale
    if om is not None:
        f[:, :, k * d : k * d + d] = (f[:, :, k * d : k * d + d] - om) / osd
    return np.concatenate([f.reshape(len(feats), -1), pairs], axis=1)


def _rows(bounds: np.ndarray) -> np.ndarray:
    bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    if len(bounds) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in bounds])


def _merge_contiguous(bounds: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """Merge consecutive pieces that touch in time and lie in the same original trial (pieces of
    one chunked recording assigned to the same split), so windows may run across them."""
    bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    if len(bounds) < 2:
        return bounds
    trial_of = np.searchsorted(np.asarray(trials)[:, 0], bounds[:, 0], side="right") - 1
    out = [list(bounds[0])]
    for (a, b), t, t_prev in zip(bounds[1:], trial_of[1:], trial_of[:-1]):
        if a == out[-1][1] and t == t_prev:
            out[-1][1] = b
        else:
            out.append([a, b])
    return np.array(out, dtype=np.int64)


def _segments(bounds: np.ndarray) -> np.ndarray:
    lengths = np.diff(np.asarray(bounds, dtype=np.int64).reshape(-1, 2), axis=1).ravel()
    stops = np.cumsum(lengths)
    return np.stack([stops - lengths, stops], axis=1) if len(lengths) else np.zeros((0, 2), np.int64)


class NeuralDataModule(SessionDataModule):
    """Spikes or calcium as input (``input="spikes"`` by default)."""

    def __init__(self, files, input: str = "spikes", **kwargs):
        if input not in ("spikes", "calcium"):
            raise ConfigError("data.input", f"NeuralDataModule reads spikes or calcium, got {input!r}")
        super().__init__(files, input=input, **kwargs)


class PoseDataModule(SessionDataModule):
    """Keypoints as input (egocentric, flattened per animal)."""

    def __init__(self, files, **kwargs):
        kwargs.pop("input", None)
        super().__init__(files, input="pose", **kwargs)


class VideoDataModule(SessionDataModule):
    """Video frames as input, read lazily one window at a time."""

    def __init__(self, files, **kwargs):
        kwargs.pop("input", None)
        super().__init__(files, input="video", **kwargs)


class PairedDataModule(SessionDataModule):
    """Neural input paired with behaviour labels (e.g. spikes + position for decoding)."""

    def __init__(self, files, input: str = "spikes", labels: list[str] | None = None, **kwargs):
        if not labels:
            raise ConfigError("data.labels", "PairedDataModule needs at least one behaviour label")
        super().__init__(files, input=input, labels=labels, **kwargs)
