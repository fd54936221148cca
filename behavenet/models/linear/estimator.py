"""scikit-learn style estimators of the linear baselines, on plain arrays::

from behavenet.models.linear import WindowPCA
z = WindowPCA(output_dimension=4, window=5).fit_transform(spikes)   # (T, 4)
"""

from __future__ import annotations

from sklearn.base import TransformerMixin

from behavenet.models.estimator import ArrayEstimator

__all__ = ["Features", "WindowPCA", "WindowRandomProjection"]


class WindowPCA(TransformerMixin, ArrayEstimator):
    """PCA of ``window``-frame windows (edges replicate-padded when embedding), fitted in closed
    form on every window of ``X``."""

    family = "pca"

    @classmethod
    def _contract_example(cls, seed: int = 0):
        import numpy as np

        x = np.random.default_rng(seed).normal(size=(200, 6)).astype(np.float32)
        return dict(output_dimension=2, window=3, seed=seed), (x,), x


class WindowRandomProjection(TransformerMixin, ArrayEstimator):
    """A fixed Gaussian random projection (drawn from ``seed``) of centred windows."""

    family = "random_projection"
    config_exclude = ("seed",)

    def _config_from_data(self, seed: int) -> dict:
        return {"seed": seed}

    @classmethod
    def _contract_example(cls, seed: int = 0):
        import numpy as np

        x = np.random.default_rng(seed).normal(size=(200, 6)).astype(np.float32)
        return dict(output_dimension=2, window=3, seed=seed), (x,), x


class Features(TransformerMixin, ArrayEstimator):
    """The frames themselves (optionally centred): the ``identity`` family as an estimator."""

    family = "identity"

    @classmethod
    def _contract_example(cls, seed: int = 0):
        import numpy as np

        x = np.random.default_rng(seed).normal(size=(200, 6)).astype(np.float32)
        return dict(center=True, seed=seed), (x,), x
