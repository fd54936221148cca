"""``behavenet validate FILE...``: check session files against the format."""

from __future__ import annotations

import json

NAME = "validate"
HELP = "check behavenet session files (or BehaveNet v1 files) and print a summary"


def register(parser):
    parser.add_argument("files", nargs="+", metavar="FILE", help="session .h5 files")
    parser.add_argument("--json", action="store_true", help="print the summaries as JSON")


def run(args) -> int:
    from behavenet.data.format import validate_file
    from behavenet.errors import FormatError, one_line

    status = 0
    summaries = []
    for path in args.files:
        try:
            summary = validate_file(path)
        except FormatError as exc:
            print(f"behavenet validate: error: {one_line(exc)}", file=__import__("sys").stderr)
            status = 2
            continue
        summaries.append(summary)
        if not args.json:
            mods = ", ".join(summary["modalities"]) or "labels only"
            print(
                f"{path}: ok (format {summary['format_version']}, {summary['n_frames']} frames, "
                f"{summary['n_trials']} trials; {mods})"
            )
    if args.json:
        print(json.dumps(summaries, indent=2))
    return status
