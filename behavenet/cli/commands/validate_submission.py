"""``behavenet validate-submission``: check a MABe22 round-1 submission file."""

from __future__ import annotations

import argparse

NAME = "validate-submission"
HELP = "check a MABe22 round-1 submission file (prints 'valid' or a one-line reason)"
DESCRIPTION = (
    "Run the official evaluator's submission checks (dict with frame_number_map and embeddings, "
    "the official map, float32, finite, width <= 128 mouse / 256 fly, row count) on a "
    "memory-mapped view of FILE. The mouse map is bundled; for flies pass the official "
    "flies_frame_number_map.npy with --frame-map."
)


def register(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument("file", help="submission .npy")
    parser.add_argument("--species", choices=["mouse", "fly"], required=True)
    parser.add_argument(
        "--frame-map", default=None, help="official frame map (.npy or .json); default: bundled (mouse only)"
    )
    parser.add_argument("--clip-lengths", default=None, help="optional clip-lengths .json (clip_lengths_*.json)")


def run(args: argparse.Namespace) -> int:
    """Validate; returns 0 when valid (errors are raised as FormatError / ConfigError)."""
    import json

    from behavenet.errors import FormatError
    from behavenet.eval.submission import validate_submission

    lengths = None
    if args.clip_lengths:
        try:
            with open(args.clip_lengths, encoding="utf-8") as fh:
                lengths = {str(k): int(v) for k, v in json.load(fh).items()}
        except (OSError, ValueError, AttributeError) as exc:
            raise FormatError(args.clip_lengths, None, f"cannot read clip lengths ({exc})") from None
    validate_submission(args.file, args.species, args.frame_map, clip_lengths=lengths)
    print("valid")
    return 0
