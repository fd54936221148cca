"""NWB files: ndx-pose pose, Units -> binned spikes, Position/BehavioralTimeSeries -> behaviour.

Reading (``pip install 'behavenet[nwb]'``: pynwb, ndx-pose; imported lazily)
--------------------------------------------------------------------------
* every ndx-pose ``PoseEstimation`` is one animal, its ``PoseEstimationSeries`` the keypoints (in
  the skeleton's / ``nodes`` order); a prefix shared by all series names (``ind1_snout``,
  ``ind1_tailbase``) is taken as the animal name; confidence -> confidence; skeleton edges kept;
* the session time base is the pose's: one frame per pose sample, ``fps`` from the series
  ``rate`` or the median timestamp step. Timestamps that are frame numbers (0, 1, 2, ...) are
  recognised: the frame rate is then unknown (pass ``fps`` or attach the video);
* ``Units`` spike times are binned on that time base (``bin_width = 1 / fps``); without pose the
  time base is the bins themselves (``bin_width``, default 0.025 s), from the earliest spike /
  epoch / trial start to the latest;
* ``Position``, ``BehavioralTimeSeries`` and ``CompassDirection`` series become behaviour variables
  (``<series>_<column>``), resampled to the session time base: bin means when the series is
  sampled faster than the session, linear interpolation otherwise; NaN outside their time range;
* the ``trials`` table becomes the session's trials (frames whose start time falls in a trial).

Lost: timestamps beyond the frame rate (irregular sampling is flattened to frame order), NWB
units/conversion/offset metadata other than ``units``, electrodes, and everything else in the
file. ``session_start_time``, ``identifier`` and ``reference_frame`` are kept in ``attrs``.

Writing: :func:`write_pose_nwb` writes a session's pose as ndx-pose (one ``PoseEstimation`` and
``Skeleton`` per animal, ``rate = fps``), plus its trials.
"""

from __future__ import annotations

import logging
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from behavenet.data.format import Behavior, Pose, Session, Spikes
from behavenet.errors import ConfigError, DependencyError, FormatError
from behavenet.io._common import (
    FPS_ASSUMED,
    FPS_DEFAULT,
    FPS_FROM_FILE,
    FPS_FROM_USER,
    check_fps,
    default_session_id,
    h5_open,
)
from behavenet.io._registry import register_loader
from behavenet.utils.files import atomic_path
from behavenet.utils.plain import to_str

log = logging.getLogger(__name__)

DEFAULT_BIN_WIDTH = 0.025
BEHAVIOR_TYPES = ("Position", "BehavioralTimeSeries", "CompassDirection")


def _import_nwb():
    try:
        import pynwb  # noqa: PLC0415
    except ImportError:
        raise DependencyError("pynwb", "nwb", "Reading and writing NWB files") from None
    try:
        import ndx_pose  # noqa: F401,PLC0415  (registers the PoseEstimation classes)
    except ImportError:
        pass
    return pynwb


def sniff_nwb(path: Path) -> bool:
    f = h5_open(path)
    if f is None:
        return False
    with f:
        return "nwb_version" in f.attrs or to_str(f.attrs.get("namespace", ""), errors="replace") == "core"


# --------------------------------------------------------------------------- time helpers
def _series_times(series, n: int, path) -> np.ndarray:
    ts = series.timestamps
    if ts is not None:
        t = np.asarray(ts[:] if hasattr(ts, "__getitem__") else ts, dtype=np.float64)
        if t.shape[0] != n:
            raise FormatError(path, series.name, f"{t.shape[0]} timestamps for {n} samples")
        return t
    rate = series.rate
    if not rate:
        raise FormatError(path, series.name, "neither timestamps nor a sampling rate")
    start = series.starting_time or 0.0
    return start + np.arange(n) / float(rate)


def _looks_like_frame_numbers(t: np.ndarray) -> bool:
    return len(t) > 1 and np.all(t == np.round(t)) and np.all(np.diff(t) == 1)


def _resample(times: np.ndarray, values: np.ndarray, grid: np.ndarray, step: float) -> np.ndarray:
    """Values of a series at the session frames ``grid`` (frame start times, spacing ``step``)."""
    values = values.reshape(len(values), -1).astype(np.float64)
    out = np.full((len(grid), values.shape[1]), np.nan)
    if len(times) == 0:
        return out
    dt = np.median(np.diff(times)) if len(times) > 1 else step
    if dt < step / 1.5:  # denser than the frames: average the samples of each frame
        idx = np.floor((times - grid[0]) / step).astype(np.int64)
        ok = (idx >= 0) & (idx < len(grid))
        for j in range(values.shape[1]):
            v = values[ok, j]
            good = np.isfinite(v)
            s = np.bincount(idx[ok][good], weights=v[good], minlength=len(grid))
            c = np.bincount(idx[ok][good], minlength=len(grid))
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, j] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    else:
        for j in range(values.shape[1]):
            out[:, j] = np.interp(grid, times, values[:, j], left=np.nan, right=np.nan)
    return out


# --------------------------------------------------------------------------- pose
def _field(obj, name):
    try:
        return obj.fields.get(name)
    except AttributeError:
        return getattr(obj, name, None)


def _read_pose(path, pes, fps_user):
    """Pose arrays from PoseEstimation objects; returns (pose, times, info)."""
    animals, per_animal, times_ref, info = [], [], None, {}
    all_names = None
    edges_named = None
    for pe in pes:
        series = dict(pe.pose_estimation_series)
        if not series:
            continue
        skeleton = _field(pe, "skeleton")
        node_order = (
            list(skeleton.nodes[:])
            if skeleton is not None
            else (list(_field(pe, "nodes")[:]) if _field(pe, "nodes") is not None else None)
        )
        node_order = [to_str(n, errors="replace") for n in node_order] if node_order is not None else None
        names = node_order if node_order and set(node_order) == set(series) else sorted(series)
        prefix = os.path.commonprefix(names) if len(names) > 1 else ""
        if prefix and not prefix.endswith("_"):
            prefix = prefix[: prefix.rfind("_") + 1] if "_" in prefix else ""
        keypoints = [n[len(prefix) :] for n in names]
        if prefix:
            animal = prefix[:-1]
        elif skeleton is not None and getattr(skeleton, "subject", None) is not None and skeleton.subject.subject_id:
            animal = skeleton.subject.subject_id
        elif pe.name.startswith("PoseEstimation_"):
            animal = pe.name[len("PoseEstimation_") :]
        else:
            animal = pe.name if len(pes) > 1 else "animal0"
        if all_names is None:
            all_names = keypoints
        elif keypoints != all_names:
            raise FormatError(path, pe.name, f"keypoints {keypoints} differ from {all_names} of another PoseEstimation")
        data, conf = [], []
        for n in names:
            s = series[n]
            d = np.asarray(s.data[:], dtype=np.float64)
            if d.ndim == 1:
                d = d[:, None]
            t = _series_times(s, len(d), path)
            if times_ref is None:
                times_ref = t
            elif len(t) != len(times_ref) or not np.allclose(t, times_ref):
                raise FormatError(path, s.name, "pose series have different timestamps; behavenet needs one time base")
            data.append(d)
            c = s.confidence
            conf.append(None if c is None else np.asarray(c[:], dtype=np.float32))
            info.setdefault("reference_frame", s.reference_frame)
            info.setdefault("pose_unit", s.unit)
        dims = {d.shape[1] for d in data}
        if len(dims) != 1 or dims.pop() not in (2, 3):
            raise FormatError(path, pe.name, "keypoint series must all be (T, 2) or all (T, 3)")
        animals.append(animal)
        kp = np.stack(data, axis=1)  # (T, K, D)
        cf = (
            None
            if all(c is None for c in conf)
            else np.stack([c if c is not None else np.full(len(kp), np.nan, np.float32) for c in conf], axis=1)
        )
        per_animal.append((kp, cf))
        edges = _field(skeleton, "edges") if skeleton is not None else _field(pe, "edges")
        if edges is not None and edges_named is None:
            e = np.asarray(edges[:])
            if e.size:
                order = node_order if node_order else names
                edges_named = [
                    (order[int(a)][len(prefix) :], order[int(b)][len(prefix) :]) for a, b in e.reshape(-1, 2)
                ]
        for key in ("scorer", "source_software", "source_software_version"):
            if _field(pe, key) is not None:
                info.setdefault(key, str(_field(pe, key)))
        vids = _field(pe, "original_videos")
        if vids is not None:
            info.setdefault("original_videos", [to_str(v, errors="replace") for v in vids[:]])
    if not per_animal:
        return None, None, info
    if len(set(animals)) != len(animals):
        animals = [f"{a}_{i}" for i, a in enumerate(animals)]
    kp = np.stack([k for k, _ in per_animal], axis=1).astype(np.float32)  # (T, A, K, D)
    has_conf = any(c is not None for _, c in per_animal)
    conf = None
    if has_conf:
        conf = np.stack(
            [c if c is not None else np.full(kp.shape[:1] + kp.shape[2:3], np.nan, np.float32) for _, c in per_animal],
            axis=1,
        )
    pose = Pose(
        keypoints=kp,
        keypoint_names=all_names,
        animal_names=animals,
        confidence=conf,
        units="px" if info.get("pose_unit") in (None, "pixels", "pixel", "px") else str(info["pose_unit"]),
        skeleton=edges_named,
    )
    return pose, times_ref, info


# --------------------------------------------------------------------------- loader
@register_loader(
    "nwb",
    suffixes=(".nwb",),
    sniff=sniff_nwb,
    priority=10,
    extra="nwb",
    expects="an NWB file (HDF5 with an nwb_version attribute)",
    description="NWB: ndx-pose PoseEstimation, Units (binned), Position/BehavioralTimeSeries",
)
def load_nwb(
    path: Path,
    *,
    fps: float | None = None,
    bin_width: float | None = None,
    pose_name: str | None = None,
    units: bool = True,
    behavior: bool = True,
    t_start: float | None = None,
    t_stop: float | None = None,
) -> Session:
    """Read pose, spikes and behaviour from an NWB file onto one time base.

    Parameters
    ----------
    fps
        Frame rate of the pose when its timestamps are frame numbers (or to override it).
    bin_width
        Spike bin width in seconds when the file has no pose (default 0.025); with pose it must
        be ``1 / fps``.
    pose_name
        Import only the PoseEstimation of this name.
    units, behavior
        Import the Units table / behaviour series.
    t_start, t_stop
        Time range (s) of a session without pose.
    """
    pynwb = _import_nwb()
    fps_user = check_fps(fps, path)
    if bin_width is not None:
        bin_width = check_fps(bin_width, path)  # a positive number
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            io = pynwb.NWBHDF5IO(str(path), "r", load_namespaces=True)
            nwb = io.read()
    except Exception as exc:
        raise FormatError(
            path,
            None,
            f"not a readable NWB file (truncated or corrupt?): {type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:300]}",
        ) from None
    try:
        return _build(path, nwb, fps_user, bin_width, pose_name, units, behavior, t_start, t_stop)
    finally:
        io.close()


def _build(path, nwb, fps_user, bin_width, pose_name, want_units, want_behavior, t_start, t_stop) -> Session:
    objs = list(nwb.objects.values())
    pes = sorted([o for o in objs if getattr(o, "neurodata_type", None) == "PoseEstimation"], key=lambda o: o.name)
    if pose_name is not None:
        pes = [o for o in pes if o.name == pose_name]
        if not pes:
            raise FormatError(path, "pose_name", f"no PoseEstimation named {pose_name!r}")
    pose, ptimes, info = _read_pose(path, pes, fps_user)
    unit_table = nwb.units if want_units else None
    spike_trains, unit_names = [], []
    if unit_table is not None and len(unit_table) > 0:
        for i in range(len(unit_table)):
            spike_trains.append(np.asarray(unit_table["spike_times"][i], dtype=np.float64))
        ids = unit_table.id[:]
        if "unit_name" in unit_table.colnames:
            unit_names = [str(x) for x in unit_table["unit_name"][:]]
        else:
            unit_names = [f"unit{int(u)}" for u in ids]
    behav_series = []
    if want_behavior:
        for o in objs:
            if getattr(o, "neurodata_type", None) in BEHAVIOR_TYPES:
                children = {}
                for attr in ("spatial_series", "time_series"):
                    try:
                        children.update(getattr(o, attr) or {})
                    except AttributeError:
                        pass
                for name in sorted(children):
                    behav_series.append((o.neurodata_type, children[name], o.name))
        behav_series = [(t, s) for t, s, _ in sorted(behav_series, key=lambda e: (e[2], e[1].name))]
    if pose is None and not spike_trains and not behav_series:
        raise FormatError(
            path,
            None,
            "nothing to import: no ndx-pose PoseEstimation, no Units and no "
            "Position/BehavioralTimeSeries in this NWB file",
        )
    session = Session(session_id=default_session_id(path), fps=1.0, source_software="NWB")
    attrs = session.attrs
    attrs["nwb_identifier"] = str(nwb.identifier)
    attrs["session_start_time"] = str(nwb.session_start_time)
    if nwb.session_description:
        session.description = str(nwb.session_description)
    if nwb.subject is not None and nwb.subject.species:
        session.species = str(nwb.subject.species)

    # ---- time base
    if pose is not None:
        T = pose.keypoints.shape[0]
        frame_numbers = _looks_like_frame_numbers(ptimes)
        if fps_user is not None:
            fps, src = fps_user, FPS_FROM_USER
        elif frame_numbers:
            fps, src = 1.0, FPS_ASSUMED
            log.info("%s: pose timestamps are frame numbers (0, 1, 2, ...), not seconds", path)
        else:
            d = np.diff(ptimes)
            if len(d) == 0 or not np.all(d > 0):
                raise FormatError(path, "pose timestamps", "not strictly increasing")
            fps, src = 1.0 / float(np.median(d)), FPS_FROM_FILE
            if np.max(np.abs(d - np.median(d))) > 0.5 * np.median(d):
                log.warning("%s: irregular pose timestamps; frames are kept in sample order at %.4g fps", path, fps)
        if bin_width is not None and not np.isclose(bin_width * fps, 1.0, rtol=1e-3):
            raise ConfigError(
                "bin_width", f"with pose the spike bins are the pose frames (1/{fps:g} s); got bin_width={bin_width}"
            )
        if frame_numbers:
            grid = ptimes / fps  # frame numbers -> seconds at the given/assumed rate
        else:
            grid = ptimes[0] + np.arange(T) / fps
        step = 1.0 / fps
        if frame_numbers and src == FPS_ASSUMED and (spike_trains or behav_series):
            raise ConfigError(
                "fps",
                f"{path}: the pose timestamps are frame numbers; pass fps=... so that spikes "
                "and behaviour can be aligned to the frames",
            )
        session.pose = pose
        attrs["pose_timestamps"] = "frame numbers" if frame_numbers else "seconds"
        attrs.update({k: v for k, v in info.items()})
        if info.get("source_software"):
            session.source_software = f"NWB ({info['source_software']})"
    else:
        if spike_trains:
            step = bin_width or DEFAULT_BIN_WIDTH
            src = FPS_FROM_USER if bin_width else FPS_DEFAULT
            starts = [st[0] for st in spike_trains if len(st)]
            stops = [st[-1] for st in spike_trains if len(st)]
            for table in (nwb.epochs, nwb.trials):
                if table is not None and len(table) > 0:
                    starts.append(float(np.min(table["start_time"][:])))
                    stops.append(float(np.max(table["stop_time"][:])))
            lo = float(min(starts)) if t_start is None else float(t_start)
            hi = float(max(stops)) if t_stop is None else float(t_stop)
            lo = np.floor(lo / step) * step
        else:
            name, s = behav_series[0]
            n = len(s.data)
            t = _series_times(s, n, path)
            d = np.diff(t)
            step = float(np.median(d)) if len(d) else 1.0
            src = FPS_FROM_FILE
            lo = float(t[0]) if t_start is None else float(t_start)
            hi = float(t[-1] + step) if t_stop is None else float(t_stop)
        if hi <= lo:
            raise FormatError(path, "t_stop", f"empty time range [{lo}, {hi})")
        T = int(np.ceil((hi - lo) / step - 1e-9))
        grid = lo + np.arange(T) * step
        fps = 1.0 / step
    session.fps = float(fps)
    attrs["fps_source"] = src
    attrs["t0"] = float(grid[0])

    # ---- spikes
    if spike_trains:
        edges = np.append(grid, grid[-1] + step)
        counts = np.stack([np.histogram(st, bins=edges)[0] for st in spike_trains], axis=1).astype(np.int32)
        outside = sum(int(((st < edges[0]) | (st >= edges[-1])).sum()) for st in spike_trains)
        if outside:
            attrs["spikes_outside_time_base"] = outside
        session.spikes = Spikes(counts=counts, bin_width=step, unit_names=unit_names)
    # ---- behaviour
    if behav_series:
        cols, names, units = [], [], []
        for owner, s in behav_series:
            v = np.asarray(s.data[:], dtype=np.float64)
            t = _series_times(s, len(v), path)
            if src == FPS_ASSUMED:
                continue
            r = _resample(t, v, grid, step)
            ncol = r.shape[1]
            labels = ["x", "y", "z"][:ncol] if (owner == "Position" and ncol <= 3) else [str(j) for j in range(ncol)]
            for j in range(ncol):
                cols.append(r[:, j])
                names.append(s.name if ncol == 1 else f"{s.name}_{labels[j]}")
                units.append(str(s.unit))
        if cols:
            session.behavior = Behavior(values=np.stack(cols, axis=1), names=names, units=units)
    # ---- trials
    if nwb.trials is not None and len(nwb.trials) > 0 and src != FPS_ASSUMED:
        # frames whose start time lies in [start_time, stop_time), to a microsecond
        tol = 1e-6 * step
        starts = np.searchsorted(grid, np.asarray(nwb.trials["start_time"][:]) - tol, side="left")
        stops = np.searchsorted(grid, np.asarray(nwb.trials["stop_time"][:]) - tol, side="left")
        bounds = np.stack([starts, stops], axis=1)
        bounds = bounds[bounds[:, 1] > bounds[:, 0]]
        if len(bounds) and np.all(bounds[1:, 0] >= bounds[:-1, 1]):
            session.trials = bounds.astype(np.int64)
            session.trial_names = [f"trial_{i:04d}" for i in range(len(bounds))]
        elif len(bounds):
            log.warning("%s: NWB trials overlap or are unsorted; not imported", path)
    if nwb.epochs is not None and len(nwb.epochs) > 0:
        attrs["epochs"] = [
            [float(a), float(b)] for a, b in zip(nwb.epochs["start_time"][:], nwb.epochs["stop_time"][:])
        ]
    return session


# --------------------------------------------------------------------------- writer
def write_pose_nwb(
    session: Session, path: str | os.PathLike, overwrite: bool = False, session_start_time: datetime | None = None
) -> Path:
    """Write the pose of ``session`` (and its trials) to an NWB file with ndx-pose.

    One ``Skeleton`` and one ``PoseEstimation`` (``PoseEstimation_<animal>``) per animal, one
    ``PoseEstimationSeries`` per keypoint (``rate = fps``, ``starting_time = 0``). Written to a
    temporary file and renamed, so a failed write leaves nothing behind.
    """
    pynwb = _import_nwb()
    try:
        from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons
    except ImportError:
        raise DependencyError("ndx-pose", "nwb", "Writing pose to NWB") from None
    path = Path(path)
    if path.exists() and not overwrite:
        raise FormatError(path, None, "output file exists; pass overwrite=True to replace it")
    pose = session.pose
    if pose is None:
        raise FormatError(session.session_id, "pose", "the session has no pose to write")
    start = session_start_time or datetime.now(timezone.utc)
    nwb = pynwb.NWBFile(
        session_description=session.description or "behavenet session",
        identifier=str(session.session_id),
        session_start_time=start,
    )
    if session.species:
        nwb.subject = pynwb.file.Subject(species=session.species, subject_id=str(session.session_id))
    module = nwb.create_processing_module(name="behavior", description="pose written by behavenet")
    skeletons, estimations = [], []
    name_index = {k: i for i, k in enumerate(pose.keypoint_names)}
    edges = np.array(
        [[name_index[a], name_index[b]] for a, b in (pose.skeleton or []) if a in name_index and b in name_index],
        dtype=np.uint8,
    ).reshape(-1, 2)
    for a, animal in enumerate(pose.animal_names):
        skel = Skeleton(name=f"skeleton_{animal}", nodes=list(pose.keypoint_names), edges=edges)
        skeletons.append(skel)
        series = []
        for k, kp_name in enumerate(pose.keypoint_names):
            kwargs = {}
            if pose.confidence is not None:
                kwargs["confidence"] = pose.confidence[:, a, k].astype(np.float32)
                kwargs["confidence_definition"] = "confidence / likelihood from the source software"
            series.append(
                PoseEstimationSeries(
                    name=kp_name,
                    data=pose.keypoints[:, a, k].astype(np.float32),
                    reference_frame="image coordinates: (0, 0) is the top-left corner of the video frame",
                    unit="pixels" if pose.units == "px" else pose.units,
                    rate=float(session.fps),
                    starting_time=0.0,
                    description=f"keypoint {kp_name} of {animal}",
                    **kwargs,
                )
            )
        extra = {}
        if session.video is not None and session.video.path:
            extra["original_videos"] = [str(session.video.path)]
        estimations.append(
            PoseEstimation(
                name=f"PoseEstimation_{animal}",
                pose_estimation_series=series,
                description=f"pose of {animal} written by behavenet from {session.source_software or 'a session'}",
                source_software=session.source_software or "behavenet",
                skeleton=skel,
                **extra,
            )
        )
    module.add(Skeletons(skeletons=skeletons))
    for pe in estimations:
        module.add(pe)
    bounds = session.trial_bounds()
    if session.trials is not None and len(bounds) > 0:
        for b0, b1 in bounds:
            nwb.add_trial(start_time=float(b0) / session.fps, stop_time=float(b1) / session.fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pynwb.NWBHDF5IO(tmp, "w") as io:
            io.write(nwb)
    return path
