"""The multi-input autoencoder's :class:`~behavenet.models.base.Core`."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from behavenet.errors import ConfigError
from behavenet.models.autoencoder.config import AutoencoderConfig
from behavenet.models.base import Core, input_specs

__all__ = ["AutoencoderCore"]


def _net(n_in: int, n_out: int, hidden: int) -> nn.Module:
    if hidden <= 0:
        return nn.Linear(n_in, n_out)
    return nn.Sequential(nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, n_out))


class AutoencoderCore(Core):
    """``z = mean_i enc_i(window_i)``; ``loss = mean_i MSE(dec_i(z), window_i)``."""

    def __init__(self, config: AutoencoderConfig, data_spec=None):
        super().__init__(config, data_spec)
        specs = input_specs(self.data_spec)
        names = list(config.inputs) if config.inputs else list(specs)
        for name in names:
            if name not in specs:
                raise ConfigError(
                    "model.inputs",
                    f"the data offer no input {name!r} (inputs: {', '.join(specs) or 'none'}); set data.inputs",
                )
        if not names:
            raise ConfigError("model.inputs", "expected at least one input")
        for key in ("output_dimension", "window"):
            if int(getattr(config, key)) < 1:
                raise ConfigError(f"model.{key}", f"expected an integer >= 1, got {getattr(config, key)!r}")
        if int(config.hidden_units) < 0:
            raise ConfigError("model.hidden_units", f"expected an integer >= 0, got {config.hidden_units!r}")
        self._names = names
        self.window = int(config.window)
        self.sizes = {}
        for name in names:
            sizes = {int(np.prod(s)) for s in specs[name].get("shapes") or []}
            if len(sizes) != 1:
                raise ConfigError(
                    "model",
                    f"the autoencoder needs one size of input {name!r} in every session, got {sorted(sizes) or 'none'}",
                )
            self.sizes[name] = sizes.pop() * self.window
        d, h = int(config.output_dimension), int(config.hidden_units)
        self.encoders = nn.ModuleDict({n: _net(self.sizes[n], d, h) for n in names})
        self.decoders = nn.ModuleDict({n: _net(d, self.sizes[n], h) for n in names})

    @property
    def input_names(self) -> list[str]:
        return list(self._names)

    @property
    def embedding_dim(self) -> int:
        return int(self.config.output_dimension)

    @property
    def receptive_field(self) -> tuple[int, int]:
        return (self.window // 2, self.window - self.window // 2)

    def _flat(self, windows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {n: windows[n].reshape(windows[n].shape[0], -1).float() for n in self._names}

    def encode(self, windows: dict[str, torch.Tensor], session_index: int = 0) -> torch.Tensor:
        flat = self._flat(windows)
        return torch.stack([self.encoders[n](flat[n]) for n in self._names]).mean(0)

    def loss(self, batch: dict, stage: str = "train"):
        flat = self._flat(batch["inputs"])
        z = torch.stack([self.encoders[n](flat[n]) for n in self._names]).mean(0)
        errors = {n: ((self.decoders[n](z) - flat[n]) ** 2).mean() for n in self._names}
        total = torch.stack(list(errors.values())).mean()
        return total, {"loss": total.detach(), **{f"mse_{n}": e.detach() for n, e in errors.items()}}
