"""``behavenet plot``: the figures of a run directory, or an embedding plot of an embeddings file.

    behavenet plot RUN_DIR                         # every figure into RUN_DIR/figures/
                                                   # (with the family's own: the model and data are reloaded)
    behavenet plot RUN_DIR --color position --out emb.png   # one embedding plot
    behavenet plot EMB.h5 --color direction --out emb.png   # a file of `behavenet embed`

See :mod:`behavenet.plot` for the figures. Files are written atomically.
"""

from __future__ import annotations

NAME = "plot"
HELP = "plot a run directory's embedding, losses, decoding and scores (or an embeddings file)"


def register(parser):
    parser.add_argument("source", metavar="RUN_DIR", help="run directory, or an embeddings .h5 file")
    parser.add_argument("--color", default=None, metavar="LABEL", help="colour the embedding by this label only")
    parser.add_argument("--out", default=None, metavar="FILE", help="write only the embedding plot, to this .png")
    parser.add_argument("--session", type=int, default=0, help="session index in the embeddings file (default 0)")
    parser.add_argument("--3d", dest="three_d", action="store_true", help="a 3-D embedding plot (with --out)")
    parser.add_argument(
        "--no-family", action="store_true", help="skip the model family's own figures (they reload the model and data)"
    )


def run(args) -> int:
    from pathlib import Path

    from behavenet import plot
    from behavenet.embeddings import load_embeddings
    from behavenet.errors import FormatError

    src = Path(args.source)
    if not src.exists():
        raise FormatError(src, None, "no such run directory or embeddings file")
    emb_path = src / "embeddings.h5" if src.is_dir() else src
    if args.out is None:
        if not src.is_dir():
            raise FormatError(src, "--out", "required when plotting an embeddings file (not a run directory)")
        if not emb_path.is_file() and not (src / "metrics.json").is_file():
            raise FormatError(src, None, "not a run directory: no embeddings.h5 or metrics.json")
        if args.color:
            _check_label(emb_path, args.color, 0)
        written = plot.run_figures(src, color=args.color)
        if not args.no_family and (src / "checkpoints" / "last.ckpt").is_file():
            written += _family_figures(src)
        for p in written:
            print(p)
        return 0
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise FormatError(out, "--out", "expected a .png file name")
    if not out.parent.is_dir():
        raise FormatError(out, "--out", f"directory {str(out.parent)!r} does not exist")
    if not emb_path.is_file():
        raise FormatError(emb_path, None, "embeddings file not found")
    sessions = load_embeddings(emb_path)
    if not 0 <= args.session < len(sessions):
        raise FormatError(emb_path, "--session", f"expected 0..{len(sessions) - 1}, got {args.session}")
    se = sessions[args.session]
    if args.color:
        _check_label(emb_path, args.color, args.session, se)
    ax = plot.new_axes(projection="3d" if args.three_d else None)
    plot.embedding(se, args.color, ax=ax, title=args.color or se.session_id)
    plot.save(ax.figure, out)
    print(out)
    return 0


def _check_label(emb_path, label, session, se=None):
    from behavenet.embeddings import load_embeddings
    from behavenet.errors import FormatError

    if se is None:
        sessions = load_embeddings(emb_path) if emb_path.is_file() else []
        if not sessions:
            return
        se = sessions[session]
    if label not in se.labels:
        have = ", ".join(sorted(se.labels)) or "none"
        raise FormatError(emb_path, "--color", f"no label {label!r} in session {se.session_id!r} (labels: {have})")


def _family_figures(run_dir):
    """The family's own figures (``Core.write_figures``, e.g. the MM-GPVAE's latents and
    reconstructions) on the run's held-out trials: the model is loaded safely and the data read
    with the run's own config (its splits included)."""
    import sys

    import hydra

    from behavenet.errors import BehavenetError, one_line
    from behavenet.pretrained import load_pretrained

    model = load_pretrained(run_dir)
    try:
        dm = hydra.utils.instantiate(model.data_config, _convert_="all")
        dm.setup()
    except (BehavenetError, OSError) as exc:  # the data moved: the other figures are still written
        print(f"behavenet plot: family figures skipped: {one_line(exc)}", file=sys.stderr)
        return []
    try:
        held_out = dm.split_data.get("test") or dm.split_data.get("val") or []
        return list(model.model.core.write_figures(held_out, run_dir / "figures"))
    finally:
        dm.teardown()
