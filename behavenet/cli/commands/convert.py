"""``behavenet convert INPUT... OUTPUT.h5``: import DLC, SLEAP, NWB, MABe, suite2p, video, ... files."""

from __future__ import annotations

import json

NAME = "convert"
INTERMIXED = True  # options may come anywhere: `convert IN.csv --video V.mp4 OUT.h5`
HELP = "convert DeepLabCut, SLEAP, NWB, MABe, suite2p, BehaveNet v1 or video files to a behavenet session"
DESCRIPTION = (
    "Convert INPUT (a file or folder; several inputs of one recording are joined, one trial each) "
    "to the session file OUTPUT.h5. The source is detected from the content unless --source is given; "
    "--list-sources shows them. Loader options not covered by a flag go through --option KEY=VALUE."
)


def register(parser):
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="INPUT [INPUT ...] OUTPUT.h5 (the last path is the output)"
    )
    parser.add_argument("--source", "-s", help="input format (see --list-sources); detected when omitted")
    parser.add_argument("--list-sources", action="store_true", help="list the supported sources and exit")
    parser.add_argument("--fps", type=float, help="frame rate of the input (when the file stores none)")
    parser.add_argument(
        "--video", metavar="PATH", help="video file to attach to pose data (frame count and rate are checked)"
    )
    parser.add_argument("--embed-frames", action="store_true", help="copy the video frames into the session file")
    parser.add_argument("--resize", metavar="HxW", help="with --embed-frames: resize frames, e.g. 240x320")
    parser.add_argument("--grayscale", action="store_true", help="with --embed-frames: store grey frames")
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="T",
        help="set keypoints whose confidence/likelihood is below T to NaN (confidence kept)",
    )
    parser.add_argument("--bin-width", type=float, metavar="S", help="spike bin width in seconds (NWB units, Trodes)")
    parser.add_argument(
        "--instances", choices=("both", "user", "predicted"), help="SLEAP .slp: which instances to import"
    )
    parser.add_argument(
        "--split-animals",
        dest="split_prefix",
        action="store_const",
        const=True,
        help="DLC: split prefixed body parts (B_Nose, W_Nose) into animals",
    )
    parser.add_argument(
        "--no-split-animals",
        dest="split_prefix",
        action="store_const",
        const=False,
        help="DLC: never split body-part prefixes into animals",
    )
    parser.add_argument("--drop-empty-animals", action="store_true", help="drop animals without any valid keypoint")
    parser.add_argument(
        "--max-animals",
        type=int,
        metavar="N",
        help="SLEAP: pack tracks that never overlap in time (fragments of broken identities) into N animals",
    )
    parser.add_argument("--session-id", help="session id written to the file (default: the input's name)")
    parser.add_argument("--species", help="species written to the file")
    parser.add_argument("--description", help="description written to the file")
    parser.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="other loader option (repeatable); VALUE is parsed as JSON when possible, e.g. "
        "-o instances=user -o sequences=10 -o video_root=videos/",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT.h5 if it exists")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")


def _parse_option(text: str):
    from behavenet.errors import ConfigError

    if "=" not in text:
        raise ConfigError("--option", f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    key = key.strip().replace("-", "_")
    if not key:
        raise ConfigError("--option", f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _check_output(out: str) -> None:
    """The output's folder must exist (the command creates none: a typo'd path is an error)."""
    from pathlib import Path

    from behavenet.errors import FormatError
    from behavenet.io import check_output_name

    out = Path(out)
    check_output_name(out)
    parent = out.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise FormatError(parent, None, f"output directory {what}")


def _tracks_note(session, n_animals: int) -> str:
    """`` (27 SLEAP tracks packed into 2 animals)`` and the like, for SLEAP files whose tracks were
    fragments, `` (2 SLEAP tracks)`` otherwise; empty for other sources."""
    raw = session.handle.attrs.get("user_attrs")
    try:
        attrs = json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw is not None else {}
    except ValueError:
        return ""
    n_tracks = attrs.get("sleap_tracks")
    if not isinstance(n_tracks, int):
        return ""
    if "sleap_packed_into" in attrs:
        dropped = attrs.get("sleap_dropped_instances", 0)
        lost = f", {dropped} overlapping instances dropped" if dropped else ""
        return f" ({n_tracks} SLEAP tracks packed into {attrs['sleap_packed_into']} animals{lost})"
    if n_tracks == n_animals and n_tracks > 1:
        import numpy as np

        present = np.isfinite(session.read("pose")).any(axis=(2, 3)).mean(axis=0)
        if present.mean() < 0.5:
            return (
                f" ({n_tracks} SLEAP tracks, each in {100 * present.mean():.0f}% of frames on average: "
                "fragments of broken identities? --max-animals N packs them)"
            )
    return f" ({n_tracks} SLEAP track{'s' if n_tracks != 1 else ''})"


def _summary(out, session_info: dict) -> str:
    parts = [f"{session_info['n_frames']} frames @ {session_info['fps']:g} fps"]
    if session_info.get("n_trials", 1) > 1:
        parts.append(f"{session_info['n_trials']} trials")
    parts += session_info["details"]
    return f"wrote {out}: {', '.join(parts)}"


def run(args) -> int:
    import logging
    import sys

    from behavenet.errors import ConfigError

    logging.basicConfig(
        level=logging.ERROR if args.quiet else logging.WARNING, format="behavenet convert: warning: %(message)s"
    )
    from behavenet import io

    if args.list_sources:
        for info in io.describe_sources():
            extra = f" (pip install 'behavenet[{info.extra}]')" if info.extra else ""
            suffixes = ", ".join(info.suffixes) + (" or a folder" if info.directories else "")
            print(f"{info.name:14s} {info.description}{extra}")
            print(f"{'':14s}   inputs: {suffixes or 'folders'}")
        return 0
    if len(args.paths) < 2:
        raise ConfigError("paths", "expected INPUT [INPUT ...] OUTPUT.h5 (or --list-sources)")
    *inputs, out = args.paths
    _check_output(out)
    options = dict(_parse_option(o) for o in args.option)
    flags = {
        "fps": args.fps,
        "video": args.video,
        "threshold": args.threshold,
        "bin_width": args.bin_width,
        "instances": args.instances,
        "split_prefix": args.split_prefix,
        "session_id": args.session_id,
        "species": args.species,
        "description": args.description,
        "resize": args.resize,
        "max_animals": args.max_animals,
    }
    for key, value in flags.items():
        if value is not None:
            options[key] = value
    for key in ("embed_frames", "grayscale", "drop_empty_animals"):
        if getattr(args, key):
            options[key] = True
    path = inputs if len(inputs) > 1 else inputs[0]
    written = io.convert(path, out, source=args.source, overwrite=args.overwrite, **options)
    if not args.quiet:
        from behavenet.data.format import validate_file
        from behavenet.data.reader import open_session

        info = validate_file(written)
        details = []
        with open_session(written) as s:
            if "pose" in info["modalities"]:
                shape = s.shape("pose")
                details.append(f"pose {shape[1]} animal(s) x {shape[2]} keypoints{_tracks_note(s, shape[1])}")
            if "video" in info["modalities"]:
                details.append("video (embedded)" if "video/frames" in s.handle else "video (referenced)")
            for m in ("spikes", "calcium", "behavior"):
                if m in info["modalities"]:
                    details.append(f"{m} {s.shape(m)[1]} columns")
            if info["frame_labels"]:
                details.append(f"frame labels {', '.join(info['frame_labels'])}")
            if info["sequence_labels"]:
                details.append(f"sequence labels {', '.join(info['sequence_labels'])}")
        print(_summary(written, {**info, "details": details}), file=sys.stdout)
    return 0
