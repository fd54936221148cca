"""Hyperparameters of the MM-GPVAE, declared once."""

from __future__ import annotations

from dataclasses import dataclass, field

from behavenet.models.config import TrainingConfig

__all__ = ["MMGPVAEConfig", "LIKELIHOODS", "MODALITY_WEIGHTINGS"]

LIKELIHOODS = ("poisson", "gaussian", "bernoulli")
MODALITY_WEIGHTINGS = ("none", "per_feature")


@dataclass
class MMGPVAEConfig(TrainingConfig):
    """Multi-modal GP-VAE: shared and modality-specific latents with Fourier-domain GP priors."""

    inputs: list[str] | None = None
    """Data inputs (modalities) to model (null: every input the data serve)."""
    likelihoods: dict = field(default_factory=dict)
    """{input: poisson | gaussian | bernoulli}; an input not named gets 'auto': Poisson for raw
    spike counts (an unnormalised spikes input, or non-negative integers given to the
    estimator), Gaussian otherwise."""
    n_shared: int = 1
    """Latents shared by all modalities (the product of the modalities' evidence)."""
    n_private: int | dict = 1
    """Latents private to each modality: one number for all, or {input: number}."""
    kernel: str = "rbf"
    """GP kernel of every latent: rbf | matern12 | matern32 | matern52 (gpytorch kernels)."""
    lengthscale: float = 10.0
    """Initial length scale of every latent, in bins (each latent learns its own)."""
    min_lengthscale: float = 2.0
    """Smallest length scale a latent may learn (bins)."""
    max_lengthscale: float = 100.0
    """Largest length scale a latent may learn (bins)."""
    outputscale: float = 1.0
    """Prior variance of each latent (gpytorch ScaleKernel outputscale)."""
    learn_outputscale: bool = False
    """Learn the output scale too (the decoders already set the latents' scale)."""
    jitter: float = 1e-3
    """Added to the prior variance of every kept frequency."""
    frequency_cutoff: float | None = None
    """Keep frequencies whose spectral density is at least this fraction of the peak at the
    smallest current length scale (null: 1e-8 for rbf, 1e-4 for Matérn)."""
    pad_lengthscales: float | None = None
    """Padding of the Fourier circle beyond the trial, in largest length scales (null: where the
    kernel falls below 1e-3: 4 for rbf, 5.25/5.75/7 for matern52/32/12)."""
    hidden_units: int = 128
    """Width of every encoder's per-frame features and of the image decoders."""
    image_network: str = "conv"
    """Per-frame networks of image inputs: conv (strided convolutions in the encoder, transposed
    convolutions in the decoder) | mlp (one hidden layer each way; several times faster on CPUs)."""
    image_decoder_layers: int = 1
    """Hidden layers (``hidden_units`` wide) of the MLP that maps an image's latents to pixels
    (``mlp``) or to the first transposed convolution (``conv``). A 1-latent model of a rotating
    image needs about 3 to follow the rotation (docs/mmgpvae.md)."""
    conv_channels: list[int] = field(default_factory=lambda: [16, 32])
    """Channels of the strided convolutions of image encoders (reversed in image decoders)."""
    temporal_kernel: int = 5
    """Width (bins) of the encoders' temporal convolutions."""
    temporal_layers: int = 2
    """Temporal convolution layers in each encoder."""
    decoder_hidden: int = 0
    """Hidden units of Gaussian/Bernoulli vector decoders (0: linear, GPFA-like, with the
    expected likelihood in closed form). Poisson decoders are always exp-linear."""
    modality_dropout: float = 0.0
    """Per training trial, probability of leaving each modality's evidence out of the posterior
    (at least one kept; its likelihood still counts), so each modality alone infers the shared
    latents well (e.g. behaviour predicted from spikes). 0: always combine every modality."""
    modality_weights: dict = field(default_factory=dict)
    """{input: weight} on each modality's likelihood term (default 1)."""
    modality_weighting: str = "none"
    """none: each modality's log-likelihood counts as it is (the ELBO) | per_feature: each is
    scaled by (features of the largest modality) / (its features), so a 100-neuron input counts
    as much as a 36x36 image instead of 13 times less; modality_weights multiply on top."""
    learn_variance: bool | dict = True
    """Learn each Gaussian input's noise variance (per feature; per channel for images), or keep
    it at the training data's variance (false; or {input: bool}). Learned variances shrink as
    reconstructions improve, which raises that input's weight in the ELBO over training; fixed
    ones keep the balance between modalities as it starts."""
    embed_inputs: list[str] | None = None
    """Inputs whose evidence forms the embeddings of a train.py run (embeddings.h5 and its
    decoding scores; null: every modelled input). [spikes] gives the latents inferred from the
    spikes alone, so decoding a behaviour that is also an input is not circular."""
    max_length: int = 1000
    """Trials longer than this many bins are cut into pieces for training and embedded in
    overlapping pieces."""
    learning_rate: float = 1e-3
    """Step size."""
