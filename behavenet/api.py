"""Loading trained runs back and embedding new data with them.

>>> from behavenet.api import load_run
>>> run = load_run("outputs/train/runs/2026-11-27_04-00-00")
>>> for item in run.embed_files(["new_session.h5"]):
...     item.session_id, item.embedding.shape        # (T, D), one row per frame

A run directory (``docs/run_directory.md``) holds everything needed: ``config.yaml`` (how the
data were read), ``checkpoints/last.ckpt`` (the model) and ``normalization.json`` (the statistics
fitted on the training frames, applied unchanged to new data). :func:`load_run` is
:func:`behavenet.load_pretrained` restricted to run directories, and loads as safely: tensors
only, ``_target_`` allow-list, version check (see :mod:`behavenet.pretrained`).
"""

from __future__ import annotations

from pathlib import Path

from behavenet.errors import FormatError
from behavenet.pretrained import PretrainedModel, list_pretrained, load_pretrained, save_pretrained

__all__ = ["TrainedRun", "list_pretrained", "load_pretrained", "load_run", "save_pretrained"]

#: What :func:`load_run` returns (a :class:`~behavenet.pretrained.PretrainedModel` with ``cfg``,
#: the run's config, and ``run_dir``).
TrainedRun = PretrainedModel


def load_run(run_dir: str | Path, map_location: str = "cpu") -> PretrainedModel:
    """Load a finished run directory (config, model, normalisation); the model is moved to
    ``map_location`` (it is always read on the CPU first, wherever it was trained)."""
    from behavenet.pretrained import _load_run_dir

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FormatError(run_dir, None, "run directory not found")
    run = _load_run_dir(run_dir)
    run.run_dir = run_dir
    if str(map_location) != "cpu":
        run.model.to(map_location)
    return run
