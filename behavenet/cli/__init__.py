"""The ``behavenet`` command-line interface.

Subcommands live in :mod:`behavenet.cli.commands`, one module per command. Each module defines

* ``NAME`` (the subcommand, e.g. ``"validate"``) and ``HELP`` (one line),
* ``register(parser)`` adding its arguments to an :class:`argparse.ArgumentParser`,
* ``run(args) -> int`` returning the exit status,
* optionally ``INTERMIXED = True``: its options may also come between and after its positional
  arguments (``convert IN --video V OUT``; parsed with ``parse_intermixed_args``).

Modules are discovered automatically, so adding a command is adding a file. Heavy imports belong
inside ``run`` so that ``behavenet --help`` stays fast.

User mistakes raise :class:`behavenet.errors.BehavenetError`; ``main`` prints them as one line on
stderr and exits with the error's exit code (2) instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from behavenet.errors import BehavenetError, one_line


def _command_modules():
    from behavenet.cli import commands

    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"behavenet.cli.commands.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return mods


def build_parser() -> argparse.ArgumentParser:
    from behavenet import __version__

    parser = argparse.ArgumentParser(
        prog="behavenet",
        description="Representation learning for neural and animal-behaviour data.",
    )
    parser.add_argument("--version", action="version", version=f"behavenet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.intermixed_commands = {}
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        if hasattr(mod, "register"):
            mod.register(p)
        p.set_defaults(_run=mod.run)
        if getattr(mod, "INTERMIXED", False):
            parser.intermixed_commands[mod.NAME] = p
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``behavenet`` console script; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # `behavenet train ...` forwards everything after `train` to Hydra untouched.
    if argv and argv[0] == "train":
        from behavenet.cli.commands.train import run_hydra

        return run_hydra(argv[1:])
    if argv and argv[0] in parser.intermixed_commands:
        args = parser.intermixed_commands[argv[0]].parse_intermixed_args(argv[1:])
        args.command = argv[0]
    else:
        args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 1
    try:
        status = args._run(args)
    except BehavenetError as exc:
        print(f"behavenet {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
