"""Contrastive (CEBRA-like) embedding models: encoders, InfoNCE, samplers, a plain ``nn.Module``
core, its LightningModule and a scikit-learn style estimator.

Public names::

    from behavenet.models.contrastive import ContrastiveModel, ContrastiveEmbedding
    from behavenet.models.contrastive import make_encoder, list_architectures, InfoNCE

``ContrastiveModel`` (in :mod:`.module`) is registered as the model family ``"contrastive"``
(alias ``"cebra"``). Names are imported on first use: the estimator and the core
(:mod:`.core`) never import Lightning, only ``ContrastiveModel`` does. See ``docs/contrastive.md``.
"""

from __future__ import annotations

from behavenet.utils.lazy import lazy_exports

_EXPORTS = {
    "ContrastiveCore": ".core",
    "ContrastiveEmbedding": ".estimator",
    "ContrastiveModel": ".module",
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

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
