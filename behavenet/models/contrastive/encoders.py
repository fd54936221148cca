"""Encoders of the contrastive family: plain ``nn.Module`` networks with explicit receptive fields.

Every encoder maps a window of frames to one embedding vector. Inputs are time-major windows
``(B, L, F)`` (as cut by :func:`behavenet.data.windows.gather_windows`); the output is ``(B, D)``
when ``L`` equals the receptive field and ``(B, L - RF + 1, D)`` when a longer sequence is given
(the convolutional encoders are evaluated fully convolutionally over long sequences).

Architectures (``make_encoder(name, in_dim, hidden, out_dim)``):

``offset1``
    MLP on single frames: Linear(F, H) - GELU - Linear(H, H) - GELU - Linear(H, H/2) - GELU -
    Linear(H/2, D). Receptive field ``(0, 1)``.
``offset5``, ``offset10``, ``offset15``, ``offset20``, ``offset36``, ``offset40``, ``offset50``
    Temporal convolution stacks: a kernel-2 convolution F -> H and GELU, then ``n`` residual
    blocks (kernel-3 convolution H -> H and GELU, added to the input cropped by one frame on each
    side), then a kernel-2 or kernel-3 output convolution H -> D. The number ``k`` in ``offsetk``
    is the receptive field in frames.
``*-mse``
    The same network without the final L2 normalisation (for Euclidean similarity).
    ``offset1-mse`` is wider (30D - 30D - 10D hidden units) as in CEBRA's ``offset1-model-mse``.

By default the output is L2-normalised (cosine similarity lives on the unit sphere).
CEBRA's names (``offset10-model``, ``offset1-model-mse`` ...) are accepted as aliases.

Implementation notes. The temporal convolutions work on the time-major layout directly: the
``k`` shifted copies of the input are concatenated along features and multiplied with the
flattened kernel in one GEMM. For training batches :meth:`ConvEncoder.forward_indexed` can apply
the first layer once per *frame* of the session (instead of once per frame of every window) when
the session is shorter than the batch's total window length, which saves about a third of the
floating-point work of an ``offset10`` step on typical data.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvEncoder",
    "FrameConvEncoder",
    "MLPEncoder",
    "TemporalConv",
    "VideoEncoder",
    "architecture_info",
    "list_architectures",
    "make_encoder",
    "resolve_architecture",
]


class TemporalConv(nn.Module):
    """1-D convolution over time-major sequences: ``(B, L, C_in) -> (B, L - k + 1, C_out)``.

    Parameters are stored and initialised like :class:`torch.nn.Conv1d` (``weight`` has shape
    ``(C_out, C_in, k)``), so the numbers mean the same as in a channel-first network.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size)
        nn.init.uniform_(self.bias, -bound, bound)

    def _kernel(self) -> torch.Tensor:
        # (k * C_in, C_out), rows ordered tap-major to match the concatenation in forward
        return self.weight.permute(2, 1, 0).reshape(self.kernel_size * self.in_channels, self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        b, length, c = x.shape
        out_len = length - k + 1
        if out_len < 1:
            raise ValueError(f"sequence of {length} frames is shorter than the kernel ({k})")
        if k == 1:
            taps = x
        elif out_len == 1 and x.is_contiguous():
            taps = x  # the whole window is the single tap vector: a view, no copy
        else:
            taps = torch.cat([x[:, j : j + out_len] for j in range(k)], dim=2)
        y = torch.addmm(self.bias, taps.reshape(b * out_len, k * c), self._kernel())
        return y.view(b, out_len, self.out_channels)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame tap projections ``(..., C_in) -> (..., k * C_out)`` (no bias)."""
        w = self.weight.permute(1, 2, 0).reshape(self.in_channels, self.kernel_size * self.out_channels)
        return x @ w

    def combine(self, z: torch.Tensor) -> torch.Tensor:
        """Sum shifted tap projections ``(B, L, k * C_out) -> (B, L - k + 1, C_out)`` plus bias."""
        k, o = self.kernel_size, self.out_channels
        out_len = z.shape[1] - k + 1
        z = z.view(z.shape[0], z.shape[1], k, o)
        y = z[:, 0:out_len, 0] + self.bias
        for j in range(1, k):
            y = y + z[:, j : j + out_len, j]
        return y


def _autocast_on(t: torch.Tensor) -> bool:
    try:
        return torch.is_autocast_enabled(t.device.type)
    except TypeError:  # pragma: no cover - torch < 2.4 has no device_type argument
        return torch.is_autocast_enabled()


def _use_fused(t: torch.Tensor) -> bool:
    """Whether to use the hand-written autograd functions below: only when gradients are needed
    and autocast is off. Under autocast (``trainer=gpu``'s bf16-mixed) their saved tensors would
    mix dtypes in the backward, so the plain autograd composition runs instead (same maths)."""
    return torch.is_grad_enabled() and not _autocast_on(t)


class _SkipBlockFn(torch.autograd.Function):
    """``a[:, 1:-1] + gelu(conv3(a))`` with a hand-written backward.

    Same result as the autograd composition of ``cat``/``addmm``/``gelu``/slicing, but the
    backward writes the input gradient with one copy and three in-place adds instead of four
    zero-filled slice gradients, which is most of the non-GEMM time of a small conv stack.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, length, c = a.shape
        out_len = length - 2
        o = weight.shape[0]
        kernel = weight.permute(2, 1, 0).reshape(3 * c, o)
        taps = torch.cat([a[:, 0:out_len], a[:, 1 : out_len + 1], a[:, 2:]], dim=2).reshape(b * out_len, 3 * c)
        u = torch.addmm(bias, taps, kernel)
        out = torch.nn.functional.gelu(u).view(b, out_len, o)
        out += a[:, 1:-1]
        ctx.save_for_backward(taps, u, kernel)
        ctx.shape = (b, length, c, o)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        taps, u, kernel = ctx.saved_tensors
        b, length, c, o = ctx.shape
        out_len = length - 2
        grad_out = grad_out.contiguous()
        du = torch.ops.aten.gelu_backward(grad_out.view(b * out_len, o), u)
        grad_kernel = taps.T @ du  # (3c, o)
        grad_weight = grad_kernel.view(3, c, o).permute(2, 1, 0)
        grad_bias = du.sum(0)
        dtaps = (du @ kernel.T).view(b, out_len, 3, c)
        da = torch.empty(b, length, c, dtype=grad_out.dtype, device=grad_out.device)
        da[:, :out_len] = dtaps[:, :, 0]
        da[:, out_len:] = 0
        da[:, 1 : out_len + 1] += dtaps[:, :, 1]
        da[:, 1 : out_len + 1] += grad_out
        da[:, 2:] += dtaps[:, :, 2]
        return da, grad_weight, grad_bias


class _FrameProjectGeluFn(torch.autograd.Function):
    """First layer of a conv encoder applied per frame, then gathered into windows.

    ``z = X @ W`` for every frame ``X`` of the session (dense, or CSR for sparse inputs such as
    spike counts), windows gathered at ``flat`` (``B * L`` frame indices), and
    ``gelu(z[:, :-1, 0] + z[:, 1:, 1] + bias)``; the hand-written backward scatters the window
    gradients back to frames with one ``index_add_`` and forms ``dW = X^T dZ``.
    """

    @staticmethod
    def forward(ctx, weight_mat, bias, data, data_t, flat, n_windows: int):
        z = data @ weight_mat  # (T, 2H); CSR @ dense when data is sparse
        hid = bias.shape[0]
        length = flat.shape[0] // n_windows
        zw = z.index_select(0, flat).view(n_windows, length, 2, hid)
        h = zw[:, :-1, 0] + zw[:, 1:, 1]
        h += bias
        ctx.save_for_backward(h, flat)
        ctx.data, ctx.data_t = data, data_t
        ctx.n_frames = z.shape[0]
        return torch.nn.functional.gelu(h)

    @staticmethod
    def backward(ctx, grad_out):
        h, flat = ctx.saved_tensors
        dh = torch.ops.aten.gelu_backward(grad_out.contiguous(), h)
        b, out_len, hid = dh.shape
        dzw = torch.empty(b, out_len + 1, 2, hid, dtype=dh.dtype, device=dh.device)
        dzw[:, :out_len, 0] = dh
        dzw[:, out_len, 0] = 0
        dzw[:, 0, 1] = 0
        dzw[:, 1:, 1] = dh
        dz = torch.zeros(ctx.n_frames, 2 * hid, dtype=dh.dtype, device=dh.device)
        dz.index_add_(0, flat, dzw.view(-1, 2 * hid))
        data_t = ctx.data_t if ctx.data_t is not None else ctx.data.T
        grad_w = data_t @ dz
        return grad_w, dh.sum((0, 1)), None, None, None, None


class _Encoder(nn.Module):
    """Shared helpers: receptive field bookkeeping and gathering windows by centre."""

    left: int = 0
    right: int = 1
    normalize: bool = True

    @property
    def receptive_field(self) -> tuple[int, int]:
        """``(left, right)``: the embedding of frame t uses frames ``[t - left, t + right)``."""
        return (self.left, self.right)

    @property
    def window_length(self) -> int:
        return self.left + self.right

    def _finish(self, y: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            y = F.normalize(y, dim=-1)
        return y

    def forward_indexed(self, data: torch.Tensor, centers: torch.Tensor, sparse=None) -> torch.Tensor:
        """Embed the windows around ``centers`` of a ``(T, F)`` tensor; returns ``(B, D)``."""
        rel = torch.arange(-self.left, self.right, device=centers.device)
        flat = (centers[:, None] + rel[None, :]).reshape(-1)
        windows = data.index_select(0, flat).view(len(centers), self.window_length, *data.shape[1:])
        return self(windows)


class MLPEncoder(_Encoder):
    """Frame-wise MLP (receptive field ``(0, 1)``)."""

    def __init__(self, in_dim: int, widths: list[int], out_dim: int, normalize: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_dim
        for w in widths:
            layers += [nn.Linear(prev, w), nn.GELU()]
            prev = w
        layers.append(nn.Linear(prev, out_dim))
        self.net = nn.Sequential(*layers)
        self.normalize = normalize
        self.left, self.right = 0, 1
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # (B, F): single frames
            return self._finish(self.net(x))
        y = self._finish(self.net(x))  # (B, L, D)
        return y[:, 0] if x.shape[1] == 1 else y


class ConvEncoder(_Encoder):
    """Temporal convolution stack (see the module docstring)."""

    def __init__(
        self, in_dim: int, hidden: int, out_dim: int, n_blocks: int, last_kernel: int = 3, normalize: bool = True
    ):
        super().__init__()
        self.first = TemporalConv(in_dim, hidden, 2)
        self.blocks = nn.ModuleList(TemporalConv(hidden, hidden, 3) for _ in range(n_blocks))
        self.last = TemporalConv(hidden, out_dim, last_kernel)
        self.normalize = normalize
        rf = 1 + 1 + 2 * n_blocks + (last_kernel - 1)
        self.left, self.right = rf // 2, rf - rf // 2
        self.out_dim = out_dim

    def _body(self, h: torch.Tensor, activated: bool = False) -> torch.Tensor:
        fused = _use_fused(h)
        if not activated:
            h = F.gelu(h)
        for block in self.blocks:
            if fused:
                h = _SkipBlockFn.apply(h, block.weight, block.bias)
            else:
                h = h[:, 1:-1] + F.gelu(block(h))
        return self._finish(self.last(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._body(self.first(x))
        return y[:, 0] if x.shape[1] == self.window_length else y

    def forward_indexed(self, data, centers: torch.Tensor, sparse=None) -> torch.Tensor:
        """Embed the windows around ``centers`` of the session tensor ``data`` ``(T, F)``.

        When the session has no more frames than the batch has window slots, the first layer is
        applied once per frame and the projections are gathered (fewer operations than per
        window). ``sparse`` may hold ``(csr, csr_transposed)`` copies of ``data`` for inputs that
        are mostly zeros (spike counts); they replace the dense products of the first layer.
        """
        n_slots = len(centers) * self.window_length
        if (
            isinstance(data, torch.Tensor)
            and data.dtype.is_floating_point
            and data.dim() == 2
            and data.shape[0] <= n_slots
        ):
            rel = torch.arange(-self.left, self.right, device=centers.device)
            flat = (centers[:, None] + rel[None, :]).reshape(-1)
            first = self.first
            w = first.weight.permute(1, 2, 0).reshape(first.in_channels, 2 * first.out_channels)
            if _use_fused(data):
                x, xt = sparse if sparse is not None else (data, None)
                h = _FrameProjectGeluFn.apply(w, first.bias, x, xt, flat, len(centers))
                return self._body(h, activated=True)[:, 0]
            # no gradients, or autocast: plain ops (dense data under autocast: CSR products with
            # a low-precision weight are not supported everywhere)
            x = sparse[0] if sparse is not None and not _autocast_on(data) else data
            zw = (x @ w).index_select(0, flat).view(len(centers), self.window_length, -1)
            return self._body(first.combine(zw))[:, 0]
        return super().forward_indexed(data, centers)


class FrameConvEncoder(nn.Module):
    """Per-frame image encoder: ``(N, H, W, C)`` frames (or ``(N, C, H, W)`` with
    ``layout="CHW"``; uint8, or float in [0, 1]) -> ``(N, features)``.

    Three stride-2 convolutions (16, 32, 32 channels, GELU), adaptive average pooling to a 4x4
    grid and a linear layer. uint8 frames are scaled by 1/255.
    """

    def __init__(
        self,
        frame_shape: tuple[int, int, int] | list[int],
        features: int = 32,
        channels: tuple[int, int, int] = (16, 32, 32),
        layout: str = "HWC",
    ):
        super().__init__()
        h, w, c = (int(v) for v in frame_shape)
        self.frame_shape = (h, w, c)
        if layout not in ("HWC", "CHW"):
            raise ValueError(f"layout must be 'HWC' or 'CHW', got {layout!r}")
        self.layout = layout
        c1, c2, c3 = channels
        self.net = nn.Sequential(
            nn.Conv2d(c, c1, 5, stride=2, padding=2),
            nn.GELU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(c2, c3, 3, stride=2, padding=1),
            nn.GELU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(c3 * 16, features),
        )
        self.features = features
        # pixel normalisation (mean image and one scale), set from training frames
        self.register_buffer("pixel_mean", torch.zeros(c, h, w))
        self.register_buffer("pixel_scale", torch.ones(()))
        self.register_buffer("normalization_set", torch.zeros((), dtype=torch.bool))

    def _to_chw(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.float().div_(255.0) if frames.dtype == torch.uint8 else frames.float()
        return x.movedim(-1, -3) if self.layout == "HWC" else x

    @torch.no_grad()
    def set_normalization(self, frames: torch.Tensor) -> None:
        """Mean image and overall standard deviation of ``frames`` (training frames): subtracting
        the static background is what lets small moving animals drive the features."""
        x = self._to_chw(frames)
        mean = x.mean(0)
        scale = (x - mean).std()
        self.pixel_mean.copy_(mean)
        self.pixel_scale.fill_(float(scale) if float(scale) > 1e-6 else 1.0)
        self.normalization_set.fill_(True)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = (self._to_chw(frames) - self.pixel_mean) / self.pixel_scale
        return self.net(x.contiguous(memory_format=torch.channels_last))


class VideoEncoder(_Encoder):
    """A :class:`FrameConvEncoder` feeding a temporal encoder (any architecture of this module)."""

    def __init__(self, frame_encoder: FrameConvEncoder, temporal: _Encoder):
        super().__init__()
        self.frame_encoder = frame_encoder
        self.temporal = temporal
        self.left, self.right = temporal.receptive_field
        self.normalize = temporal.normalize
        self.out_dim = temporal.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, L, H, W, C)
        b, length = x.shape[:2]
        feats = self.frame_encoder(x.reshape(b * length, *x.shape[2:])).view(b, length, -1)
        return self.temporal(feats)

    def forward_indexed(self, data, centers: torch.Tensor, sparse=None) -> torch.Tensor:
        # encode each distinct frame once, then assemble the windows from the features
        rel = torch.arange(-self.left, self.right, device=centers.device)
        flat = (centers[:, None] + rel[None, :]).reshape(-1)
        uniq, inverse = torch.unique(flat, return_inverse=True)
        frames = data.index_select(0, uniq)  # a tensor, or a lazy reader with index_select
        feats = self.frame_encoder(frames)
        windows = feats.index_select(0, inverse).view(len(centers), self.window_length, -1)
        return self.temporal(windows)


# ---------------------------------------------------------------------- registry
_ARCHITECTURES: dict[str, tuple[Callable[..., _Encoder], str]] = {}
_ALIASES: dict[str, str] = {}

_CONV_DEPTHS = {  # receptive field -> (number of residual blocks, output kernel)
    5: (1, 2),
    10: (3, 3),
    15: (6, 2),
    20: (8, 3),
    36: (16, 3),
    40: (18, 3),
    50: (23, 3),
}


def _register(name: str, factory: Callable[..., _Encoder], doc: str, *aliases: str) -> None:
    _ARCHITECTURES[name] = (factory, doc)
    for alias in aliases:
        _ALIASES[alias] = name


def _mlp(normalize: bool, wide: bool):
    def factory(in_dim: int, hidden: int, out_dim: int) -> _Encoder:
        widths = [30 * out_dim, 30 * out_dim, 10 * out_dim] if wide else [hidden, hidden, max(1, hidden // 2)]
        return MLPEncoder(in_dim, widths, out_dim, normalize=normalize)

    return factory


def _conv(rf: int, normalize: bool):
    blocks, last = _CONV_DEPTHS[rf]

    def factory(in_dim: int, hidden: int, out_dim: int) -> _Encoder:
        return ConvEncoder(in_dim, hidden, out_dim, blocks, last, normalize=normalize)

    return factory


_register("offset1", _mlp(True, False), "frame-wise MLP, L2-normalised", "offset1-model")
_register("offset1-mse", _mlp(False, True), "wide frame-wise MLP (30D-30D-10D), not normalised", "offset1-model-mse")
for _rf, (_blocks, _last) in _CONV_DEPTHS.items():
    _register(
        f"offset{_rf}",
        _conv(_rf, True),
        f"conv, receptive field {_rf} ({_blocks} residual blocks), L2-normalised",
        f"offset{_rf}-model",
    )
    _register(
        f"offset{_rf}-mse",
        _conv(_rf, False),
        f"conv, receptive field {_rf} ({_blocks} residual blocks), not normalised",
        f"offset{_rf}-model-mse",
    )


def resolve_architecture(name: str) -> str:
    """Canonical architecture name for ``name`` (CEBRA aliases accepted)."""
    key = _ALIASES.get(name, name)
    if key not in _ARCHITECTURES:
        from behavenet.errors import ConfigError

        raise ConfigError(
            "model_architecture", f"unknown architecture {name!r}; choose one of {', '.join(list_architectures())}"
        )
    return key


def list_architectures(include_aliases: bool = False) -> list[str]:
    """Names accepted by :func:`make_encoder` (CEBRA aliases with ``include_aliases``)."""
    names = list(_ARCHITECTURES)
    return names + sorted(_ALIASES) if include_aliases else names


def architecture_info(name: str) -> str:
    return _ARCHITECTURES[resolve_architecture(name)][1]


def make_encoder(name: str, in_dim: int, hidden: int = 32, out_dim: int = 8) -> _Encoder:
    """Build the encoder ``name`` for ``in_dim`` input features."""
    factory, _ = _ARCHITECTURES[resolve_architecture(name)]
    if in_dim < 1 or hidden < 1 or out_dim < 1:
        from behavenet.errors import ConfigError

        raise ConfigError("model", f"in_dim, hidden and out_dim must be >= 1, got {in_dim}, {hidden}, {out_dim}")
    return factory(int(in_dim), int(hidden), int(out_dim))
