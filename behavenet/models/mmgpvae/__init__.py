"""MM-GPVAE: a multi-modal Gaussian-process VAE with a Fourier-domain GP prior.

Latents are split into blocks shared by all modalities and private to each; every latent is a
truncated real Fourier series whose GP prior (gpytorch RBF or Matérn kernel, one learned length
scale per latent) is diagonal in frequency space. Encoders work for any trial length; the shared
posterior is the product of the modalities' evidence, so a trial with a modality missing still
embeds. A single-modality GP-VAE and (Poisson) GPFA are configurations of it. See docs/mmgpvae.md.
"""

from __future__ import annotations

from behavenet.models.registry import Family
from behavenet.utils.lazy import lazy_exports

FAMILY = Family(
    name="mmgpvae",
    config="behavenet.models.mmgpvae.config:MMGPVAEConfig",
    core="behavenet.models.mmgpvae.core:MMGPVAECore",
    estimator="behavenet.models.mmgpvae.estimator:MMGPVAE",
    description="multi-modal GP-VAE: shared + private latents with Fourier-domain GP priors (gpytorch kernels)",
    smoke_overrides=("data.inputs=[spikes,behavior]", "model.hidden_units=16", "model.max_length=100"),
)

_EXPORTS = {
    "MMGPVAEConfig": ".config",
    "MMGPVAECore": ".core",
    "MMGPVAE": ".estimator",
    "FourierGPPrior": ".prior",
}

__all__ = ["FAMILY", *sorted(_EXPORTS)]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
