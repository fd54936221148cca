"""Model families and the contract they share (see ``docs/adding_a_model.md``).

- :mod:`behavenet.models.config`: a family's hyperparameters, one dataclass;
- :mod:`behavenet.models.base`: :class:`Core`, the ``nn.Module`` holding a family's math;
- :mod:`behavenet.models.registry`: the one registry (``list_families``, ``get_family``);
- :mod:`behavenet.models.lightning`: :class:`FamilyModule`, the one LightningModule;
- :mod:`behavenet.models.estimator`: :class:`FamilyEstimator`, the one estimator base;
- :mod:`behavenet.models.optim`: optimiser and learning-rate schedule from a config;
- one folder per family: ``contrastive``, ``linear`` (PCA, random projection), ``autoencoder``.
"""

from __future__ import annotations

from behavenet.utils.lazy import lazy_exports

_EXPORTS = {
    "build_core": "behavenet.models.registry",
    "get_family": "behavenet.models.registry",
    "list_families": "behavenet.models.registry",
    "Core": "behavenet.models.base",
    "FamilyConfig": "behavenet.models.config",
    "TrainingConfig": "behavenet.models.config",
    "FamilyModule": "behavenet.models.lightning",
    "FamilyEstimator": "behavenet.models.estimator",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
