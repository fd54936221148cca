"""Contrastive (CEBRA-like) embedding models: encoders, InfoNCE, samplers, LightningModule and
a scikit-learn style estimator.

Public names::

    from behavenet.models.contrastive import ContrastiveModel, ContrastiveEmbedding
    from behavenet.models.contrastive import make_encoder, list_architectures, InfoNCE

``ContrastiveModel`` is registered as the model family ``"contrastive"`` (alias ``"cebra"``).
See ``docs/contrastive.md``.
"""

from behavenet.models.contrastive.encoders import (
    ConvEncoder,
    FrameConvEncoder,
    MLPEncoder,
    VideoEncoder,
    list_architectures,
    make_encoder,
)
from behavenet.models.contrastive.estimator import ContrastiveEmbedding
from behavenet.models.contrastive.losses import InfoNCE, goodness_of_fit_bits, infonce
from behavenet.models.contrastive.module import ContrastiveModel, ContrastiveStream
from behavenet.models.contrastive.samplers import (
    ContrastiveSampler,
    NearestNeighbourIndex,
    SessionFrames,
    auto_conditional,
)

__all__ = [
    "ContrastiveEmbedding",
    "ContrastiveModel",
    "ContrastiveSampler",
    "ContrastiveStream",
    "ConvEncoder",
    "FrameConvEncoder",
    "InfoNCE",
    "MLPEncoder",
    "NearestNeighbourIndex",
    "SessionFrames",
    "VideoEncoder",
    "auto_conditional",
    "goodness_of_fit_bits",
    "infonce",
    "list_architectures",
    "make_encoder",
]
