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

import importlib

_EXPORTS = {
    "ContrastiveCore": "core",
    "ContrastiveEmbedding": "estimator",
    "ContrastiveModel": "module",
    "ContrastiveSampler": "samplers",
    "ContrastiveStream": "core",
    "ConvEncoder": "encoders",
    "FrameConvEncoder": "encoders",
    "InfoNCE": "losses",
    "MLPEncoder": "encoders",
    "NearestNeighbourIndex": "samplers",
    "SessionFrames": "samplers",
    "VideoEncoder": "encoders",
    "auto_conditional": "samplers",
    "goodness_of_fit_bits": "losses",
    "infonce": "losses",
    "list_architectures": "encoders",
    "make_encoder": "encoders",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
