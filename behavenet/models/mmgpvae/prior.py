"""The Fourier-domain Gaussian-process prior of the MM-GPVAE (pure torch + gpytorch kernels).

A latent time series ``z(t)``, ``t = 0..T-1``, is written in a truncated real Fourier basis on a
circle of ``n_circ > T`` points::

    z(t) = sum_k B[k, t] * c_k,        c_k ~ N(0, s_k)   independently,

where the rows of ``B`` are the orthonormal real DFT vectors of the circle (cosines and sines)
restricted to the first ``T`` points. A stationary kernel on the circle is diagonalised by the DFT,
so the prior is diagonal in frequency space; its variances ``s_k`` are the eigenvalues of the
circulant covariance, i.e. the real FFT of the kernel evaluated at the circular lags
``min(j, n_circ - j)``. The kernel is a gpytorch ``ScaleKernel(RBFKernel | MaternKernel)`` with one
length scale per latent (batch shape ``(L,)``) and an explicit output scale, so any stationary
gpytorch kernel could be used the same way.

Two documented rules size the basis (:func:`circle_size`, :func:`n_frequencies`):

- **padding**: ``n_circ = max(T, p) + p`` with ``p = ceil(pad * largest length scale)``, so the first and last bins of a
  trial are not correlated through the wrap-around of the circle (``pad`` is the number of length
  scales after which the kernel has fallen below 1e-3 of its peak: 4 for the RBF kernel; see
  :data:`PAD_LENGTHSCALES`);
- **frequencies**: every frequency at which the kernel's spectral density, at the smallest current
  length scale, is at least ``cutoff`` times its peak (1e-8 for the RBF kernel, 1e-4 for Matérn kernels), capped at the Nyquist frequency
  (:func:`n_frequencies`). For the RBF kernel this is
  ``k_max = n_circ / (pi * l) * sqrt(0.5 * ln(1 / cutoff))``, the ASD rule.

Both are recomputed from the current (detached) length scales at every call: the basis is cheap to
build and nothing learned is indexed by frequency, so trials of any length share one model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "DEFAULT_CUTOFF",
    "KERNELS",
    "PAD_LENGTHSCALES",
    "FourierGPPrior",
    "circle_size",
    "fourier_basis",
    "kernel_correlation",
    "n_frequencies",
    "max_angular_frequency",
]

#: kernel name -> Matérn smoothness (None: RBF)
KERNELS = {"rbf": None, "matern12": 0.5, "matern32": 1.5, "matern52": 2.5}

#: Default frequency cutoff per kernel: the ASD rule's 1e-8 for the RBF kernel, whose spectrum
#: decays like a Gaussian; 1e-4 for the Matérn kernels, whose spectra decay polynomially (1e-8 would
#: keep every frequency). Both keep the implied covariance within 1e-3 of the dense kernel matrix.
DEFAULT_CUTOFF = {"rbf": 1e-8, "matern12": 1e-4, "matern32": 1e-4, "matern52": 1e-4}

#: Length scales after which each kernel's correlation falls below 1e-3 (rounded up to a quarter):
#: the default padding of the circle beyond the trial.
PAD_LENGTHSCALES = {"rbf": 4.0, "matern12": 7.0, "matern32": 5.75, "matern52": 5.25}


def kernel_correlation(kernel: str, tau, lengthscale: float = 1.0):
    """Correlation ``k(tau) / k(0)`` of a kernel by name (numpy or torch ``tau``)."""
    lib = torch if isinstance(tau, torch.Tensor) else __import__("numpy")
    r = abs(tau) / lengthscale
    nu = KERNELS[kernel]
    if nu is None:
        return lib.exp(-0.5 * r**2)
    s = math.sqrt(2 * nu) * r
    if nu == 0.5:
        return lib.exp(-s)
    if nu == 1.5:
        return (1 + s) * lib.exp(-s)
    return (1 + s + s**2 / 3) * lib.exp(-s)


def circle_size(n_bins: int, max_lengthscale: float, pad_lengthscales: float) -> int:
    """Points on the circle for a trial of ``n_bins``: ``max(T, p) + p`` with
    ``p = ceil(pad * max_lengthscale)``: the trial plus a gap in which the kernel decays, and at
    least twice that gap, so the kernel has decayed at half the circle (otherwise the circulant
    matrix of a short trial is not a covariance and its spectrum is not the kernel's)."""
    p = int(math.ceil(float(pad_lengthscales) * float(max_lengthscale)))
    return max(int(n_bins), p) + p


def max_angular_frequency(kernel: str, lengthscale: float, cutoff: float) -> float:
    """``omega`` at which the kernel's spectral density falls to ``cutoff`` times its peak:
    RBF ``sqrt(2 ln(1/cutoff)) / l``; Matérn-nu ``lambda * sqrt(cutoff^(-1/(nu+1/2)) - 1)`` with
    ``lambda = sqrt(2 nu) / l``."""
    nu = KERNELS[kernel]
    if nu is None:
        return math.sqrt(2.0 * math.log(1.0 / cutoff)) / lengthscale
    lam = math.sqrt(2.0 * nu) / lengthscale
    return lam * math.sqrt(cutoff ** (-1.0 / (nu + 0.5)) - 1.0)


def n_frequencies(n_circ: int, kernel: str, min_lengthscale: float, cutoff: float) -> int:
    """Highest frequency index ``K`` kept on a circle of ``n_circ`` points: every ``k`` whose
    angular frequency ``2 pi k / n_circ`` has a spectral density of at least ``cutoff`` times the
    peak at the smallest length scale, capped at the Nyquist index ``n_circ // 2``. For the RBF
    kernel: ``K = floor(n_circ / (pi l) * sqrt(0.5 ln(1 / cutoff)))``."""
    w = max_angular_frequency(kernel, float(min_lengthscale), float(cutoff))
    return int(min(math.floor(w * n_circ / (2 * math.pi) + 1e-9), n_circ // 2))


def fourier_basis(n_bins: int, n_circ: int, k_max: int, device=None, dtype=torch.float32):
    """Orthonormal real DFT rows of a circle of ``n_circ`` points restricted to ``t < n_bins``.

    Returns ``(B, freq)``: ``B`` is ``(F, n_bins)`` with rows ``cos`` for ``k = 0..k_max`` then
    ``sin`` for ``k = 1..k_max`` (no sine at the Nyquist frequency), ``freq`` ``(F,)`` the integer
    frequency of each row (its prior variance index)."""
    t = torch.arange(n_bins, device=device, dtype=torch.float64)
    kc = torch.arange(0, k_max + 1, device=device)
    ks = torch.arange(1, k_max + 1, device=device)
    if n_circ % 2 == 0:
        ks = ks[ks != n_circ // 2]
    ang_c = 2 * math.pi * kc.double()[:, None] * t[None] / n_circ
    ang_s = 2 * math.pi * ks.double()[:, None] * t[None] / n_circ
    norm_c = torch.full((len(kc),), math.sqrt(2.0 / n_circ), dtype=torch.float64, device=device)
    norm_c[kc == 0] = math.sqrt(1.0 / n_circ)
    if n_circ % 2 == 0:
        norm_c[kc == n_circ // 2] = math.sqrt(1.0 / n_circ)
    rows = torch.cat([torch.cos(ang_c) * norm_c[:, None], torch.sin(ang_s) * math.sqrt(2.0 / n_circ)])
    return rows.to(dtype), torch.cat([kc, ks])


def _gpytorch():
    try:
        import gpytorch
    except ImportError:  # pragma: no cover - depends on the environment
        from behavenet.errors import ConfigError

        raise ConfigError(
            "model.family", "the MM-GPVAE needs gpytorch: pip install 'behavenet[gp]' (or pip install gpytorch)"
        ) from None
    return gpytorch


class FourierGPPrior(nn.Module):
    """Independent GP priors on ``L`` latents, diagonal in a truncated real Fourier basis.

    Parameters
    ----------
    n_latents
        ``L``; each latent has its own length scale (bins).
    kernel
        ``rbf``, ``matern12``, ``matern32`` or ``matern52`` (gpytorch ``RBFKernel`` /
        ``MaternKernel(nu)``), wrapped in a ``ScaleKernel`` with output scale ``outputscale``.
    lengthscale
        Initial length scale of every latent, in bins.
    min_lengthscale, max_lengthscale
        Bounds of the learned length scales (a gpytorch ``Interval`` constraint).
    outputscale, learn_outputscale
        Prior variance of each latent, and whether it is learned (fixed by default: the decoders
        set the scale of the latents).
    jitter
        Added to every kept frequency's variance (numerical floor of the prior).
    cutoff
        Frequencies where the kernel's spectral density (at the smallest current length scale) is
        below ``cutoff`` times its peak are dropped (None: :data:`DEFAULT_CUTOFF`).
    pad_lengthscales
        Padding of the circle in units of the largest current length scale (None: the kernel's
        entry of :data:`PAD_LENGTHSCALES`).
    """

    def __init__(
        self,
        n_latents: int,
        kernel: str = "rbf",
        lengthscale: float = 20.0,
        min_lengthscale: float = 2.0,
        max_lengthscale: float = 100.0,
        outputscale: float = 1.0,
        learn_outputscale: bool = False,
        jitter: float = 1e-3,
        cutoff: float | None = None,
        pad_lengthscales: float | None = None,
    ):
        super().__init__()
        gpytorch = _gpytorch()
        if kernel not in KERNELS:
            raise ValueError(f"kernel: expected one of {', '.join(KERNELS)}, got {kernel!r}")
        self.kernel_name = kernel
        self.n_latents = int(n_latents)
        self.jitter = float(jitter)
        self.cutoff = float(DEFAULT_CUTOFF[kernel] if cutoff is None else cutoff)
        self.pad = float(PAD_LENGTHSCALES[kernel] if pad_lengthscales is None else pad_lengthscales)
        shape = torch.Size([max(1, self.n_latents)])
        constraint = gpytorch.constraints.Interval(float(min_lengthscale), float(max_lengthscale))
        nu = KERNELS[kernel]
        if nu is None:
            base = gpytorch.kernels.RBFKernel(batch_shape=shape, lengthscale_constraint=constraint)
        else:
            base = gpytorch.kernels.MaternKernel(nu=nu, batch_shape=shape, lengthscale_constraint=constraint)
        self.kernel = gpytorch.kernels.ScaleKernel(base, batch_shape=shape)
        with torch.no_grad():
            base.lengthscale = torch.full((*shape, 1, 1), float(lengthscale))
            self.kernel.outputscale = torch.full(shape, float(outputscale))
        self.kernel.raw_outputscale.requires_grad_(bool(learn_outputscale))

    # ------------------------------------------------------------------ kernel
    @property
    def lengthscales(self) -> torch.Tensor:
        """``(L,)`` current length scales (bins)."""
        return self.kernel.base_kernel.lengthscale.reshape(-1)[: self.n_latents]

    @property
    def outputscales(self) -> torch.Tensor:
        return self.kernel.outputscale.reshape(-1)[: self.n_latents]

    def circulant_variances(self, n_circ: int) -> torch.Tensor:
        """``(L, n_circ // 2 + 1)``: eigenvalues of each latent's circulant covariance, the real FFT
        of the gpytorch kernel at the circular lags (clamped at 0)."""
        # in float64 (the lags promote the kernel's arithmetic): float32 rounding of k(tau) would
        # put a noise floor of ~1e-7 under the spectrum, above the frequency cutoff
        j = torch.arange(n_circ, device=self.lengthscales.device, dtype=torch.float64)
        lags = torch.minimum(j, n_circ - j)[:, None]
        zero = torch.zeros(1, 1, device=lags.device, dtype=torch.float64)
        k = self.kernel.forward(zero, lags)  # (L, 1, n_circ)
        return torch.fft.rfft(k.reshape(k.shape[0], n_circ), dim=-1).real.clamp_min(0).float()

    def basis(self, n_bins: int):
        """``(B, variances)`` for trials of ``n_bins``: the basis ``(F, n_bins)`` and the prior
        variance ``(L, F)`` of every latent and kept frequency (jitter included)."""
        with torch.no_grad():
            ell = self.lengthscales.detach()
            n_circ = circle_size(n_bins, float(ell.max()), self.pad)
        eig = self.circulant_variances(n_circ)
        with torch.no_grad():
            k_max = n_frequencies(n_circ, self.kernel_name, float(ell.min()), self.cutoff)
        basis, freq = fourier_basis(n_bins, n_circ, k_max, device=eig.device)
        return basis, eig[:, freq] + self.jitter

    def covariance(self, n_bins: int) -> torch.Tensor:
        """``(L, T, T)``: the time-domain prior covariance the Fourier prior implies."""
        b, var = self.basis(n_bins)
        return torch.einsum("ft,lf,fs->lts", b, var, b)

    def dense_covariance(self, n_bins: int) -> torch.Tensor:
        """``(L, T, T)``: gpytorch's own dense kernel matrix on ``0..T-1`` (for checks)."""
        t = torch.arange(n_bins, dtype=torch.float32, device=self.lengthscales.device)[:, None]
        return self.kernel(t).to_dense()[: self.n_latents]
