"""Data: the HDF5 session format, lazy readers, data modules, transforms and synthetic data.

Names are imported lazily so that ``behavenet.data.format`` (and the CLI) do not pay for
importing Lightning.
"""

from __future__ import annotations

from behavenet.utils.lazy import lazy_exports

_EXPORTS = {
    "NeuralDataModule": "behavenet.data.datamodules",
    "PairedDataModule": "behavenet.data.datamodules",
    "PoseDataModule": "behavenet.data.datamodules",
    "SessionDataModule": "behavenet.data.datamodules",
    "VideoDataModule": "behavenet.data.datamodules",
    "Session": "behavenet.data.format",
    "validate_file": "behavenet.data.format",
    "write_session": "behavenet.data.format",
    "open_session": "behavenet.data.reader",
    "read_session": "behavenet.data.reader",
    "SplitData": "behavenet.data.splits",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
