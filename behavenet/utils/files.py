"""Writing output files: atomically, and with the permissions a plain ``open()`` gives.

:func:`atomic_path` is the one way behavenet writes an output file: the content goes to a
temporary file in the destination's directory, which replaces the destination
(:func:`os.replace`) only when the writer finished without an error. Temporary files are named
``.tmp-<name>.<random><suffix>`` so a leftover one (after a hard kill) is easy to recognise.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from behavenet.utils.plain import to_plain

__all__ = ["atomic_path", "atomic_write_text", "default_file_mode", "temp_path", "write_json"]


def default_file_mode() -> int:
    """The permissions ``open(path, "w")`` gives a new file: ``0o666`` less the process umask.

    (:func:`tempfile.mkstemp` creates files ``0o600``; :func:`atomic_path` gives its file this
    mode before the rename.)
    """
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def temp_path(directory: str | os.PathLike, prefix: str = ".tmp-", suffix: str = "") -> Iterator[Path]:
    """An empty temporary file in ``directory``, removed when the ``with`` block ends.

    Raises :class:`OSError` (from :func:`tempfile.mkstemp`) when the file cannot be created.
    """
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path to write ``path``'s content to; it becomes ``path`` only on success.

    The temporary file is created (empty) in ``path``'s directory, which must exist. When the
    ``with`` block finishes, it gets :func:`default_file_mode` (the mode ``open(path, "w")`` would
    give a new file) and is renamed onto ``path`` (replacing an existing file); when the
    block raises (:class:`KeyboardInterrupt` included), it is removed and ``path`` is untouched.
    Checks that must pass before the rename (validation, "does the output exist") belong at the end
    of the block.
    """
    path = Path(path)
    with temp_path(path.parent, prefix=f".tmp-{path.name}.", suffix=suffix) as tmp:
        yield tmp
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (verbatim: no newline translation; flushed to disk)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any, *, indent: int = 2, nan_to_none: bool = False) -> Path:
    """Write ``obj`` as JSON (``indent``, a final newline) to ``path`` atomically.

    Values go through :func:`~behavenet.utils.plain.to_plain` first (numpy/torch values become
    plain Python; ``nan_to_none`` writes non-finite floats as ``null``, else as ``NaN``); any other
    object JSON cannot hold is written as its ``str()``.
    """
    text = json.dumps(to_plain(obj, nan_to_none=nan_to_none), indent=indent, default=str) + "\n"
    return atomic_write_text(path, text)
