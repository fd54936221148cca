"""Behavior Transformer (BeT; Shafiullah, Cui, Altanzaya & Pinto, NeurIPS 2022).

A causal transformer over the recent observations predicts the next action as one of
``n_clusters`` k-means bins (focal loss) plus a continuous offset from that bin's centre (trained
at the true bin only). The k-means tokenizer is fitted once on the training actions before
training (``fit_data``) and kept in the checkpoint. Sampling a bin from the softmax at a
temperature and adding its offset reproduces multi-modal behaviour (one of several actions at the
same state) instead of averaging the modes. See ``docs/bet.md``.

With ``train.py`` the observation is the data inputs at every frame and the action the next-frame
change of ``model.action_input`` (the demo: spikes and position in, the position's next step
out); the embedding of a frame is the trunk's final hidden state there. With
``model=bet_pose`` (``pose_mode: per_animal``) every animal of a pose session is one sequence of
egocentric observations and keypoint displacements (:mod:`.pose`), and the embedding pools the
animals' hidden states to ``embedding_width`` columns, as the estimator's ``fit_pose``. The estimator
:class:`BehaviorTransformer` takes ``(sequences, time, obs_dim)`` observations and actions, or
multi-animal pose (``fit_pose``).
"""

from __future__ import annotations

from behavenet.models.registry import Family
from behavenet.utils.lazy import lazy_exports

FAMILY = Family(
    name="bet",
    config="behavenet.models.bet.config:BeTConfig",
    core="behavenet.models.bet.core:BeTCore",
    estimator="behavenet.models.bet.estimator:BehaviorTransformer",
    description="Behavior Transformer: k-means action bins + offsets from a causal GPT (multi-modal actions)",
    aliases=("behavior_transformer",),
    smoke_overrides=("data.inputs=[spikes,behavior]", "model.window=4", "model.batch_size=32", "model.n_clusters=6"),
)

_EXPORTS = {"BeTConfig": ".config", "BeTCore": ".core", "BehaviorTransformer": ".estimator"}

__all__ = ["FAMILY", *sorted(_EXPORTS)]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
