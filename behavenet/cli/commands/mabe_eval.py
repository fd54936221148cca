"""``behavenet mabe-eval``: score a MABe22 round-1 submission with the official protocol."""

from __future__ import annotations

import argparse
import sys

NAME = "mabe-eval"
HELP = "score a MABe22 round-1 submission (official linear-probe protocol, fast and exact)"
DESCRIPTION = (
    "Run the MABe22 round-1 evaluation protocol (ridge probes, seeds 42/43/44 on 90% of "
    "SubmissionTrain, OR-merged, alpha 1 headline) on a submission and the official labels, "
    "split and tasks files. Writes {'scores': {task: {column: value}}, 'summary': {...}} as JSON "
    "and, optionally, the official results CSV. See docs/mabe.md."
)


def register(parser: argparse.ArgumentParser) -> None:
    """Add the command's arguments."""
    parser.add_argument(
        "--submission", required=True, help="submission .npy (pickled dict, or a raw float32 matrix in frame-map order)"
    )
    parser.add_argument(
        "--labels", required=True, help="labels .npy (label_array, vocabulary, task_type, frame_number_map)"
    )
    parser.add_argument("--split", required=True, help="split .json (SubmissionTrain, publicTest, privateTest)")
    parser.add_argument("--tasks", required=True, help="tasks .json (seeds, task_id_list, sequence_level_tasks)")
    parser.add_argument("--json", required=True, dest="json_out", help="write the scores and summary here (JSON)")
    parser.add_argument("--csv", dest="csv_out", default=None, help="also write the official results table (CSV)")
    parser.add_argument(
        "--official-compat",
        action="store_true",
        help="reproduce the official evaluator's numbers: its float32 fits (scikit-learn 1.0.2 arithmetic) "
        "and its misaligned 'Pooled Score'",
    )
    parser.add_argument(
        "--species",
        choices=["mouse", "fly"],
        default=None,
        help="default: fly if the task list has per-fly slot rows, else mouse",
    )
    parser.add_argument(
        "--method",
        choices=["fast", "reference"],
        default="fast",
        help="fast: sufficient statistics (default); reference: literal sklearn fits",
    )
    parser.add_argument(
        "--precision",
        choices=["float64", "float32"],
        default=None,
        help="arithmetic of the fits; default float64, or float32 (the official evaluator's) with --official-compat",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print the results table")


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before the evaluation when an output cannot be written or would clobber an input."""
    import os

    from behavenet.errors import FormatError
    from behavenet.eval.submission import check_output_path

    outputs = [("--json", args.json_out)] + ([("--csv", args.csv_out)] if args.csv_out else [])
    inputs = {
        os.path.realpath(p): opt
        for opt, p in (
            ("--submission", args.submission),
            ("--labels", args.labels),
            ("--split", args.split),
            ("--tasks", args.tasks),
        )
    }
    for opt, path in outputs:
        check_output_path(path, opt)
        real = os.path.realpath(path)
        if real in inputs:
            raise FormatError(path, opt, f"is the {inputs[real]} input; choose another output file")
        inputs[real] = opt


def run(args: argparse.Namespace) -> int:
    """Evaluate and write the outputs; returns 0."""
    from behavenet.eval.mabe import evaluate_files

    _check_outputs(args)

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr)

    result = evaluate_files(
        args.submission,
        args.labels,
        args.split,
        args.tasks,
        method=args.method,
        official_compat=args.official_compat,
        species=args.species,
        precision=args.precision,
        log=log,
    )
    result.write_json(args.json_out)
    print(f"numerics: {result.meta['numerics']}")  # also with --quiet: the scores depend on it
    if args.csv_out:
        result.write_csv(args.csv_out)
    if not args.quiet:
        for tid, cols in result.rows:
            print(
                f"{tid:40s} {cols['Metric']:9s} private {cols['Private Score']:.4f}  public {cols['Public Score']:.4f}"
            )
        s = result.summary
        parts = [f"{k} {s[k]:.4f}" for k in ("All-F1", "Frame-F1", "Sequence-F1", "All-MSE") if s.get(k) is not None]
        print("summary: " + ", ".join(parts))
    return 0
