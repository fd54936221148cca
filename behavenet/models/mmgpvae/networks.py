"""Encoders and decoders of the MM-GPVAE (pure ``nn.Module``\\ s, any trial length).

An encoder maps each frame to features (an MLP for vectors, strided convolutions for images), runs
temporal convolutions over the trial (zero-padded, so any length works), and emits, per frame and
per latent it informs, a pseudo-observation mean and log-precision. The posterior over the Fourier
coefficients is formed from those in :mod:`behavenet.models.mmgpvae.core`; there is no layer whose
size depends on the number of time bins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FrameEncoder", "ImageDecoder", "TrialEncoder", "image_stages", "vector_decoder"]


def image_stages(height: int, width: int, max_stages: int) -> int:
    """Stride-2 stages until the smaller side is at most 12 pixels (at most ``max_stages``)."""
    n, side = 0, min(height, width)
    while side > 12 and n < max_stages:
        side = (side + 1) // 2
        n += 1
    return n


class FrameEncoder(nn.Module):
    """One frame -> ``hidden`` features: an MLP for vectors, strided convolutions for images."""

    def __init__(self, frame_shape: tuple[int, ...], hidden: int, channels: list[int], conv: bool = True):
        super().__init__()
        self.frame_shape = tuple(int(s) for s in frame_shape)
        self.image = len(self.frame_shape) == 3 and conv
        if self.image:
            c, h, w = self.frame_shape
            layers, cin = [], c
            for cout in channels[: image_stages(h, w, len(channels))]:
                layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.ELU()]
                cin = cout
            self.convs = nn.Sequential(*layers)
            with torch.no_grad():
                n_flat = int(self.convs(torch.zeros(1, c, h, w)).numel())
            self.out = nn.Sequential(nn.Flatten(), nn.Linear(n_flat, hidden), nn.ELU())
        else:
            n_in = 1
            for s in self.frame_shape:
                n_in *= s
            self.out = nn.Sequential(nn.Linear(n_in, hidden), nn.ELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, *frame)`` -> ``(B, T, hidden)``."""
        b, t = x.shape[:2]
        flat = x.reshape(b * t, *self.frame_shape)
        if self.image:
            flat = self.convs(flat)
        return self.out(flat.reshape(b * t, -1) if not self.image else flat).reshape(b, t, -1)


class TrialEncoder(nn.Module):
    """Frames -> per-frame pseudo-observations ``(mean, log_precision)`` of ``n_latents`` latents."""

    def __init__(
        self, frame_shape, n_latents: int, hidden: int, channels: list[int], kernel: int, layers: int, conv: bool = True
    ):
        super().__init__()
        self.frame = FrameEncoder(frame_shape, hidden, channels, conv)
        k = max(1, int(kernel))
        self.temporal = nn.ModuleList(nn.Conv1d(hidden, hidden, k, padding=k // 2) for _ in range(int(layers)))
        self.head = nn.Conv1d(hidden, 2 * n_latents, 1)
        self.n_latents = int(n_latents)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, T, *frame)``, ``valid (B, T)`` -> ``mean, log_precision`` each ``(B, L, T)``."""
        h = self.frame(x) * valid[..., None]
        h = h.transpose(1, 2)  # (B, H, T)
        t = h.shape[-1]
        for conv in self.temporal:
            h = F.elu(conv(h))[..., :t] * valid[:, None]
        mean, logp = self.head(h).chunk(2, dim=1)
        return mean, logp


class ImageDecoder(nn.Module):
    """Latents of one frame -> an image ``(C, H, W)``: an MLP with ``layers`` hidden layers, then
    transposed convolutions (``conv``) or straight to the pixels (``conv=False``; several times
    faster on a CPU)."""

    def __init__(
        self,
        n_latents: int,
        frame_shape: tuple[int, int, int],
        hidden: int,
        channels: list[int],
        conv: bool = True,
        layers: int = 1,
    ):
        super().__init__()
        c, h, w = (int(s) for s in frame_shape)
        self.frame_shape = (c, h, w)
        stages = image_stages(h, w, len(channels)) if conv else 0
        chans = list(reversed(channels[:stages]))
        self.start_hw = (h, w)
        for _ in range(stages):
            self.start_hw = ((self.start_hw[0] + 1) // 2, (self.start_hw[1] + 1) // 2)
        c0 = chans[0] if chans else c
        if not conv:
            self.start_hw = (h, w)
        mlp = [nn.Linear(n_latents, hidden), nn.ELU()]
        for _ in range(int(layers) - 1):
            mlp += [nn.Linear(hidden, hidden), nn.ELU()]
        self.inp = nn.Sequential(*mlp, nn.Linear(hidden, c0 * self.start_hw[0] * self.start_hw[1]))
        deconvs = []
        for i, cin in enumerate(chans):
            cout = chans[i + 1] if i + 1 < len(chans) else c
            deconvs += [nn.ELU(), nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)]
        self.deconvs = nn.Sequential(*deconvs)
        self.c0 = c0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, L)`` -> ``(N, C, H, W)``."""
        x = self.inp(z).reshape(len(z), self.c0, *self.start_hw)
        x = self.deconvs(x)
        if tuple(x.shape[-2:]) != self.frame_shape[1:]:
            x = x[..., : self.frame_shape[1], : self.frame_shape[2]]
        return x


def vector_decoder(n_latents: int, n_out: int, hidden: int) -> nn.Module:
    """Linear map (``hidden == 0``) or a one-hidden-layer MLP from latents to features."""
    if hidden <= 0:
        return nn.Linear(n_latents, n_out)
    return nn.Sequential(nn.Linear(n_latents, hidden), nn.ELU(), nn.Linear(hidden, n_out))
