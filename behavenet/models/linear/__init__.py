"""Linear baselines: PCA and random projection of (windows of) the inputs.

Both follow the family contract (:mod:`behavenet.models.base`) with no trainable parameters: they
are fitted in closed form by ``fit_data`` on every training window (no optimiser, no training
steps), then export embeddings and evaluate exactly like the learned models. They are the floor
every learned model must beat (``model=pca``, ``model=random_projection``). With several data
inputs, each frame's inputs are flattened and concatenated.
"""

from __future__ import annotations

from behavenet.models.registry import Family
from behavenet.utils.lazy import lazy_exports

FAMILIES = (
    Family(
        name="pca",
        config="behavenet.models.linear.config:PCAConfig",
        core="behavenet.models.linear.core:PCACore",
        estimator="behavenet.models.linear.estimator:WindowPCA",
        description="PCA of input windows (closed form): the linear floor",
    ),
    Family(
        name="random_projection",
        config="behavenet.models.linear.config:RandomProjectionConfig",
        core="behavenet.models.linear.core:RandomProjectionCore",
        estimator="behavenet.models.linear.estimator:WindowRandomProjection",
        description="fixed Gaussian random projection of centred input windows",
        aliases=("random",),
    ),
    Family(
        name="identity",
        config="behavenet.models.linear.config:IdentityConfig",
        core="behavenet.models.linear.core:IdentityCore",
        estimator="behavenet.models.linear.estimator:Features",
        description="the input frames themselves: evaluate and submit features computed elsewhere",
        aliases=("features",),
    ),
)

_EXPORTS = {
    "Features": ".estimator",
    "IdentityConfig": ".config",
    "IdentityCore": ".core",
    "PCAConfig": ".config",
    "RandomProjectionConfig": ".config",
    "PCACore": ".core",
    "RandomProjectionCore": ".core",
    "WindowPCA": ".estimator",
    "WindowRandomProjection": ".estimator",
}

__all__ = ["FAMILIES", *sorted(_EXPORTS)]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
