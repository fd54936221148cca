"""Writing files: the mode a new file gets."""

from __future__ import annotations

import os

__all__ = ["default_file_mode"]


def default_file_mode() -> int:
    """The permissions ``open(path, "w")`` gives a new file: ``0o666`` less the process umask.

    (:func:`tempfile.mkstemp` creates files ``0o600``; a temporary file that becomes an output gets
    this mode instead.)
    """
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
