"""The registry of importers: one loader per source software, found by name, suffix or content."""

from __future__ import annotations

import inspect
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from behavenet.errors import ConfigError, FormatError

log = logging.getLogger(__name__)


@dataclass
class LoaderInfo:
    """A registered loader.

    ``func(path, **options) -> Session`` reads one input; ``sniff(path) -> bool`` says, from the
    content, whether the input is in this loader's format (it must not raise).
    """

    name: str
    func: Callable
    suffixes: tuple[str, ...] = ()
    sniff: Callable[[Path], bool] | None = None
    description: str = ""
    extra: str | None = None
    directories: bool = False
    priority: int = 50
    aliases: tuple[str, ...] = ()
    validator: Callable[[Path], None] | None = None
    expects: str = ""

    def validate(self, path: Path) -> None:
        """Check that ``path`` is this loader's kind of input before loading it (one-line error).

        An input that claims to be HDF5 (suffix or signature) but cannot be opened is reported as
        "not a readable HDF5 file (truncated or corrupt?)", not as the wrong format.
        """
        path = Path(path)
        if path.is_file() and _has_hdf5_signature(path):
            check_hdf5_readable(path)
        try:
            if self.validator is not None:
                self.validator(path)
                return
            if self.sniff is None:
                return
            try:
                ok = bool(self.sniff(path))
            except Exception:
                ok = False
            if not ok:
                raise FormatError(path, None, f"not {self.expects or self.name + ' input'}")
        except FormatError:
            check_hdf5_readable(path)
            raise

    def accepts(self) -> set[str]:
        """Names of the keyword options the loader function takes."""
        sig = inspect.signature(self.func)
        return {
            p.name for p in list(sig.parameters.values())[1:] if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        }

    def takes_any(self) -> bool:
        return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(self.func).parameters.values())


_LOADERS: dict[str, LoaderInfo] = {}
_ALIASES: dict[str, str] = {}


def register_loader(
    name: str,
    suffixes=(),
    sniff: Callable[[Path], bool] | None = None,
    description: str = "",
    extra: str | None = None,
    directories: bool = False,
    priority: int = 50,
    aliases=(),
    validator: Callable[[Path], None] | None = None,
    expects: str = "",
):
    """Decorator registering ``func(path, **options) -> Session`` as the loader for ``name``.

    Parameters
    ----------
    name
        Source name used by ``load(..., source=name)`` and ``behavenet convert --source``.
    suffixes
        File suffixes (``".csv"``) the format uses; a hint for :func:`infer_source`.
    sniff
        ``sniff(path) -> bool``: does the content look like this format? Must not raise.
    description
        One line for ``behavenet convert --list-sources``.
    extra
        The optional-dependency extra the loader needs (``pip install 'behavenet[extra]'``).
    directories
        The loader accepts folders.
    priority
        Lower is tried first when several loaders sniff the same input.
    aliases
        Other accepted names.
    validator
        ``validator(path)`` raising a one-line :class:`FormatError` when ``path`` is not this
        loader's input; run before every load. By default ``sniff`` is used, and a failed sniff
        raises "not <expects>".
    expects
        What the input must be, for that message (``"a DeepLabCut table: ..."``).
    """
    key = name.lower()

    def deco(func):
        info = LoaderInfo(
            name=key,
            func=func,
            suffixes=tuple(s.lower() for s in suffixes),
            sniff=sniff,
            description=description,
            extra=extra,
            directories=directories,
            priority=priority,
            aliases=tuple(a.lower() for a in aliases),
            validator=validator,
            expects=expects,
        )
        _LOADERS[key] = info
        for a in info.aliases:
            _ALIASES[a] = key
        return func

    return deco


def list_sources() -> list[str]:
    """Names of the registered sources, sorted."""
    return sorted(_LOADERS)


def describe_sources() -> list[LoaderInfo]:
    """The registered loaders, sorted by name."""
    return [_LOADERS[k] for k in list_sources()]


def get_loader(source: str) -> LoaderInfo:
    """The loader registered as (or aliased to) ``source``."""
    key = str(source).lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in _LOADERS:
        raise ConfigError("source", f"unknown source {source!r}; known sources: {', '.join(list_sources())}")
    return _LOADERS[key]


def _suffix(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".analysis.h5"):
        return ".h5"
    return path.suffix.lower()


#: suffixes of formats that are HDF5 containers (DLC/SLEAP analysis tables, SLEAP .slp, NWB, sessions)
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5", ".slp", ".nwb")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

_TRUNCATED = re.compile(r"truncated file: eof = (\d+), .*stored_eof = (\d+)")


def _has_hdf5_signature(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def looks_like_hdf5(path: Path) -> bool:
    """``path`` is a file that claims to be HDF5: by its suffix or by the HDF5 signature."""
    path = Path(path)
    return path.is_file() and (_suffix(path) in HDF5_SUFFIXES or _has_hdf5_signature(path))


def hdf5_open_error(path: Path) -> str | None:
    """Why h5py cannot open ``path`` (one line), or ``None`` when it can."""
    import h5py

    try:
        h5py.File(path, "r").close()
    except Exception as exc:  # noqa: BLE001 - any failure means "not readable"
        text = " ".join(str(exc).split())
        m = _TRUNCATED.search(text)
        if m:
            return f"the file has {int(m.group(1))} bytes, its HDF5 header says {int(m.group(2))}"
        inner = re.search(r"\(([^()]*)\)\s*$", text)
        return inner.group(1) if inner else (text or type(exc).__name__)
    return None


def check_hdf5_readable(path: Path) -> None:
    """Raise a one-line :class:`FormatError` when ``path`` should be HDF5 but h5py cannot open it.

    A truncated or corrupt ``.h5``/``.hdf5``/``.slp``/``.nwb`` (or any file starting with the HDF5
    signature) is reported as such instead of as an unknown or wrong format.
    """
    path = Path(path)
    if not looks_like_hdf5(path):
        return
    why = hdf5_open_error(path)
    if why is not None:
        raise FormatError(path, None, f"not a readable HDF5 file (truncated or corrupt?): {why}")


def infer_source(path: str | os.PathLike) -> str:
    """Detect the source of ``path`` from its content (and, as a hint, its suffix).

    Every loader whose ``sniff`` accepts the input is a candidate; loaders claiming the suffix are
    tried first, then all others (a DLC table saved as ``.txt`` is still found). Raises a one-line
    :class:`FormatError` when nothing matches, and "not a readable HDF5 file (truncated or
    corrupt?)" when the input is an HDF5 container (by suffix or signature) that h5py cannot open.
    """
    path = Path(path)
    if not path.exists():
        raise FormatError(path, None, "file not found")
    if path.is_file() and _has_hdf5_signature(path):
        check_hdf5_readable(path)  # an HDF5 file h5py cannot open is no other format either
    suffix = _suffix(path)
    loaders = sorted(_LOADERS.values(), key=lambda i: i.priority)
    if path.is_dir():
        first = [i for i in loaders if i.directories]
        rest = []
    else:
        first = [i for i in loaders if suffix in i.suffixes]
        rest = [i for i in loaders if suffix not in i.suffixes and not (i.directories and not i.suffixes)]
    for info in first + rest:
        if info.sniff is None:
            continue
        try:
            ok = bool(info.sniff(path))
        except Exception as exc:  # a sniffer must not decide by crashing
            log.debug("sniffer %s failed on %s: %s", info.name, path, exc)
            ok = False
        if ok:
            return info.name
    # e.g. a truncated .slp whose first bytes are gone: say so rather than "unknown format"
    check_hdf5_readable(path)
    what = "folder" if path.is_dir() else f"file (suffix {suffix or 'none'})"
    raise FormatError(
        path,
        None,
        f"unknown format: this {what} matches none of the known sources "
        f"({', '.join(list_sources())}); pass source=... (--source) if it is one of them",
    )
