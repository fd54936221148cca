"""Errors raised for user mistakes (bad files, bad configs, bad arguments).

Every user-facing error in behavenet is a :class:`BehavenetError`. Its message is one line that
names the file (or object), the field, and what was expected, e.g.::

    data/session.h5: /pose/keypoints: expected float32, found int64

The command-line interface prints that line to stderr and exits with a non-zero status instead
of showing a traceback.
"""

from __future__ import annotations

import os


class BehavenetError(Exception):
    """Base class for errors caused by user input; the CLI reports them as one line."""

    exit_code = 2


class FormatError(BehavenetError, ValueError):
    """A file does not follow the format it claims (or is expected) to follow.

    Parameters
    ----------
    path
        The offending file (or a short description of the in-memory object).
    field
        The dataset, group, attribute or key that is wrong (``"/pose/keypoints"``, ``"attrs.fps"``).
    message
        What was expected and what was found.
    """

    def __init__(self, path: str | os.PathLike | None, field: str | None, message: str):
        self.path = None if path is None else os.fspath(path)
        self.field = field
        self.message = " ".join(str(message).split())  # always one line
        parts = [p for p in (self.path, field) if p]
        super().__init__(": ".join(parts + [self.message]))


class ConfigError(BehavenetError, ValueError):
    """A configuration value is missing, unknown or inconsistent."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = " ".join(str(message).split())
        super().__init__(f"config {key}: {self.message}")


class DependencyError(BehavenetError, ImportError):
    """An optional dependency needed for the requested feature is not installed."""

    def __init__(self, package: str, extra: str, feature: str):
        super().__init__(f"{feature} needs the optional package '{package}': pip install 'behavenet[{extra}]'")


def one_line(exc: BaseException) -> str:
    """Return ``exc`` as a single line (for CLI reporting)."""
    text = str(exc) or exc.__class__.__name__
    return " ".join(text.split())
