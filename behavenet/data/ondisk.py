"""Session-long arrays kept on disk, for sessions too large to hold in memory.

The data modules compute the input features of a large session chunk by chunk into a raw float32
file (:class:`FeatureFile`) and hand models :class:`RowMap` objects: the rows of one split (or of
the whole session) as an array-like that reads the file on demand, one batch at a time, instead of
a copy per split. See ``SessionDataModule(on_disk_threshold_mb=...)``.

* :class:`FeatureFile`: a ``(T, F)`` float32 file read with ``pread`` through a descriptor opened
  on first use in each process (after a ``fork`` or in a spawned DataLoader worker it is opened
  again; only the path is pickled). The process holds only the rows it asked for; the file's
  pages stay in the (shared, reclaimable) page cache.
* :class:`RowMap`: rows ``[a0, b0) + [a1, b1) + ...`` of a session-long source (a
  :class:`FeatureFile`, an in-memory array, or the row numbers themselves) concatenated, read on
  indexing: ``len``, ``shape``, ``dtype``, ``x[i]``, ``x[a:b]``, ``x[int array]`` and
  ``np.asarray(x)`` (materialises every row).
* :class:`FeatureCache`: the temporary folder holding a data module's feature files; removed by
  :meth:`FeatureCache.cleanup` (the data module's ``teardown()``) or when the process exits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np

from behavenet.errors import FormatError


class FeatureFile:
    """A float32 ``(T, F)`` array stored row-major in a raw file (no header), read with
    ``pread`` into new arrays, through a file descriptor opened lazily in each process.

    Not a memory map, on purpose: the kernel maps file pages into a process in large folios (up
    to 2 MB per fault on Linux 6.x), so 512 random windows of a memory-mapped 1.5 GB file put
    ~700 MB into the process's resident set. Reads copy only the rows asked for; the file's pages
    stay in the shared, reclaimable page cache.
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int]):
        self.path = str(path)
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(np.float32)
        self._fd = None
        self._pid = None

    @property
    def row_bytes(self) -> int:
        return self.shape[1] * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_fd=None, _pid=None)
        return state

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = None  # a forked parent's descriptor is left to the parent
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                raise FormatError(
                    self.path, None, "feature file is gone (the data module was torn down; call setup() again)"
                ) from None
            size = os.fstat(fd).st_size
            if size != self.shape[0] * self.row_bytes:
                os.close(fd)
                raise FormatError(
                    self.path, None, f"feature file has {size} bytes, expected {self.shape[0] * self.row_bytes}"
                )
            self._fd, self._pid = fd, os.getpid()
        return self._fd

    def _pread(self, out: np.ndarray, row: int) -> None:
        want = out.nbytes
        got = os.preadv(self._descriptor(), [memoryview(out).cast("B")], row * self.row_bytes) if want else 0
        if got != want:
            raise FormatError(self.path, None, f"short read at row {row}: {got} of {want} bytes")

    def take(self, rows) -> np.ndarray:
        """Rows ``rows`` (int array, in range) as a new float32 array; one read per run of
        consecutive rows (a window of a batch is one read)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), self.shape[1]), self.dtype)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= self.shape[0]:
            raise IndexError(f"row out of range for {self.shape[0]} rows")
        starts = np.flatnonzero(np.diff(rows) != 1) + 1
        bounds = np.concatenate([[0], starts, [len(rows)]]).tolist()
        first = rows[bounds[:-1]].tolist()
        for a, b, row in zip(bounds[:-1], bounds[1:], first):
            self._pread(out[a:b], row)
        return out

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` as a new float32 array."""
        out = np.empty((max(0, stop - start), self.shape[1]), self.dtype)
        if len(out):
            self._pread(out, start)
        return out

    def close(self) -> None:
        """Close this process's descriptor (opened again on the next read)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = self._pid = None


class RowMap:
    """Rows of a session-long ``source`` selected by ``blocks`` (``[start, stop)`` rows, in the
    order given), concatenated, as a read-on-demand array-like.

    ``source`` is a :class:`FeatureFile`, an in-memory array or ``None`` (the values are the row
    numbers themselves, e.g. a split's ``frame_index``). ``transform`` maps the values read (e.g.
    row numbers to trial numbers); ``dtype`` is the dtype served.
    """

    def __init__(self, blocks, source=None, dtype=None, transform=None):
        blocks = np.asarray(blocks, dtype=np.int64).reshape(-1, 2)
        blocks = blocks[blocks[:, 1] > blocks[:, 0]]
        self.blocks = blocks
        self.offsets = np.concatenate([[0], np.cumsum(blocks[:, 1] - blocks[:, 0])]).astype(np.int64)
        self.source = source
        self.transform = transform
        self.dtype = np.dtype(dtype if dtype is not None else (source.dtype if source is not None else np.int64))

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def shape(self) -> tuple[int, ...]:
        tail = tuple(self.source.shape[1:]) if self.source is not None else ()
        return (len(self),) + tail

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def source_rows(self, positions) -> np.ndarray:
        """The source row of each position (int array) of this map."""
        pos = np.asarray(positions, dtype=np.int64)
        n = len(self)
        if pos.size and (pos.min() < -n or pos.max() >= n):
            raise IndexError(f"index out of range for {n} rows")
        pos = np.where(pos < 0, pos + n, pos)
        b = np.searchsorted(self.offsets, pos, side="right") - 1
        return self.blocks[b, 0] + (pos - self.offsets[b])

    def _values(self, rows: np.ndarray) -> np.ndarray:
        if self.source is None:
            vals = rows
        elif isinstance(self.source, FeatureFile):
            vals = self.source.take(rows)
        else:
            vals = np.asarray(self.source[rows])
        if self.transform is not None:
            vals = self.transform(vals)
        return np.asarray(vals).astype(self.dtype, copy=False)

    def _range(self, start: int, stop: int) -> np.ndarray:
        """Positions ``[start, stop)`` read block by block (contiguous reads)."""
        pieces = []
        if stop > start:
            first = int(np.searchsorted(self.offsets, start, side="right")) - 1
            last = int(np.searchsorted(self.offsets, stop, side="left"))
            for b in range(first, last):
                lo = max(start, int(self.offsets[b])) - int(self.offsets[b]) + int(self.blocks[b, 0])
                hi = min(stop, int(self.offsets[b + 1])) - int(self.offsets[b]) + int(self.blocks[b, 0])
                if self.source is None:
                    vals = np.arange(lo, hi, dtype=np.int64)
                elif isinstance(self.source, FeatureFile):
                    vals = self.source.read(lo, hi)
                else:
                    vals = np.asarray(self.source[lo:hi])
                if self.transform is not None:
                    vals = self.transform(vals)
                pieces.append(np.asarray(vals).astype(self.dtype, copy=False))
        if not pieces:
            return np.zeros((0,) + self.shape[1:], self.dtype)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def __getitem__(self, idx):
        rest = ()
        if isinstance(idx, tuple):
            idx, rest = idx[0], idx[1:]
        if isinstance(idx, slice):
            start, stop, step = idx.indices(len(self))
            out = (
                self._range(start, stop) if step == 1 else self._values(self.source_rows(np.arange(start, stop, step)))
            )
        elif isinstance(idx, (int, np.integer)):
            out = self._values(self.source_rows(np.array([int(idx)])))[0]
        else:
            pos = np.asarray(idx)
            if pos.dtype == bool:
                if pos.shape != (len(self),):
                    raise IndexError(f"boolean index of shape {pos.shape} for {len(self)} rows")
                pos = np.flatnonzero(pos)
            out = self._values(self.source_rows(pos.reshape(-1))).reshape(pos.shape + self.shape[1:])
        return out[(slice(None),) * (np.ndim(out) - len(self.shape) + 1) + rest] if rest else out

    def __array__(self, dtype=None, copy=None):
        out = self._range(0, len(self))
        return out if dtype is None else out.astype(dtype, copy=False)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        src = type(self.source).__name__ if self.source is not None else "rows"
        return f"RowMap({src}, shape={self.shape}, dtype={self.dtype}, blocks={len(self.blocks)})"


class TrialOf:
    """Row numbers → the trial (index into ``starts``, the trials' first rows) they fall in;
    a picklable ``transform`` for :class:`RowMap`."""

    def __init__(self, starts):
        self.starts = np.asarray(starts, dtype=np.int64)

    def __call__(self, rows):
        return np.searchsorted(self.starts, np.asarray(rows, dtype=np.int64), side="right") - 1


class FeatureCache:
    """A temporary folder (under ``root``, default the system's temporary folder) for a data
    module's feature files; removed by :meth:`cleanup` or, at the latest, when the process that
    made it exits (never by a forked DataLoader worker)."""

    def __init__(self, root: str | os.PathLike | None = None):
        if root is not None:
            Path(root).mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix="behavenet-features-", dir=root))
        self._files: list[FeatureFile] = []
        self._finalizer = weakref.finalize(self, _remove_tree, str(self.path), os.getpid())

    def new_file(self, name: str, shape: tuple[int, int]) -> tuple[Path, FeatureFile]:
        path = self.path / name
        ff = FeatureFile(path, shape)
        self._files.append(ff)
        return path, ff

    def cleanup(self) -> None:
        for ff in self._files:
            ff.close()
        self._files = []
        self._finalizer()

    @property
    def alive(self) -> bool:
        return self._finalizer.alive


def _remove_tree(path: str, owner_pid: int) -> None:
    if os.getpid() == owner_pid:
        shutil.rmtree(path, ignore_errors=True)


class ChunkStats:
    """Streaming per-column count, mean and sum of squared deviations (Chan et al.'s parallel
    update, float64) of the finite values of row blocks; :meth:`zscore` gives the statistics
    :meth:`behavenet.data.transforms.ZScore.fit` computes on all the rows at once."""

    def __init__(self, n_cols: int):
        self.n = np.zeros(n_cols, np.float64)
        self.mean = np.zeros(n_cols, np.float64)
        self.m2 = np.zeros(n_cols, np.float64)

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if not len(x):
            return
        valid = np.isfinite(x)
        n_b = valid.sum(axis=0).astype(np.float64)
        xz = np.where(valid, x, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_b = np.where(n_b > 0, xz.sum(axis=0) / np.maximum(n_b, 1), 0.0)
        m2_b = np.where(valid, (x - mean_b) ** 2, 0.0).sum(axis=0)
        n = self.n + n_b
        delta = mean_b - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(n > 0, n_b / np.maximum(n, 1), 0.0)
        self.mean = self.mean + delta * w
        self.m2 = self.m2 + m2_b + delta**2 * self.n * w
        self.n = n

    def zscore(self, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` float32 as ``ZScore.fit`` (missing mean 0, tiny or undefined std 1)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(self.n > 0, self.mean, np.nan)
            std = np.sqrt(np.where(self.n > 0, self.m2 / np.maximum(self.n, 1), np.nan))
        mean = np.nan_to_num(mean)
        std = np.where(np.isfinite(std) & (std > eps), std, 1.0)
        return mean.astype(np.float32), std.astype(np.float32)


def block_mask(bounds: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Boolean ``(stop - start,)``: which rows of ``[start, stop)`` lie in one of ``bounds``
    (sorted, non-overlapping ``[a, b)`` rows)."""
    bounds = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    mask = np.zeros(stop - start, dtype=bool)
    lo = int(np.searchsorted(bounds[:, 1], start, side="right"))
    hi = int(np.searchsorted(bounds[:, 0], stop, side="left"))
    for a, b in bounds[lo:hi]:
        mask[max(int(a), start) - start : min(int(b), stop) - start] = True
    return mask
