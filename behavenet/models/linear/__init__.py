"""Linear baselines: PCA and random projection of (windows of) the input.

Both fit the :class:`~behavenet.models.base.EmbeddingModel` contract, so they train, export
embeddings and evaluate exactly like the learned models, and serve as the floor every learned
model must beat (``model=pca``, ``model=random_projection``).
"""

from behavenet.models.linear.module import PCAModel, RandomProjectionModel

__all__ = ["PCAModel", "RandomProjectionModel"]
