"""BeT's two loss terms, as small functions of tensors (tested against hand-computed values).

* :func:`focal_loss`: ``-(1 - p_y)^gamma * log p_y`` of the true bin ``y`` (Lin et al., 2017),
  averaged over the valid positions; ``gamma = 0`` is the cross-entropy.
* :func:`offset_loss`: the mean squared error between the offset predicted **for the true bin**
  and the true residual ``a - c_y``; the other ``k - 1`` offsets get no gradient.

Both take an optional boolean ``mask`` (True: the position counts), so that missing actions
(NaN keypoints, the last frame of a trial) do not enter the loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["focal_loss", "offset_loss", "nearest_bin"]


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return values.mean()
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum().clamp_min(1.0)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, mask=None) -> torch.Tensor:
    """Focal loss of ``logits (..., K)`` for integer ``target (...)``, mean over valid positions."""
    logp = F.log_softmax(logits.float(), dim=-1).gather(-1, target.long().unsqueeze(-1)).squeeze(-1)
    if gamma:
        loss = -((1.0 - logp.exp()).clamp_min(0.0) ** float(gamma)) * logp
    else:
        loss = -logp
    return _masked_mean(loss, mask)


def offset_loss(offsets: torch.Tensor, target: torch.Tensor, residual: torch.Tensor, mask=None) -> torch.Tensor:
    """Mean squared error of ``offsets (..., K, A)`` at the true bin ``target (...)`` against
    ``residual (..., A)``, mean over the valid positions and the action dimensions."""
    idx = target.long()[..., None, None].expand(*target.shape, 1, offsets.shape[-1])
    chosen = offsets.gather(-2, idx).squeeze(-2)
    err = ((chosen.float() - residual.float()) ** 2).mean(-1)
    return _masked_mean(err, mask)


def nearest_bin(actions: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centre ``(K, A)`` of every action ``(..., A)`` (squared distance)."""
    flat = actions.reshape(-1, actions.shape[-1]).float()
    d = (flat * flat).sum(1, keepdim=True) - 2 * flat @ centers.float().T + (centers.float() ** 2).sum(1)[None]
    return d.argmin(1).reshape(actions.shape[:-1])
