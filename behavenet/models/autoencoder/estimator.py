"""The multi-input autoencoder on plain arrays::

from behavenet.models.autoencoder import Autoencoder
ae = Autoencoder(output_dimension=4, max_iterations=500)
z = ae.fit_transform({"spikes": spikes, "behavior": position})   # (T, 4)
"""

from __future__ import annotations

from sklearn.base import TransformerMixin

from behavenet.models.estimator import ArrayEstimator

__all__ = ["Autoencoder"]


class Autoencoder(TransformerMixin, ArrayEstimator):
    """Per-input encoders into a shared latent and per-input decoders (linear by default); ``X``
    is ``{input name: (T, F) array}`` (or one array, or a list of either for several sessions)."""

    family = "autoencoder"

    @classmethod
    def _contract_example(cls, seed: int = 0):
        import numpy as np

        rng = np.random.default_rng(seed)
        z = rng.normal(size=(200, 2)).astype(np.float32)
        data = {
            "spikes": z @ rng.normal(size=(2, 10)).astype(np.float32),
            "behavior": z @ rng.normal(size=(2, 3)).astype(np.float32),
        }
        return dict(output_dimension=2, max_iterations=5, batch_size=32, seed=seed), (data,), data
