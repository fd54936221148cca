"""The MM-GPVAE's :class:`~behavenet.models.base.Core`.

Latents are ``[shared (n_shared) | private of input 1 | private of input 2 | ...]``; each is a
time series with a Fourier-domain GP prior (:class:`~behavenet.models.mmgpvae.prior.FourierGPPrior`).

Inference (amortised, any trial length). Each modality's encoder emits, per frame ``t`` and per
latent it informs (the shared ones and its own private ones), a Gaussian pseudo-observation
``m_t`` with precision ``p_t``. The posterior over a latent's Fourier coefficients ``c`` is the
exact Gaussian posterior of those pseudo-observations under the prior::

    precision  Lambda = diag(1 / s) + B diag(p) B^T,     mean  mu = Lambda^-1 B (p * m)

(``B``: the ``(F, T)`` basis, ``s``: the prior variances). For a shared latent the modalities'
pseudo-observations are added (``p = sum_i p_i``, ``p m = sum_i p_i m_i``): a product of experts,
so a trial with a modality missing (or frames missing from one) still has a posterior, from the
modalities present. Missing or padded frames have ``p = 0``.

Likelihoods: Poisson with exp-linear rates (GPFA-like; expected log-likelihood in closed form),
Gaussian with a learned variance per feature (per channel for images; closed form with a linear
decoder, one reparameterised sample otherwise), Bernoulli (one sample). The loss is the negative
ELBO, ``sum_i w_i E_q[-log p(x_i | z)] + KL(q || prior)``, divided by the number of frames
(``w_i``: ``modality_weights``, times ``max_j D_j / D_i`` with ``modality_weighting: per_feature``,
``D_i`` the features per frame of input ``i``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from behavenet.errors import ConfigError
from behavenet.models.base import Core, input_specs
from behavenet.models.mmgpvae.config import LIKELIHOODS, MODALITY_WEIGHTINGS, MMGPVAEConfig
from behavenet.models.mmgpvae.losses import (
    bernoulli_nll,
    gaussian_nll,
    gaussian_nll_linear,
    kl_fourier,
    poisson_expected_nll,
)
from behavenet.models.mmgpvae.networks import ImageDecoder, TrialEncoder, vector_decoder
from behavenet.models.mmgpvae.prior import KERNELS, FourierGPPrior

__all__ = ["MMGPVAECore", "Posterior"]


@dataclass
class Posterior:
    """``q`` over the Fourier coefficients of every latent of a batch of trials."""

    mu: torch.Tensor  # (B, L, F)
    chol: torch.Tensor  # (B, L, F, F) lower Cholesky factor of the precision
    basis: torch.Tensor  # (F, T)
    prior_var: torch.Tensor  # (L, F)

    def mean(self) -> torch.Tensor:
        """``(B, T, L)`` posterior means in time."""
        return torch.einsum("blf,ft->btl", self.mu, self.basis)

    def variance(self) -> torch.Tensor:
        """``(B, T, L)`` posterior marginal variances in time."""
        eye = torch.eye(self.chol.shape[-1], dtype=self.chol.dtype, device=self.chol.device)
        linv = torch.linalg.solve_triangular(self.chol, eye.expand_as(self.chol), upper=False)
        return ((linv @ self.basis) ** 2).sum(-2).transpose(1, 2)

    def sample(self) -> torch.Tensor:
        """``(B, T, L)``: one reparameterised draw, in time."""
        eps = torch.randn_like(self.mu)[..., None]
        x = torch.linalg.solve_triangular(self.chol.transpose(-1, -2), eps, upper=True)[..., 0]
        return torch.einsum("blf,ft->btl", self.mu + x, self.basis)

    def kl(self) -> torch.Tensor:
        return kl_fourier(self.mu, self.chol, self.prior_var)


def _channel_variance(arrays, shape: tuple, chunk: int = 256) -> np.ndarray:
    """Per-channel variance ``(C,)`` of image frames ``shape = (C, H, W)``, NaNs ignored (1 where
    undefined), read ``chunk`` frames at a time; frames stored channel-last ``(H, W, C)`` too."""
    c, h, w = (int(x) for x in shape)
    n, s1, s2 = np.zeros(c), np.zeros(c), np.zeros(c)
    for a in arrays:
        for i in range(0, len(a), chunk):
            x = np.asarray(a[i : i + chunk], dtype=np.float64)
            if x.shape[1:] == (h, w, c) and x.shape[1:] != (c, h, w):
                x = np.moveaxis(x, -1, 1)
            x = np.moveaxis(x.reshape(len(x), c, h * w), 1, 0).reshape(c, -1)
            ok = np.isfinite(x)
            x = np.where(ok, x, 0.0)
            n, s1, s2 = n + ok.sum(1), s1 + x.sum(1), s2 + (x * x).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = s2 / n - (s1 / n) ** 2
    return np.where(np.isfinite(var) & (var > 1e-6), var, 1.0)


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ConfigError(name, f"expected an integer >= {minimum}, got {value!r}")
    return int(value)


class MMGPVAECore(Core):
    """Shared + private GP latents, per-modality encoders and decoders (see the module docstring)."""

    def __init__(self, config: MMGPVAEConfig, data_spec=None):
        super().__init__(config, data_spec)
        specs = input_specs(self.data_spec)
        names = [str(n) for n in config.inputs] if config.inputs else list(specs)
        if not names:
            raise ConfigError("model.inputs", "expected at least one data input")
        for n in names:
            if n not in specs:
                raise ConfigError(
                    "model.inputs",
                    f"the data offer no input {n!r} (inputs: {', '.join(specs) or 'none'}); set data.inputs",
                )
        if len(set(names)) != len(names):
            raise ConfigError("model.inputs", f"lists an input twice: {names}")
        self._names = names
        n_shared = _check_int("model.n_shared", config.n_shared, 0)
        if isinstance(config.n_private, dict):
            extra = [k for k in config.n_private if k not in names]
            if extra:
                raise ConfigError("model.n_private", f"names {extra}, which are not modelled inputs {names}")
            private = {n: _check_int(f"model.n_private.{n}", config.n_private.get(n, 0), 0) for n in names}
        else:
            private = {n: _check_int("model.n_private", config.n_private, 0) for n in names}
        if config.kernel not in KERNELS:
            raise ConfigError("model.kernel", f"expected one of {', '.join(KERNELS)}, got {config.kernel!r}")
        extra = [k for k in dict(config.likelihoods) if k not in names]
        if extra:
            raise ConfigError("model.likelihoods", f"names {extra}, which are not modelled inputs {names}")
        extra = [k for k in dict(config.modality_weights) if k not in names]
        if extra:
            raise ConfigError("model.modality_weights", f"names {extra}, which are not modelled inputs {names}")
        if not 0 < float(config.min_lengthscale) <= float(config.lengthscale) <= float(config.max_lengthscale):
            raise ConfigError(
                "model.lengthscale",
                "expected 0 < min_lengthscale <= lengthscale <= max_lengthscale, got "
                f"{config.min_lengthscale}, {config.lengthscale}, {config.max_lengthscale}",
            )
        self.max_length = _check_int("model.max_length", config.max_length, 2)
        self.embed_inputs = [str(n) for n in config.embed_inputs] if config.embed_inputs else list(names)
        unknown = [n for n in self.embed_inputs if n not in names]
        if unknown:
            raise ConfigError("model.embed_inputs", f"names {unknown}, which are not modelled inputs {names}")
        if not 0.0 <= float(config.modality_dropout) < 1.0:
            raise ConfigError(
                "model.modality_dropout", f"expected a probability in [0, 1), got {config.modality_dropout!r}"
            )

        # latent layout
        self.n_shared = n_shared
        self.n_private = private
        offsets, pos = {}, n_shared
        for n in names:
            offsets[n] = list(range(n_shared)) + list(range(pos, pos + private[n]))
            pos += private[n]
        self.n_latents = pos
        if self.n_latents < 1:
            raise ConfigError("model.n_shared", "the model needs at least one latent (n_shared + n_private >= 1)")
        for n in names:
            if not offsets[n]:
                raise ConfigError("model.n_private", f"input {n!r} has no latent (no shared and no private one)")
        for n, idx in offsets.items():
            self.register_buffer(f"_idx_{n}", torch.tensor(idx, dtype=torch.long), persistent=False)
        self._offsets = offsets

        self.prior = FourierGPPrior(
            self.n_latents,
            kernel=config.kernel,
            lengthscale=float(config.lengthscale),
            min_lengthscale=float(config.min_lengthscale),
            max_lengthscale=float(config.max_lengthscale),
            outputscale=float(config.outputscale),
            learn_outputscale=bool(config.learn_outputscale),
            jitter=float(config.jitter),
            cutoff=config.frequency_cutoff,
            pad_lengthscales=config.pad_lengthscales,
        )

        hidden = _check_int("model.hidden_units", config.hidden_units, 1)
        channels = [_check_int("model.conv_channels", c, 1) for c in config.conv_channels]
        dec_hidden = _check_int("model.decoder_hidden", config.decoder_hidden, 0)
        image_layers = _check_int("model.image_decoder_layers", config.image_decoder_layers, 1)
        if config.image_network not in ("conv", "mlp"):
            raise ConfigError("model.image_network", f"expected conv or mlp, got {config.image_network!r}")
        conv = config.image_network == "conv"
        self.likelihood, self.frame_shapes = {}, {}
        self.encoders, self.decoders = nn.ModuleDict(), nn.ModuleDict()
        self.log_vars = nn.ParameterDict()
        for n in names:
            shapes = {tuple(int(x) for x in s) for s in specs[n].get("shapes") or []}
            if len(shapes) != 1:
                raise ConfigError(
                    "model", f"the MM-GPVAE needs one frame shape of input {n!r} in every session, got {sorted(shapes)}"
                )
            shape = shapes.pop()
            if len(shape) == 3 and (specs[n].get("layout") == "hwc" or (n == "video" and "layout" not in specs[n])):
                shape = (shape[2], shape[0], shape[1])  # the data module's video frames: (H, W, C) on disk
            image = len(shape) == 3
            lik = str(dict(config.likelihoods).get(n, "auto"))
            if lik == "auto":
                lik = "poisson" if specs[n].get("counts") and not image else "gaussian"
            if lik not in LIKELIHOODS:
                raise ConfigError(
                    f"model.likelihoods.{n}", f"expected one of {', '.join(LIKELIHOODS)} or auto, got {lik!r}"
                )
            if lik == "poisson" and image:
                raise ConfigError(f"model.likelihoods.{n}", "a Poisson likelihood needs counts, not images")
            if lik == "poisson" and specs[n].get("normalized"):
                raise ConfigError(
                    f"model.likelihoods.{n}",
                    f"a Poisson likelihood needs raw counts but the data module z-scores {n!r}; "
                    f"set data.normalize={{{n}: false}}",
                )
            self.likelihood[n], self.frame_shapes[n] = lik, shape
            n_lat = len(offsets[n])
            self.encoders[n] = TrialEncoder(
                shape, n_lat, hidden, channels, int(config.temporal_kernel), int(config.temporal_layers), conv
            )
            n_out = int(np.prod(shape))
            if image:
                self.decoders[n] = ImageDecoder(n_lat, shape, hidden, channels, conv, image_layers)
            elif lik == "poisson":
                self.decoders[n] = nn.Linear(n_lat, n_out)
            else:
                self.decoders[n] = vector_decoder(n_lat, n_out, dec_hidden)
            if lik == "gaussian":
                self.log_vars[n] = nn.Parameter(torch.zeros((shape[0], 1, 1) if image else (n_out,)))
        if config.modality_weighting not in MODALITY_WEIGHTINGS:
            raise ConfigError(
                "model.modality_weighting",
                f"expected one of {', '.join(MODALITY_WEIGHTINGS)}, got {config.modality_weighting!r}",
            )
        learn = config.learn_variance
        if isinstance(learn, dict):
            extra = [k for k in learn if k not in names]
            if extra:
                raise ConfigError("model.learn_variance", f"names {extra}, which are not modelled inputs {names}")
        for n in self.log_vars:
            flag = dict(learn).get(n, True) if isinstance(learn, dict) else learn
            if not isinstance(flag, (bool, np.bool_)):
                raise ConfigError("model.learn_variance", f"expected true or false (or {{input: bool}}), got {flag!r}")
            self.log_vars[n].requires_grad_(bool(flag))
        self.n_features = {n: int(np.prod(self.frame_shapes[n])) for n in names}
        largest = max(self.n_features.values())
        self.weights = {}
        for n in names:
            w = float(dict(config.modality_weights).get(n, 1.0))
            if config.modality_weighting == "per_feature":
                w *= largest / self.n_features[n]
            self.weights[n] = w

    # ------------------------------------------------------------------ contract
    @property
    def input_names(self) -> list[str]:
        return list(self._names)

    @property
    def embedding_dim(self) -> int:
        return self.n_latents

    @property
    def embedding_names(self) -> list[str]:
        """Column names of the embedding: ``shared.0, ..., <input>.0, ...``."""
        out = [f"shared.{i}" for i in range(self.n_shared)]
        for n in self._names:
            out += [f"{n}.{i}" for i in range(self.n_private[n])]
        return out

    def latent_blocks(self) -> dict[str, slice]:
        """``{"shared": slice, <input>: slice}``: the columns of each block of the embedding."""
        blocks, pos = {"shared": slice(0, self.n_shared)}, self.n_shared
        for n in self._names:
            blocks[n] = slice(pos, pos + self.n_private[n])
            pos += self.n_private[n]
        return blocks

    def as_inputs(self, inputs):
        """``{name: array}`` of the modelled inputs present (at least one); a bare array is the
        only input of a one-input model."""
        if isinstance(inputs, dict):
            present = {n: inputs[n] for n in self._names if n in inputs and inputs[n] is not None}
            if not present:
                raise ConfigError("inputs", f"none of the modelled inputs {self._names}; got {sorted(inputs)}")
            return present
        if len(self._names) != 1:
            raise ConfigError("inputs", f"this model reads {len(self._names)} inputs {self._names}: pass a dict")
        return {self._names[0]: inputs}

    def make_dataset(self, splits, stage: str, seed: int = 0, rank: int = 0, world_size: int = 1):
        from behavenet.data.datasets import TrialDataset

        if not splits:
            return None
        return TrialDataset(splits, inputs=self._names, max_length=self.max_length)

    @torch.no_grad()
    def fit_data(self, splits) -> None:
        """Check Poisson inputs hold counts; start each decoder's offset at the data's mean."""
        for n in self._names:
            if len(self.frame_shapes[n]) == 3:
                if n in self.log_vars and not self.log_vars[n].requires_grad:
                    var = _channel_variance([s.inputs[n] for s in splits if n in s.inputs], self.frame_shapes[n])
                    self.log_vars[n].copy_(torch.as_tensor(np.log(var), dtype=torch.float32).reshape(-1, 1, 1))
                continue
            arrays = [np.asarray(s.inputs[n], dtype=np.float64) for s in splits if n in s.inputs]
            if not arrays:
                continue
            x = np.concatenate([a.reshape(len(a), -1) for a in arrays])
            if self.likelihood[n] == "poisson":
                finite = x[np.isfinite(x)]
                if finite.size and (finite.min() < 0 or not np.allclose(finite, np.round(finite))):
                    raise ConfigError(
                        f"model.likelihoods.{n}",
                        f"a Poisson likelihood needs non-negative integer counts; input {n!r} has values like "
                        f"{finite[(finite < 0) | (finite != np.round(finite))][:1].tolist()} (normalised spikes? "
                        f"set data.normalize={{{n}: false}})",
                    )
                rate = np.nanmean(x, axis=0)
                dec = self.decoders[n]
                dec.bias.copy_(torch.as_tensor(np.log(np.maximum(rate, 1e-3)), dtype=dec.bias.dtype))
            elif self.likelihood[n] == "gaussian":
                var = np.nanvar(x, axis=0)
                var = np.where(np.isfinite(var) & (var > 1e-6), var, 1.0)
                self.log_vars[n].copy_(torch.as_tensor(np.log(var), dtype=torch.float32))
                last = self.decoders[n] if isinstance(self.decoders[n], nn.Linear) else self.decoders[n][-1]
                mean = np.nan_to_num(np.nanmean(x, axis=0))
                last.bias.copy_(torch.as_tensor(mean, dtype=last.bias.dtype))

    # ------------------------------------------------------------------ inference
    def posterior(self, inputs: dict[str, torch.Tensor], mask: torch.Tensor | None = None, keep=None):
        """``q`` of a batch of trials ``{input: (B, T, *frame)}`` (any subset of the inputs), and
        per input the inputs with NaNs zeroed, the observed-entry mask and the observed frames.
        ``keep`` (``{input: (B,) bool}``) leaves an input's evidence out of a trial's posterior
        (its frames still count as observed for the likelihood)."""
        names = [n for n in self._names if n in inputs]
        first = inputs[names[0]]
        b, t = first.shape[:2]
        device = first.device
        if mask is None:
            mask = torch.ones(b, t, dtype=torch.bool, device=device)
        with torch.autocast(device_type=device.type, enabled=False):
            basis, prior_var = self.prior.basis(t)
            prec = torch.zeros(b, self.n_latents, t, device=device)
            prec_mean = torch.zeros(b, self.n_latents, t, device=device)
            clean, observed, frames = {}, {}, {}
            for n in names:
                x = inputs[n].float()
                finite = torch.isfinite(x)
                frame_ok = finite.reshape(b, t, -1).any(-1) & mask
                x0 = torch.where(finite, x, torch.zeros((), device=device))
                m, logp = self.encoders[n](x0, frame_ok.float())
                evidence = frame_ok if keep is None else frame_ok & keep[n][:, None]
                p = torch.exp(logp.float().clamp(-10.0, 10.0)) * evidence[:, None, :]
                idx = getattr(self, f"_idx_{n}")
                prec = prec.index_add(1, idx, p)
                prec_mean = prec_mean.index_add(1, idx, p * m.float())
                clean[n] = x0
                observed[n] = finite & mask.reshape(b, t, *([1] * (x.dim() - 2)))
                frames[n] = frame_ok
            lam = torch.einsum("ft,blt,gt->blfg", basis, prec, basis) + torch.diag_embed(1.0 / prior_var)
            eta = torch.einsum("ft,blt->blf", basis, prec_mean)
            chol = torch.linalg.cholesky(lam)
            mu = torch.cholesky_solve(eta[..., None], chol)[..., 0]
        return Posterior(mu, chol, basis, prior_var), clean, observed, frames

    def _dropout(self, inputs: dict) -> dict | None:
        """Per trial, leave each modality's evidence out of the posterior with probability
        ``modality_dropout`` (at least one kept), so that every modality alone learns to infer
        the shared latents (its likelihood is still scored: cross-modal reconstruction)."""
        rate = float(self.config.modality_dropout)
        names = [n for n in self._names if n in inputs]
        if rate <= 0 or len(names) < 2:
            return None
        b = len(inputs[names[0]])
        device = inputs[names[0]].device
        keep = torch.rand(b, len(names), device=device) >= rate
        none = ~keep.any(1)
        if none.any():
            pick = torch.randint(len(names), (b,), device=device)
            keep[none, pick[none]] = True
        return {n: keep[:, i] for i, n in enumerate(names)}

    def _decode(self, n: str, z: torch.Tensor) -> torch.Tensor:
        """Decoder output for latents ``(B, T, L_n)``: ``(B, T, *frame)`` (rates' log, means or logits)."""
        b, t = z.shape[:2]
        out = self.decoders[n](z.reshape(b * t, -1))
        return out.reshape(b, t, *self.frame_shapes[n])

    def _linear(self, n: str) -> bool:
        return isinstance(self.decoders[n], nn.Linear)

    def loss(self, batch: dict, stage: str = "train"):
        inputs = batch["inputs"]
        keep = self._dropout(inputs) if self.training and stage == "train" else None
        post, clean, observed, frames = self.posterior(inputs, batch.get("mask"), keep)
        mean, var = post.mean(), post.variance()
        sample = None
        nll = {}
        for n in clean:
            idx = getattr(self, f"_idx_{n}")
            lik, x, obs = self.likelihood[n], clean[n], observed[n]
            if lik == "poisson" or (lik == "gaussian" and self._linear(n)):
                dec = self.decoders[n]
                b, t = x.shape[:2]
                xf, of = x.reshape(b, t, -1), obs.reshape(b, t, -1)
                m, v = mean[..., idx], var[..., idx]
                if lik == "poisson":
                    nll[n] = poisson_expected_nll(xf, m, v, dec.weight, dec.bias, of)
                else:
                    nll[n] = gaussian_nll_linear(xf, m, v, dec.weight, dec.bias, self.log_vars[n], of)
            else:
                if sample is None:
                    sample = post.sample()
                out = self._decode(n, sample[..., idx])
                if lik == "gaussian":
                    nll[n] = gaussian_nll(x, out, self.log_vars[n], obs)
                else:
                    nll[n] = bernoulli_nll(x, out, obs)
        kl = post.kl()
        n_frames = torch.stack([f for f in frames.values()]).any(0).sum().clamp_min(1).float()
        total = (sum(self.weights[n] * v for n, v in nll.items()) + kl) / n_frames
        metrics = {"loss": total.detach(), "kl": (kl / n_frames).detach()}
        metrics.update({f"nll_{n}": (v / n_frames).detach() for n, v in nll.items()})
        metrics["lengthscale"] = self.prior.lengthscales.detach().mean()
        return total, metrics

    # ------------------------------------------------------------------ outputs
    def _pieces(self, n_bins: int) -> list[tuple[int, int]]:
        if n_bins <= self.max_length:
            return [(0, n_bins)]
        hop = self.max_length // 2
        starts = list(range(0, n_bins - self.max_length, hop)) + [n_bins - self.max_length]
        return [(s, s + self.max_length) for s in starts]

    @torch.no_grad()
    def _means(self, inputs: dict, batch_size: int | None = None) -> torch.Tensor:
        """``(T, L)`` posterior means of one stretch ``{input: (T, *frame)}`` (long stretches in
        overlapping pieces of ``max_length``, each bin from the piece it is most central in)."""
        from behavenet.data.datasets import frames_to_tensor

        device = self.device
        seqs = {
            k: (v if isinstance(v, torch.Tensor) else frames_to_tensor(v)).to(device, torch.float32)
            for k, v in inputs.items()
        }
        n_bins = len(next(iter(seqs.values())))
        out = torch.zeros(n_bins, self.n_latents, device=device)
        if n_bins == 0:
            return out
        best = torch.full((n_bins,), float("inf"), device=device)
        t = torch.arange(n_bins, device=device, dtype=torch.float32)
        for a, b in self._pieces(n_bins):
            post, *_ = self.posterior({k: v[a:b][None] for k, v in seqs.items()})
            m = post.mean()[0]
            dist = (t[a:b] - (a + b - 1) / 2).abs()
            better = dist < best[a:b]
            out[a:b][better] = m[better]
            best[a:b] = torch.minimum(best[a:b], dist)
        return out

    @torch.no_grad()
    def embed(self, inputs, session_index: int = 0, batch_size: int | None = None) -> torch.Tensor:
        """``(T, n_shared + sum n_private)`` posterior means of one trial (or stretch); the private
        latents of an input not given stay at their prior mean, 0."""
        was = self.training
        self.eval()
        try:
            return self._means(self.as_inputs(inputs), batch_size)
        finally:
            self.train(was)

    def write_figures(self, splits, directory) -> list:
        """``latents.png`` and ``reconstruction_<input>.png`` (see :mod:`.figures`)."""
        from behavenet.models.mmgpvae.figures import write_figures

        return write_figures(self, splits, directory)

    @property
    def embedding_inputs(self) -> list[str]:
        """A run's embeddings use the evidence of ``embed_inputs`` only."""
        return list(self.embed_inputs)

    @torch.no_grad()
    def reconstruct(self, inputs) -> dict[str, torch.Tensor]:
        """Expected value of every modelled input given the inputs present (also the missing
        ones: cross-modal prediction): rates for Poisson, means for Gaussian, probabilities for
        Bernoulli; ``{input: (T, *frame)}``."""
        was = self.training
        self.eval()
        try:
            given = self.as_inputs(inputs)
            z = self._means(given)
            out = {}
            for n in self._names:
                zn = z[:, getattr(self, f"_idx_{n}")][None]
                if self.likelihood[n] == "poisson":
                    # the mean of exp(W z + d) under q would add W^2 var / 2; the rate at the
                    # posterior mean is what a decoder of the latents returns
                    out[n] = torch.exp(self._decode(n, zn))[0]
                elif self.likelihood[n] == "bernoulli":
                    out[n] = torch.sigmoid(self._decode(n, zn))[0]
                else:
                    out[n] = self._decode(n, zn)[0]
            return out
        finally:
            self.train(was)
