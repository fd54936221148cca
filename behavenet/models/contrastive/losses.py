"""InfoNCE with the negatives shared across references, similarities, temperature, goodness of fit.

For ``n`` references ``x_i`` with positives ``y+_i`` and ``m`` negatives ``y-_j`` shared by every
reference, with a similarity ``phi``::

    L = 1/n sum_i [ -phi(x_i, y+_i) + log sum_j exp phi(x_i, y-_j) ]

The positive is *not* part of the normalising sum. The loss is returned as ``(total, align,
uniform)`` with ``align = -mean_i phi(x_i, y+_i)`` and ``uniform = mean_i logsumexp_j phi(x_i,
y-_j)``; the row maximum of the negative similarities (detached) is subtracted before the
exponential for numerical stability, which leaves all three values unchanged mathematically.

Similarities (``phi``), scaled by the inverse temperature ``1 / tau``:

* ``cosine``: ``x . y / tau`` (the encoders L2-normalise their output);
* ``euclidean``: ``-||x - y||^2 / tau`` (squared distance).

Goodness of fit: ``(log(n * n_sessions) - L) * log2(e)`` bits; an embedding that carries no
information (all points equal) has ``L = log n`` and 0 bits.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "InfoNCE",
    "goodness_of_fit_bits",
    "infonce",
    "infonce_from_similarities",
    "similarities",
]

DISTANCES = ("cosine", "euclidean")
TEMPERATURE_MODES = ("constant", "auto")


def similarities(
    ref: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, distance: str = "cosine"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unscaled similarities: ``(n,)`` reference-positive and ``(n, m)`` reference-negative."""
    if distance == "cosine":
        return (ref * pos).sum(-1), ref @ neg.T
    if distance == "euclidean":
        pos_sim = -((ref - pos) ** 2).sum(-1)
        ref_sq = (ref * ref).sum(-1, keepdim=True)
        neg_sq = (neg * neg).sum(-1)
        neg_sim = 2.0 * (ref @ neg.T) - ref_sq - neg_sq[None, :]
        return pos_sim, neg_sim
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


def infonce_from_similarities(
    pos_sim: torch.Tensor, neg_sim: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(total, align, uniform)`` from scaled similarities ``(n,)`` and ``(n, m)``."""
    shift = neg_sim.max(dim=1, keepdim=True).values.detach()
    align = -pos_sim.mean()
    uniform = (torch.log(torch.exp(neg_sim - shift).sum(dim=1)) + shift[:, 0]).mean()
    return align + uniform, align, uniform


def infonce(
    ref: torch.Tensor,
    pos: torch.Tensor,
    neg: torch.Tensor,
    distance: str = "cosine",
    inverse_temperature: float | torch.Tensor = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """InfoNCE of ``(n, D)`` references, ``(n, D)`` positives and ``(m, D)`` shared negatives."""
    pos_sim, neg_sim = similarities(ref, pos, neg, distance)
    return infonce_from_similarities(pos_sim * inverse_temperature, neg_sim * inverse_temperature)


def goodness_of_fit_bits(loss, batch_size: int, n_sessions: int = 1):
    """InfoNCE -> goodness of fit in bits: ``(log(batch_size * n_sessions) - loss) * log2(e)``.

    Works on floats, numpy arrays and tensors. ``batch_size`` is the number of negatives per
    reference in one session (the batch size).
    """
    return (math.log(batch_size * n_sessions) - loss) * math.log2(math.e)


class InfoNCE(nn.Module):
    """InfoNCE criterion with a fixed or learnable temperature.

    Parameters
    ----------
    distance
        ``"cosine"`` or ``"euclidean"`` (squared distance).
    temperature_mode
        ``"constant"``: ``tau = temperature``. ``"auto"``: ``log(1 / tau)`` is a parameter
        (initialised from ``temperature``) trained with the encoder; ``tau`` is kept
        ``>= min_temperature``.
    """

    def __init__(
        self,
        distance: str = "cosine",
        temperature_mode: str = "constant",
        temperature: float = 1.0,
        min_temperature: float = 0.1,
    ):
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        if temperature_mode not in TEMPERATURE_MODES:
            raise ValueError(f"temperature_mode must be one of {TEMPERATURE_MODES}, got {temperature_mode!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.distance = distance
        self.temperature_mode = temperature_mode
        self.min_temperature = float(min_temperature)
        if temperature_mode == "auto":
            if not min_temperature > 0:
                raise ValueError(f"min_temperature must be > 0, got {min_temperature}")
            self.log_inverse_temperature = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        else:
            self.register_buffer("_fixed_inverse", torch.tensor(1.0 / float(temperature)), persistent=False)

    @property
    def inverse_temperature(self) -> torch.Tensor:
        if self.temperature_mode == "auto":
            return self.log_inverse_temperature.exp().clamp(max=1.0 / self.min_temperature)
        return self._fixed_inverse

    @property
    def temperature(self) -> torch.Tensor:
        return 1.0 / self.inverse_temperature.detach()

    def forward(
        self, ref: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return infonce(ref, pos, neg, self.distance, self.inverse_temperature)
