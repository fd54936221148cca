"""``behavenet submit``: write a MABe22 round-1 submission from a trained run.

    behavenet submit --run RUN_DIR --data TEST_SESSIONS... --species mouse --out submission.npy

Every session's trials are looked up by name (the MABe sequence ids that ``behavenet convert``
stores as trial names) and their embeddings are written into the rows the official frame-number
map assigns them (``--frame-map``; default: the bundled official map for mice). Embeddings wider
than the species limit (128 mice, 256 flies) need ``--pca``; ``--zscore`` standardises each
dimension (the probe is unscaled ridge). The file is streamed and written atomically, then checked
with the same validator as ``behavenet validate-submission``. The last line names the numerics
the leaderboard will score the file with (float32 fits, as scikit-learn 1.0.2 computes them) and
the ``mabe-eval`` option that reproduces them locally.
"""

from __future__ import annotations

NAME = "submit"
HELP = "write a MABe22 submission .npy from a trained run and converted test sessions"


def register(parser):
    parser.add_argument("--run", required=True, help="run directory (config.yaml, checkpoints/last.ckpt)")
    parser.add_argument("--data", required=True, nargs="+", help="behavenet session files of the test sequences")
    parser.add_argument("--species", required=True, choices=["mouse", "fly"])
    parser.add_argument("--out", required=True, help="output .npy")
    parser.add_argument("--frame-map", default=None, help="official frame_number_map (.npy or .json)")
    parser.add_argument("--zscore", action="store_true", help="standardise every dimension")
    parser.add_argument("--pca", type=int, default=None, metavar="DIM", help="project to DIM principal components")


def run(args) -> int:
    import os

    from behavenet.api import load_run
    from behavenet.errors import FormatError
    from behavenet.eval.submission import (
        check_output_path,
        load_frame_map,
        official_frame_map,
        validate_submission,
        write_submission,
    )

    check_output_path(args.out, "--out")  # before any embedding: fail fast on a bad output path
    real_out = os.path.realpath(args.out)
    for opt, path in [("--frame-map", args.frame_map)] + [("--data", d) for d in args.data]:
        if path and os.path.realpath(path) == real_out:
            raise FormatError(args.out, "--out", f"is the {opt} input; choose another output file")
    fmap = load_frame_map(args.frame_map) if args.frame_map else official_frame_map(args.species)
    trained = load_run(args.run)
    rows = {}
    for sess in trained.embed_files(args.data):
        for name in sess.trial_names:
            rows[name] = sess.trial_embedding(name)
    missing = [k for k in fmap if k not in rows]
    if missing:
        raise FormatError(
            args.data[0],
            "trial names",
            f"{len(missing)} sequences of the frame map are in none "
            f"of the sessions (first: {missing[0]!r}); convert every test sequence",
        )
    for k, (a, b) in fmap.items():
        if len(rows[k]) != b - a:
            raise FormatError(
                args.data[0], f"sequence {k}", f"has {len(rows[k])} frames, the frame map expects {b - a}"
            )
    write_submission(args.out, fmap, lambda k: rows[k], zscore=args.zscore, pca_dim=args.pca, species=args.species)
    validate_submission(args.out, args.species, frame_map=fmap)
    width = next(iter(rows.values())).shape[1] if not args.pca else args.pca
    print(f"wrote {args.out}: {sum(b - a for a, b in fmap.values())} rows x {width} dims, valid")
    print(
        "numerics: the MABe22 evaluator scores this file with float32 ridge fits (scikit-learn 1.0.2); "
        "`behavenet mabe-eval --official-compat` reproduces them, its float64 default can differ "
        "(docs/mabe.md, 'Numerics')"
    )
    return 0
