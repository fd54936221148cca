"""A multi-input autoencoder: the smallest family on several data inputs at once.

Each input (``data.inputs: [spikes, behavior]``, any subset of them) has its own encoder from a
window of frames to a shared latent, the latents of the inputs are averaged, and one decoder per
input reconstructs that input's window (mean squared error, inputs weighted equally). Linear by
default (``hidden_units: 0``); an MLP otherwise. It is the worked example of
``docs/adding_a_model.md``: this folder and ``conf/model/autoencoder.yaml`` are all it takes.
"""

from __future__ import annotations

from behavenet.models.registry import Family
from behavenet.utils.lazy import lazy_exports

FAMILY = Family(
    name="autoencoder",
    config="behavenet.models.autoencoder.config:AutoencoderConfig",
    core="behavenet.models.autoencoder.core:AutoencoderCore",
    estimator="behavenet.models.autoencoder.estimator:Autoencoder",
    description="multi-input (linear) autoencoder with a shared latent",
    smoke_overrides=("data.inputs=[spikes,behavior]",),
)

_EXPORTS = {"AutoencoderConfig": ".config", "AutoencoderCore": ".core", "Autoencoder": ".estimator"}

__all__ = ["FAMILY", *sorted(_EXPORTS)]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
