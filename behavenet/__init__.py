"""behavenet: representation learning for neural and animal-behaviour data.

One HDF5 session format (:mod:`behavenet.data.format`), Hydra-configured Lightning data modules
(:mod:`behavenet.data`), model families under :mod:`behavenet.models`, and evaluation
(:mod:`behavenet.eval`). Training is ``python train.py`` or :func:`behavenet.train.run`.
"""

__version__ = "0.1.0"

FORMAT_VERSION = "1.0"

__all__ = ["__version__", "FORMAT_VERSION", "ContrastiveEmbedding", "load_run"]


def __getattr__(name: str):
    # heavy objects are imported on first use so `import behavenet` stays light
    if name == "ContrastiveEmbedding":
        from behavenet.models.contrastive.estimator import ContrastiveEmbedding

        return ContrastiveEmbedding
    if name == "load_run":
        from behavenet.api import load_run

        return load_run
    raise AttributeError(f"module 'behavenet' has no attribute {name!r}")
