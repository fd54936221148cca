"""behavenet: representation learning for neural and animal-behaviour data.

One HDF5 session format (:mod:`behavenet.data.format`), Hydra-configured Lightning data modules
(:mod:`behavenet.data`), model families under :mod:`behavenet.models`, and evaluation
(:mod:`behavenet.eval`). Training is ``python train.py`` or :func:`behavenet.train.run`.
"""

__version__ = "0.1.0"

FORMAT_VERSION = "1.0"  # of the session file format (behavenet.data.format); defined only here

__all__ = [
    "__version__",
    "FORMAT_VERSION",
    "BehaviorTransformer",
    "ContrastiveEmbedding",
    "MMGPVAE",
    "list_pretrained",
    "load_embeddings",
    "load_pretrained",
    "load_run",
    "save_pretrained",
]


# heavy objects are imported on first use so `import behavenet` stays light
from behavenet.utils.lazy import lazy_exports  # noqa: E402

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BehaviorTransformer": "behavenet.models.bet.estimator",
        "ContrastiveEmbedding": "behavenet.models.contrastive.estimator",
        "MMGPVAE": "behavenet.models.mmgpvae.estimator",
        "list_pretrained": "behavenet.pretrained",
        "load_embeddings": "behavenet.embeddings",
        "load_pretrained": "behavenet.pretrained",
        "load_run": "behavenet.api",
        "save_pretrained": "behavenet.pretrained",
    },
    globals(),
)
