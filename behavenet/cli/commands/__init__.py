"""One module per ``behavenet`` subcommand (see :mod:`behavenet.cli`)."""
