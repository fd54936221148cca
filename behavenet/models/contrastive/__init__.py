"""Contrastive (CEBRA-like) embedding family: encoders, InfoNCE, positive-pair samplers, the
:class:`~behavenet.models.contrastive.core.ContrastiveCore` and the scikit-learn style
:class:`~behavenet.models.contrastive.estimator.ContrastiveEmbedding`.

Public names::

    from behavenet.models.contrastive import ContrastiveConfig, ContrastiveCore, ContrastiveEmbedding
    from behavenet.models.contrastive import make_encoder, list_architectures, InfoNCE

Registered as the model family ``"contrastive"`` (alias ``"cebra"``; ``conf/model/contrastive.yaml``).
Names are imported on first use; nothing here imports Lightning. See ``docs/contrastive.md``.
"""

from __future__ import annotations

from behavenet.models.registry import Family
from behavenet.utils.lazy import lazy_exports

FAMILY = Family(
    name="contrastive",
    config="behavenet.models.contrastive.config:ContrastiveConfig",
    core="behavenet.models.contrastive.core:ContrastiveCore",
    estimator="behavenet.models.contrastive.estimator:ContrastiveEmbedding",
    description="contrastive (CEBRA-like) encoders trained with InfoNCE on time/label positives",
    aliases=("cebra",),
    smoke_overrides=("model.batch_size=64", "model.model_architecture=offset5"),
)

_EXPORTS = {
    "ContrastiveConfig": ".config",
    "ContrastiveCore": ".core",
    "ContrastiveEmbedding": ".estimator",
    "ContrastiveSampler": ".samplers",
    "ContrastiveStream": ".core",
    "ConvEncoder": ".encoders",
    "FrameConvEncoder": ".encoders",
    "InfoNCE": ".losses",
    "MLPEncoder": ".encoders",
    "NearestNeighbourIndex": ".samplers",
    "SessionFrames": ".samplers",
    "VideoEncoder": ".encoders",
    "auto_conditional": ".samplers",
    "goodness_of_fit_bits": ".losses",
    "infonce": ".losses",
    "list_architectures": ".encoders",
    "make_encoder": ".encoders",
}

__all__ = ["FAMILY", *sorted(_EXPORTS)]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
