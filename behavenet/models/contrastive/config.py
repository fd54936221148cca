"""Hyperparameters of the contrastive (CEBRA-like) family, declared once (see
:mod:`behavenet.models.config`). ``conf/model/contrastive.yaml`` and the estimator
``ContrastiveEmbedding`` are derived from (and tested against) this dataclass."""

from __future__ import annotations

from dataclasses import dataclass

from behavenet.models.config import TrainingConfig

__all__ = ["ContrastiveConfig"]


@dataclass
class ContrastiveConfig(TrainingConfig):
    """Contrastive embedding: encoders, positive-pair sampling, InfoNCE (``docs/contrastive.md``)."""

    model_architecture: str = "offset10"
    """Encoder: offset1 | offset5 | offset10 | offset15 | offset20 | offset36 | offset40 | offset50,
    each also as *-mse (no L2 normalisation, for euclidean); CEBRA names (offset10-model) accepted."""
    num_hidden_units: int = 32
    """Encoder width."""
    output_dimension: int = 8
    """Embedding size (8..32 typical; 3 to plot)."""
    conditional: str | None = None
    """How positives are drawn: time | time_delta | delta | discrete | mixed, or null to choose from
    the label kinds (continuous -> time_delta, discrete -> discrete, both -> mixed, none -> time)."""
    time_offsets: int | list[int] = 10
    """Frames between a reference and its time positive / over which label changes are measured."""
    distance: str = "cosine"
    """cosine | euclidean (squared distance; use a *-mse architecture)."""
    temperature_mode: str = "constant"
    """constant | auto (learned, kept >= min_temperature)."""
    temperature: float = 1.0
    """InfoNCE temperature (> 0)."""
    min_temperature: float = 0.1
    """Floor of the learned temperature (temperature_mode=auto)."""
    delta: float | None = None
    """Query noise sd in label units, required by conditional=delta."""
    hybrid: bool = False
    """Add a time-contrastive loss to the label-based one."""
    hybrid_behavior_dims: int | None = 3
    """Embedding dimensions the label loss uses in hybrid mode (null: all)."""
    prior: str = "auto"
    """auto | empirical | balanced (class-balanced references for discrete labels)."""
    labels: list[str] | None = None
    """Label names (from the data) to condition on; null: every served label."""
    input: str | None = None
    """The data input to embed (one of data.inputs); null: the first."""
    batch_size: int = 512
    """References (= negatives) per session per step (>= 2)."""
    learning_rate: float = 3e-4
    """Peak learning rate."""
    val_batches: int = 10
    """Fixed-seed batches per validation/test pass."""
    frame_encoder: str | None = None
    """null (conv for video input) | none | conv: a per-frame CNN feeding the temporal encoder."""
    frame_features: int = 32
    """Output size of the per-frame CNN."""
    frame_layout: str = "HWC"
    """HWC (behavenet video) | CHW."""
    nn_backend: str = "auto"
    """auto | kdtree | cdist: nearest-neighbour search for label positives."""
