"""``behavenet embed``: embed session files with a pretrained model, a run directory or a
checkpoint, into one embeddings file.

    behavenet embed --model linear-track-contrastive --data session.h5 [more.h5 ...] --out emb.h5

The output has the layout of a run's ``embeddings.h5`` (``docs/run_directory.md``; read it with
:func:`behavenet.load_embeddings`) without the ``split`` datasets (the frames had no role in
training), plus provenance attributes: ``source_model`` (what ``--model`` named),
``checkpoint_sha256``, ``config`` (the model's family config and data config, JSON) and, per
session, ``data_sha256`` of its file. It is written to a temporary file and renamed, so a failed
run leaves no output.
"""

from __future__ import annotations

NAME = "embed"
HELP = "embed session files with a pretrained model or a run directory (writes an embeddings .h5)"


def register(parser):
    parser.add_argument(
        "--model", required=True, help="pretrained name (behavenet.list_pretrained()), run dir or checkpoint"
    )
    parser.add_argument("--data", required=True, nargs="+", help="session files (behavenet .h5 or importable formats)")
    parser.add_argument("--out", required=True, help="output embeddings .h5")
    parser.add_argument(
        "--session-state",
        default="0",
        help="normalise with the statistics of this training session (index), or 'fit' to fit them on --data",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="windows per forward pass")


def run(args) -> int:
    import os
    from pathlib import Path

    from behavenet.embeddings import write_embeddings
    from behavenet.errors import FormatError
    from behavenet.pretrained import load_pretrained, sha256_file

    out = Path(args.out)
    if out.suffix not in (".h5", ".hdf5"):
        raise FormatError(out, "--out", "expected a .h5 file name")
    if not out.parent.is_dir():
        raise FormatError(out, "--out", f"directory {str(out.parent)!r} does not exist")
    for d in args.data:
        if not Path(d).is_file():
            raise FormatError(d, "--data", "session file not found")
        if os.path.realpath(d) == os.path.realpath(out):
            raise FormatError(out, "--out", "is one of the --data inputs; choose another output file")
    state = args.session_state
    if state != "fit":
        try:
            state = int(state)
        except ValueError:
            raise FormatError(None, "--session-state", f"expected an integer or 'fit', got {state!r}") from None
    model = load_pretrained(args.model)
    if state != "fit" and model.normalization is not None:
        n = len(model.normalization.get("state") or [])
        if not 0 <= state < max(n, 1):
            raise FormatError(None, "--session-state", f"expected 0..{n - 1} (training sessions) or 'fit', got {state}")
    sessions = model.embed_files(list(args.data), session_state=state, batch_size=args.batch_size)
    hp = dict(model.model.hparams)
    attrs = {
        "source_model": str(args.model),
        "source_model_path": str(Path(model.path).resolve()),
        "checkpoint_sha256": sha256_file(model.path),
        "config": {"family": hp["family"], "model": hp["config"], "data": model.data_config or {}},
        "session_state": str(state),
    }
    per_session = [{"data_sha256": sha256_file(s.source_file)} for s in sessions]
    write_embeddings(
        out,
        sessions,
        model=model.family,
        embedding_names=model.model.embedding_names,
        attrs=attrs,
        session_attrs=per_session,
    )
    frames = sum(len(s.embedding) for s in sessions)
    print(f"wrote {out}: {len(sessions)} session(s), {frames} frames x {model.embedding_dim} dims ({model.name})")
    return 0
