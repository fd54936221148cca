"""Hyperparameters of the Behavior Transformer (BeT), declared once."""

from __future__ import annotations

from dataclasses import dataclass, field

from behavenet.models.config import TrainingConfig

__all__ = ["BeTConfig"]


@dataclass
class BeTConfig(TrainingConfig):
    """k-means action tokens, a causal GPT over the recent observations, a bin head trained with a
    focal loss and an offset head trained at the true bin only (Shafiullah et al., 2022)."""

    n_clusters: int = 24
    """Action bins: k of the k-means fitted once on the training actions before training."""
    window: int = 10
    """Context window: observations the transformer sees (the current one and window - 1 before it)."""
    n_layer: int = 4
    """Transformer blocks."""
    n_head: int = 4
    """Attention heads per block (n_embd must be a multiple of it)."""
    n_embd: int = 72
    """Width of the transformer (the embedding dimension of train.py runs)."""
    output_dim: int = 256
    """Width of the trunk's output projection (a Linear without bias, GPT's lm_head) that feeds the
    bin and offset head (0: the head reads the hidden states directly)."""
    dropout: float = 0.1
    """Dropout on the input embedding, the attention weights and every residual branch."""
    focal_gamma: float = 2.0
    """Focusing parameter gamma of the focal loss on the bins (0: cross-entropy)."""
    offset_loss_weight: float = 1000.0
    """Weight lambda of the offset loss, a mean squared error at the true bin only."""
    temperature: float = 1.0
    """Default softmax temperature when sampling bins (lower: greedier)."""
    kmeans_iterations: int = 50
    """Lloyd iterations of the k-means tokenizer (k-means++ initialisation, one start)."""
    kmeans_max_samples: int = 200000
    """At most this many training actions (drawn at random) are clustered."""
    batch_size: int = 256
    """Windows per training step, drawn uniformly with replacement from all training windows."""
    grad_clip: float = 1.0
    """Clip the gradient norm to this value before every optimiser step (0: no clipping)."""
    inputs: list[str] | None = None
    """Data inputs observed at every frame, flattened and concatenated (null: every input, less the
    action input when action_mode is value)."""
    action_input: str = "behavior"
    """The data input the actions come from."""
    action_mode: str = "displacement"
    """displacement: the action at frame t is action_input[t + 1] - action_input[t]; value: the
    action is action_input[t] itself."""
    goal_input: str | None = None
    """A data input appended to every observation as the goal (null: unconditional)."""
    pose_mode: str = "joint"
    """joint: observe the inputs of all animals together and predict their joint action (above);
    per_animal: with action_input pose, every animal is one sequence of egocentric observations
    (its recent pose window, the others' relative positions) and next-frame keypoint
    displacements (behavenet.models.bet.pose), one shared model; the embedding of a frame pools
    the animals' hidden states to at most embedding_width."""
    embedding_width: int = 128
    """Pose per animal (train.py per_animal, the estimator's fit_pose): width of the per-frame
    embedding, [mean, max - min] over the animals of their hidden states (2 * n_embd values),
    reduced by a PCA fitted on the training frames when wider (128: the MABe mouse limit)."""
    heading: list | None = None
    """Pose per animal: the keypoints (from, to) of the body axis, indices or names (null: the data
    module's data.pose.heading when set, else the last keypoint to the first)."""
    optimizer: str = "adamw"
    """A torch.optim class name; BeT uses AdamW (weight decay on Linear weights only)."""
    learning_rate: float = 1e-3
    """Peak learning rate (reached after warmup_steps, then decayed by lr_schedule). miniBET's
    1e-4, constant, is tuned for far longer training: on the four-goal benchmark's 1,451 steps it
    left the start state's four modes unevenly learnt (docs/benchmarks.md, BeT (a))."""
    lr_schedule: str = "cosine"
    """constant | cosine | linear after the warm-up (decaying to min_learning_rate at the run's
    last step: train.py's trainer.max_steps, the estimator's iterations)."""
    warmup_steps: int = 100
    """Steps of linear warm-up from 0 to learning_rate."""
    weight_decay: float = 0.1
    """Weight decay of the Linear weights (biases, LayerNorms and embeddings take none)."""
    optimizer_options: dict = field(default_factory=lambda: {"betas": [0.9, 0.95]})
    """Further keyword arguments of the torch optimiser."""
