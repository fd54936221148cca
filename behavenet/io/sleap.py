"""SLEAP: ``.slp`` label/prediction files (via sleap-io) and analysis ``.h5`` exports (h5py only).

Mapping
-------
* tracks -> animals (in the file's track order); untracked projects get one animal slot per
  instance in each frame (``instance0``, ``instance1``, ...);
* ``max_animals=N`` packs the tracks into N animal slots (``animal0``, ...): a tracker that lost
  identities leaves many short tracks (fragments) that never overlap in time. Fragments are taken
  in order of their first frame; each goes to the slot whose last frame is before its first frame
  and whose last position (centroid) is nearest to its first one, to an empty slot when no used
  slot is free, and is dropped (with a warning giving the instance count) when all N slots are
  busy. The session's ``attrs`` record ``sleap_tracks`` (how many tracks the file had) and, when
  packed, ``sleap_packed_into`` and ``sleap_dropped_instances``;
* nodes -> keypoints, skeleton edges -> ``Pose.skeleton``;
* invisible points -> NaN; predicted point scores -> confidence (user-labelled points get 1.0);
* ``instances="user" | "predicted" | "both"`` chooses which instances count; with ``"both"``
  (default) a user instance replaces the predicted one of the same track (or, untracked, a frame's
  user instances replace its predictions);
* frames are placed at their ``frame_idx``: the pose covers frames ``0..max(frame_idx)``; an
  attached video (found or ``video=PATH``) that is longer pads it to the video's length with a
  warning, exactly as for every other source (:func:`behavenet.io._common.attach_video`);
* the video stored in the file is looked up as stored, relative to the ``.slp`` folder, and by
  name in the ``.slp`` folder and in ``video_root``; ``video=PATH`` replaces it (with a warning
  when the stored video is found and differs from it in frame count or frame rate). Found videos
  are referenced by the session (and give the frame rate). Several videos -> one trial per video,
  unless ``video_index`` picks one.

Lost: instance and tracking scores, user-instance provenance (``from_predicted``), suggestions,
negative anchors, and all but the chosen instances.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from behavenet.data.format import Pose, Session
from behavenet.errors import ConfigError, DependencyError, FormatError
from behavenet.io._common import (
    attach_video,
    concatenate_sessions,
    default_session_id,
    h5_open,
    resolve_fps,
)
from behavenet.io._registry import register_loader
from behavenet.utils.plain import decode_strings, to_str

log = logging.getLogger(__name__)

INSTANCE_CHOICES = ("both", "user", "predicted")


# --------------------------------------------------------------------------- sniffing
def _is_slp(f) -> bool:
    return "metadata" in f and ("frames" in f or "instances" in f) and "points" in f


def _is_analysis(f) -> bool:
    return "tracks" in f and "node_names" in f and isinstance(f["tracks"], __import__("h5py").Dataset)


def sniff_sleap(path: Path) -> bool:
    f = h5_open(path)
    if f is None:
        return False
    with f:
        return _is_slp(f) or _is_analysis(f)


# --------------------------------------------------------------------------- video lookup
def resolve_video(stored: str | None, owner: Path, video_root=None) -> Path | None:
    """Find the video a SLEAP file refers to: as stored, next to the file, or in ``video_root``."""
    if not stored:
        return None
    stored_path = Path(stored.replace("\\", "/"))
    candidates = []
    if stored_path.is_absolute():
        candidates.append(stored_path)
    else:
        candidates += [owner.parent / stored_path, Path.cwd() / stored_path]
    candidates.append(owner.parent / stored_path.name)
    if video_root is not None:
        root = Path(video_root)
        if not root.is_dir():
            raise FormatError(root, "video_root", "not a folder")
        candidates += [root / stored_path.name]
        if not stored_path.is_absolute():
            candidates.append(root / stored_path)
    for c in candidates:
        if c.is_file():
            return c
    return None


def _video_info(video_path: Path) -> tuple[int, float | None] | None:
    """(frame count, frame rate) of a video, or ``None`` when it cannot be read."""
    try:
        from behavenet.data.video import VideoFileReader

        with VideoFileReader(video_path) as r:
            return len(r), r.fps
    except Exception:  # noqa: BLE001 - only used for a warning
        return None


def _warn_if_replacing_stored_video(path: Path, stored: str | None, video, video_root) -> None:
    """``video=`` replaces the file's own video: say so when the two differ in length or rate."""
    try:
        found = resolve_video(stored, path, video_root)
    except FormatError:
        return
    if found is None or found.resolve() == Path(video).resolve():
        return
    mine, theirs = _video_info(Path(video)), _video_info(found)
    if mine is None or theirs is None:
        return
    (n_given, fps_given), (n_found, fps_found) = mine, theirs
    same_rate = fps_given is None or fps_found is None or np.isclose(fps_given, fps_found, rtol=1e-3)
    if n_given != n_found or not same_rate:

        def rate(fps):
            return f"{fps:g}" if fps else "?"

        log.warning(
            "%s: video=%s (%d frames, %s fps) replaces the video the labels were made on, %s "
            "(%d frames, %s fps); the session follows the given video",
            path,
            video,
            n_given,
            rate(fps_given),
            found,
            n_found,
            rate(fps_found),
        )


def _attach_found_video(session: Session, path: Path, stored: str | None, video, video_root) -> None:
    if video is not None:
        target = Path(video)
        _warn_if_replacing_stored_video(path, stored, video, video_root)
    else:
        target = resolve_video(stored, path, video_root)
    if stored:
        session.attrs["video_path_in_file"] = stored
    if target is None:
        if stored:
            log.warning(
                "%s: video %s not found (looked next to the file%s); pass video=... (--video) or video_root=...",
                path,
                stored,
                " and in video_root" if video_root else "",
            )
        return
    if video is not None:
        absolute = target.is_absolute()  # as the user gave it
    else:  # absolute only when the file stores an absolute path and the video is there
        stored_path = Path(stored.replace("\\", "/"))
        absolute = stored_path.is_absolute() and target == stored_path
    try:
        attach_video(session, target, absolute=absolute)
    except DependencyError:
        if video is not None:
            raise
        log.warning("%s: PyAV is not installed; the video %s is not attached", path, target)


# --------------------------------------------------------------------------- .slp
def _import_sleap_io():
    try:
        import sleap_io  # noqa: PLC0415
    except ImportError:
        raise DependencyError("sleap-io", "sleap", "Reading SLEAP .slp files") from None
    return sleap_io


def _centroid(inst) -> np.ndarray:
    xy = np.asarray(inst.points["xy"], dtype=np.float64)
    vis = np.asarray(inst.points["visible"], dtype=bool) & np.isfinite(xy).all(axis=1)
    return xy[vis].mean(axis=0) if vis.any() else np.full(2, np.nan)


def pack_tracks(tracks: list[tuple], max_animals: int) -> tuple[dict, int]:
    """Greedy packing of non-overlapping tracks into ``max_animals`` slots (see the module
    docstring). ``tracks``: ``(key, sorted frame indices, first centroid, last centroid)`` each.
    Returns ``({key: slot}, dropped instances)``; dropped tracks have no slot."""
    slot_of: dict = {}
    slot_last: list[tuple[int, np.ndarray]] = []  # per used slot: (last frame, last centroid)
    dropped = 0
    for key, frames, first_xy, last_xy in sorted(tracks, key=lambda t: (t[1][0], -len(t[1]))):
        free = [i for i, (last, _) in enumerate(slot_last) if last < frames[0]]
        if free:
            dist = [float(np.linalg.norm(slot_last[i][1] - first_xy)) for i in free]
            slot = free[int(np.argmin([d if np.isfinite(d) else np.inf for d in dist]))]
        elif len(slot_last) < max_animals:
            slot = len(slot_last)
            slot_last.append((-1, first_xy))
        else:
            dropped += len(frames)
            continue
        slot_of[key] = slot
        slot_last[slot] = (int(frames[-1]), last_xy if np.isfinite(last_xy).all() else first_xy)
    return slot_of, dropped


def _pack_arrays(kp: np.ndarray, conf, max_animals: int):
    """:func:`pack_tracks` on ``(T, tracks, K, 2)`` arrays (analysis files): returns the packed
    keypoints, confidence, animal names and the dropped instance count."""
    items = []
    for a in range(kp.shape[1]):
        frames = np.flatnonzero(np.isfinite(kp[:, a]).any(axis=(1, 2)))
        if len(frames):
            first, last = (np.nanmean(kp[i, a], axis=0) for i in (frames[0], frames[-1]))
            items.append((a, frames.tolist(), first, last))
    slot, dropped = pack_tracks(items, max_animals)
    n = max(slot.values()) + 1 if slot else 0
    out = np.full((kp.shape[0], n) + kp.shape[2:], np.nan, kp.dtype)
    out_conf = None if conf is None else np.full((conf.shape[0], n) + conf.shape[2:], np.nan, conf.dtype)
    for a, s_ in slot.items():
        rows = np.isfinite(kp[:, a]).any(axis=(1, 2))
        out[rows, s_] = kp[rows, a]
        if out_conf is not None:
            out_conf[rows, s_] = conf[rows, a]
    return out, out_conf, [f"animal{i}" for i in range(n)], dropped


def _warn_dropped(path, dropped: int, max_animals: int) -> None:
    if dropped:
        log.warning(
            "%s: %d instances of tracks overlapping all %d animal slots were dropped (max_animals=%d)",
            path,
            dropped,
            max_animals,
            max_animals,
        )


def _slp_session(path: Path, labels, video, instances: str, sio, max_animals: int | None = None) -> Session:
    lfs = [lf for lf in labels.labeled_frames if video is None or lf.video is video]
    chosen_kind = {
        "user": (sio.Instance,),
        "predicted": (sio.PredictedInstance,),
        "both": (sio.Instance, sio.PredictedInstance),
    }[instances]
    # skeleton
    skeletons = {id(inst.skeleton): inst.skeleton for lf in lfs for inst in lf.instances}
    if len(skeletons) > 1:
        raise FormatError(
            path,
            "skeletons",
            f"instances use {len(skeletons)} different skeletons; behavenet needs one skeleton per session",
        )
    skeleton = next(iter(skeletons.values())) if skeletons else (labels.skeletons[0] if labels.skeletons else None)
    if skeleton is None:
        raise FormatError(path, "skeletons", "the file has no skeleton and no instances")
    nodes = list(skeleton.node_names)
    edges = [(e.source.name, e.destination.name) for e in skeleton.edges]
    tracked = any(inst.track is not None for lf in lfs for inst in lf.instances)
    per_frame: dict[int, list] = {}
    n_untracked_skipped = 0
    for lf in lfs:
        insts = [i for i in lf.instances if type(i) in chosen_kind]
        if not insts:
            continue
        if tracked:
            by_track = {}
            for inst in insts:
                if inst.track is None:
                    n_untracked_skipped += 1
                    continue
                key = id(inst.track)
                prev = by_track.get(key)
                if prev is None or (
                    isinstance(prev, sio.PredictedInstance) and not isinstance(inst, sio.PredictedInstance)
                ):
                    by_track[key] = inst
            chosen = list(by_track.values())
        else:
            users = [i for i in insts if not isinstance(i, sio.PredictedInstance)]
            chosen = users if (users and instances == "both") else insts
        if chosen:
            per_frame.setdefault(int(lf.frame_idx), []).extend(chosen)
    if not per_frame:
        what = {"user": "user-labelled", "predicted": "predicted", "both": ""}[instances]
        raise FormatError(
            path,
            "instances",
            f"no {what + ' ' if what else ''}instances{' with a track' if tracked else ''} in this file",
        )
    if n_untracked_skipped:
        log.warning("%s: skipped %d instances without a track", path, n_untracked_skipped)
    extra_attrs = {}
    if tracked:
        used = {id(inst.track) for insts in per_frame.values() for inst in insts}
        tracks = [t for t in labels.tracks if id(t) in used]
        extra_attrs["sleap_tracks"] = len(tracks)
        if max_animals is not None and len(tracks) > max_animals:
            insts_of: dict[int, list] = {}
            for fi in sorted(per_frame):
                for inst in per_frame[fi]:
                    insts_of.setdefault(id(inst.track), []).append((fi, inst))
            items = [(key, [fi for fi, _ in v], _centroid(v[0][1]), _centroid(v[-1][1])) for key, v in insts_of.items()]
            slot, dropped = pack_tracks(items, max_animals)
            per_frame = {
                fi: kept for fi, insts in per_frame.items() if (kept := [i for i in insts if id(i.track) in slot])
            }
            animal_names = [f"animal{i}" for i in range(max(slot.values()) + 1)]
            extra_attrs.update(sleap_packed_into=len(animal_names), sleap_dropped_instances=dropped)
            _warn_dropped(path, dropped, max_animals)
        else:
            slot = {id(t): i for i, t in enumerate(tracks)}
            animal_names = [t.name or f"track{i}" for i, t in enumerate(tracks)]
    else:
        n_slots = max(len(v) for v in per_frame.values())
        animal_names = [f"instance{i}" for i in range(n_slots)]
    # frames 0..last; a longer attached video pads the rest (with a warning, like every source)
    T = max(per_frame) + 1
    A, K = len(animal_names), len(nodes)
    kp = np.full((T, A, K, 2), np.nan, np.float32)
    conf = np.full((T, A, K), np.nan, np.float32)
    any_pred = False
    for fi, insts in per_frame.items():
        for j, inst in enumerate(insts):
            a = slot[id(inst.track)] if tracked else j
            pts = inst.points
            xy = np.asarray(pts["xy"], dtype=np.float64)
            vis = np.asarray(pts["visible"], dtype=bool)
            xy[~vis] = np.nan
            kp[fi, a] = xy
            if isinstance(inst, sio.PredictedInstance):
                any_pred = True
                conf[fi, a] = np.asarray(pts["score"], dtype=np.float32)
            else:
                conf[fi, a] = np.where(vis, 1.0, np.nan)
    session = Session(session_id=default_session_id(path), fps=1.0, source_software="SLEAP")
    session.pose = Pose(
        keypoints=kp,
        keypoint_names=nodes,
        animal_names=animal_names,
        confidence=conf if any_pred else None,
        units="px",
        skeleton=edges or None,
    )
    session.attrs.update(
        {
            "instances": instances,
            "tracked": tracked,
            "skeleton_name": skeleton.name or "",
            "labeled_frames": len(per_frame),
            **extra_attrs,
        }
    )
    return session


def load_slp(
    path: Path, fps=None, instances="both", video=None, video_root=None, video_index=None, max_animals=None
) -> Session:
    sio = _import_sleap_io()
    try:
        labels = sio.load_slp(str(path), open_videos=False)
    except Exception as exc:
        raise FormatError(
            path,
            None,
            f"not a readable SLEAP file (truncated or corrupt?): {type(exc).__name__}: {' '.join(str(exc).split())}",
        ) from None
    videos = list(labels.videos)
    if video_index is not None:
        if not 0 <= int(video_index) < len(videos):
            raise FormatError(path, "video_index", f"the file has {len(videos)} video(s); got index {video_index}")
        videos = [videos[int(video_index)]]
    if len(videos) > 1 and video is not None:
        raise ConfigError("video", f"{path} has {len(videos)} videos; pick one with video_index=... to attach a video")
    sessions, names = [], []
    for v in videos or [None]:
        stored = None if v is None else str(v.filename if isinstance(v.filename, str) else v.filename[0])
        s = _slp_session(path, labels, v, instances, sio, max_animals)
        fps_value, src = resolve_fps(fps, None, path)
        s.fps, s.attrs["fps_source"] = fps_value, src
        _attach_found_video(s, path, stored, video, video_root)
        sessions.append(s)
        names.append(Path(stored).stem if stored else "video0")
    if labels.provenance:
        for s in sessions:
            s.attrs["sleap_provenance"] = {
                k: v for k, v in labels.provenance.items() if isinstance(v, (str, int, float, bool))
            }
    if len(sessions) == 1:
        return sessions[0]
    return concatenate_sessions(sessions, names, session_id=default_session_id(path))


# --------------------------------------------------------------------------- analysis .h5
def load_analysis(
    path: Path, fps=None, instances="both", video=None, video_root=None, video_index=None, max_animals=None
) -> Session:
    import h5py

    if instances != "both":
        raise ConfigError(
            "instances",
            "SLEAP analysis files do not say which instances were user-labelled; "
            "export them from the .slp or read the .slp instead",
        )
    if video_index is not None:
        raise ConfigError("video_index", "an analysis file holds one video")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(path, None, f"not a readable HDF5 file (truncated or corrupt?): {exc}") from None
    with f:
        nodes = decode_strings(f["node_names"][()], errors="replace")
        tracks = f["tracks"][()]
        K = len(nodes)
        if tracks.ndim != 4:
            raise FormatError(path, "/tracks", f"expected 4 dimensions, found shape {tracks.shape}")
        if tracks.shape[1] == 2 and tracks.shape[2] == K:  # (tracks, xy, nodes, frames)
            kp = tracks.transpose(3, 0, 2, 1)
            order = "python"
        elif tracks.shape[2] == 2 and tracks.shape[1] == K:  # (frames, nodes, xy, tracks)
            kp = tracks.transpose(0, 3, 1, 2)
            order = "matlab"
        else:
            raise FormatError(path, "/tracks", f"shape {tracks.shape} does not match {K} nodes and 2 coordinates")
        T, A = kp.shape[0], kp.shape[1]
        track_names = decode_strings(f["track_names"][()], errors="replace") if "track_names" in f else []
        if len(track_names) != A:
            track_names = [f"track{i}" for i in range(A)]
        conf = None
        if "point_scores" in f:
            ps = f["point_scores"][()]
            conf = ps.transpose(2, 0, 1) if order == "python" else ps.transpose(0, 2, 1)
            if conf.shape != (T, A, K):
                raise FormatError(path, "/point_scores", f"shape {ps.shape} does not match the tracks {tracks.shape}")
        kp = kp.astype(np.float32)
        if "track_occupancy" in f:
            occ = f["track_occupancy"][()]
            if occ.shape == (A, T):
                occ = occ.T
            if occ.shape == (T, A):
                kp[~occ.astype(bool)] = np.nan
        edges = None
        if "edge_names" in f:
            edges = [(to_str(a, errors="replace"), to_str(b, errors="replace")) for a, b in f["edge_names"][()]]
        stored = to_str(f["video_path"][()], errors="replace") if "video_path" in f else None
        provenance = to_str(f["provenance"][()], errors="replace") if "provenance" in f else None
    packed = {"sleap_tracks": int(A)}
    if max_animals is not None and A > max_animals:
        kp, conf, track_names, dropped = _pack_arrays(kp, conf, max_animals)
        packed.update(sleap_packed_into=len(track_names), sleap_dropped_instances=dropped)
        _warn_dropped(path, dropped, max_animals)
    session = Session(session_id=default_session_id(path), fps=1.0, source_software="SLEAP")
    session.pose = Pose(
        keypoints=kp,
        keypoint_names=nodes,
        animal_names=track_names,
        confidence=None if conf is None else conf.astype(np.float32),
        units="px",
        skeleton=edges or None,
    )
    fps_value, src = resolve_fps(fps, None, path)
    session.fps, session.attrs["fps_source"] = fps_value, src
    session.attrs["sleap_file"] = "analysis"
    session.attrs.update(packed)
    if provenance:
        try:
            prov = json.loads(provenance)
            session.attrs["sleap_provenance"] = {
                k: v for k, v in prov.items() if isinstance(v, (str, int, float, bool))
            }
        except ValueError:
            pass
    _attach_found_video(session, path, stored, video, video_root)
    return session


@register_loader(
    "sleap",
    suffixes=(".slp", ".h5"),
    sniff=sniff_sleap,
    priority=20,
    extra="sleap",
    expects="a SLEAP file: a .slp (HDF5 with metadata/frames/points) or an analysis HDF5 (tracks, node_names)",
    description="SLEAP .slp labels/predictions (via sleap-io) and analysis .h5 exports (h5py only)",
)
def load_sleap(
    path: Path,
    *,
    fps: float | None = None,
    instances: str = "both",
    video=None,
    video_root=None,
    video_index: int | None = None,
    max_animals: int | None = None,
) -> Session:
    """Read a SLEAP ``.slp`` or analysis ``.h5`` file.

    Parameters
    ----------
    fps
        Frame rate; by default the video's (SLEAP files store none), else 1.
    instances
        ``"both"`` (user preferred over predicted), ``"user"`` or ``"predicted"``.
    video
        Video file to use instead of the one stored in the file.
    video_root
        Folder to look for the stored video (by file name) when the stored path does not resolve.
    video_index
        For ``.slp`` files with several videos: import only this one (default: all, one trial each).
    max_animals
        Pack the tracks (fragments of broken identities) into this many animal slots.
    """
    if instances not in INSTANCE_CHOICES:
        raise ConfigError("instances", f"expected one of {', '.join(INSTANCE_CHOICES)}, got {instances!r}")
    if max_animals is not None and (
        isinstance(max_animals, bool) or not isinstance(max_animals, int) or max_animals < 1
    ):
        raise ConfigError("max_animals", f"expected an integer >= 1, got {max_animals!r}")
    f = h5_open(path)
    if f is None:
        raise FormatError(path, None, "not a readable HDF5 file (SLEAP .slp and analysis files are HDF5; truncated?)")
    with f:
        analysis = _is_analysis(f)
        slp = _is_slp(f)
    if analysis:
        return load_analysis(path, fps, instances, video, video_root, video_index, max_animals)
    if not slp:
        raise FormatError(path, None, "not a SLEAP file (no 'metadata'/'points' or 'tracks'/'node_names' datasets)")
    return load_slp(path, fps, instances, video, video_root, video_index, max_animals)
