"""Loading trained runs back and embedding new data with them.

>>> from behavenet.api import load_run
>>> run = load_run("outputs/train/runs/2026-11-27_04-00-00")
>>> for item in run.embed_files(["new_session.h5"]):
...     item.session_id, item.embedding.shape        # (T, D), one row per frame

A run directory (``docs/run_directory.md``) holds everything needed: ``config.yaml`` (how the
data were read), ``checkpoints/last.ckpt`` (the model) and ``normalization.json`` (the statistics
fitted on the training frames, applied unchanged to new data).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from behavenet.embeddings import SessionEmbedding
from behavenet.errors import FormatError


class TrainedRun:
    """A finished run directory: its config, model and normalisation statistics."""

    def __init__(self, run_dir: str | Path, map_location: str = "cpu"):
        from omegaconf import OmegaConf

        self.run_dir = Path(run_dir)
        for name in ("config.yaml", "checkpoints/last.ckpt"):
            if not (self.run_dir / name).exists():
                raise FormatError(self.run_dir, name, "missing: not a complete behavenet run directory")
        from behavenet.models.lightning import FamilyModule

        self.cfg = OmegaConf.load(self.run_dir / "config.yaml")
        # the checkpoint names the family and holds its config: no class is taken from the YAML
        ckpt = self.run_dir / "checkpoints/last.ckpt"
        try:
            self.model = FamilyModule.load_from_checkpoint(ckpt, map_location=map_location, weights_only=True)
        except (RuntimeError, OSError, EOFError, KeyError, pickle.UnpicklingError) as exc:
            raise FormatError(
                ckpt, None, f"not a readable checkpoint (truncated or corrupt?): {type(exc).__name__}"
            ) from None
        self.model.eval()
        norm_path = self.run_dir / "normalization.json"
        self.normalization = json.loads(norm_path.read_text()) if norm_path.exists() else None

    def datamodule(self, files, session_state: int | str = 0):
        """A data module reading ``files`` the way the run read its training data, with the
        run's normalisation (``session_state``: index of the training session whose statistics
        to use, or ``"fit"`` to fit new statistics on the files)."""
        import hydra
        from omegaconf import OmegaConf

        data_cfg = OmegaConf.to_container(self.cfg.data, resolve=True)
        for key in ("kind", "generator", "cache_dir"):  # synthetic modules → plain session module
            data_cfg.pop(key, None)
        if data_cfg.get("_target_", "").endswith("SyntheticDataModule"):
            data_cfg["_target_"] = "behavenet.data.SessionDataModule"
        data_cfg["files"] = [str(f) for f in (files if isinstance(files, (list, tuple)) else [files])]
        data_cfg["splits"] = "1;0;0;0"  # every trial is "train": no frame is dropped as a gap
        data_cfg["trial_seconds"] = None
        if session_state != "fit" and self.normalization is not None:
            data_cfg["normalization_state"] = self.normalization["state"][int(session_state)]
        return hydra.utils.instantiate(data_cfg, _convert_="all")

    def embed_files(self, files, session_state: int | str = 0, batch_size: int | None = None) -> list[SessionEmbedding]:
        """Embed every frame of every session file with the run's model."""
        dm = self.datamodule(files, session_state)
        dm.setup()
        out = []
        try:
            for i, (sid, split, _) in enumerate(dm.iter_full_sessions()):
                reader = dm.readers[i]
                out.append(
                    SessionEmbedding(
                        session_id=sid,
                        embedding=self.model.embed_split(split, batch_size=batch_size),
                        frame_index=split.frame_index,
                        trial=split.trial_index,
                        labels=dict(split.labels),
                        label_kinds=dict(split.label_kinds),
                        source_file=str(dm.files[i]),
                        fps=float(split.fps or 0.0),
                        trial_names=list(reader.trial_names),
                    )
                )
        finally:
            dm.teardown()
        return out


def load_run(run_dir: str | Path, map_location: str = "cpu") -> TrainedRun:
    """Load a finished run directory (config, model, normalisation)."""
    return TrainedRun(run_dir, map_location)
