"""Data: the HDF5 session format, lazy readers, data modules, transforms and synthetic data."""

from behavenet.data.datamodules import (
    NeuralDataModule,
    PairedDataModule,
    PoseDataModule,
    SessionDataModule,
    VideoDataModule,
)
from behavenet.data.format import Session, validate_file, write_session
from behavenet.data.reader import open_session, read_session
from behavenet.data.views import SplitData

__all__ = [
    "NeuralDataModule", "PairedDataModule", "PoseDataModule", "SessionDataModule", "VideoDataModule",
    "Session", "SplitData", "open_session", "read_session", "validate_file", "write_session",
]
