"""Positive-pair samplers of the contrastive family.

Every sampler draws, for each session, ``n`` references and ``n`` negatives i.i.d. from a prior
over the session's *valid* window centres (frames whose whole receptive field lies inside one
trial, see :func:`behavenet.data.windows.valid_centers`; nothing is clamped into the edges), and
one positive per reference by its own rule:

``time``
    ``t + offset`` (offset drawn from ``time_offsets``), inside the same trial.
``time_delta``
    Behaviour-contrastive for continuous labels. The query is ``y_ref + d`` where ``d = y_t -
    y_(t - offset)`` is drawn from the empirical pool of label changes (only pairs inside one
    trial with finite labels); the positive is the frame whose label is the nearest neighbour of
    the query among all candidate frames (a k-d tree built once, or ``torch.cdist`` for
    high-dimensional labels).
``delta``
    Query ``~ N(y_ref, delta^2 I)``; positive = nearest neighbour of the query.
``discrete``
    Positive uniform among frames with the same class as the reference (label ``-1`` =
    unlabelled frames are never references or positives). The prior is the empirical one
    (uniform over frames) or class-balanced.
``mixed``
    ``time_delta`` restricted to frames of the reference's class.
``hybrid`` (a flag, not a conditional)
    A second positive set at ``t + offset`` in addition to the label-based positive; the model
    sums the two InfoNCE terms.

Multi-session (more than one session): each session has its own encoder; positives are looked
up *in another session* to align the embedding spaces through the labels. For continuous labels
the queries are built from the label changes pooled over all sessions and dealt to sessions at
random (each session receives ``n`` queries); the positive is the query's nearest neighbour in its
session. For discrete and mixed labels each reference's positive comes from a random session that
has frames of its class. ``time`` cannot align sessions and is refused.

Samplers take an explicit :class:`numpy.random.Generator`; the same generator state gives the same
batch, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from behavenet.data.splits import SplitData
from behavenet.data.windows import valid_centers
from behavenet.errors import ConfigError

CONDITIONALS = ("time", "time_delta", "delta", "discrete", "mixed")
PRIORS = ("auto", "empirical", "balanced")

__all__ = [
    "CONDITIONALS",
    "ContrastiveSampler",
    "NearestNeighbourIndex",
    "SessionFrames",
    "auto_conditional",
]


def auto_conditional(has_continuous: bool, has_discrete: bool) -> str:
    """The default conditional for the label kinds on offer (never from dtypes)."""
    if has_continuous and has_discrete:
        return "mixed"
    if has_continuous:
        return "time_delta"
    if has_discrete:
        return "discrete"
    return "time"


@dataclass
class SessionFrames:
    """What the samplers need from one session: segments, valid centres and labels."""

    n_frames: int
    segments: np.ndarray
    left: int
    right: int
    continuous: np.ndarray | None = None  # (T, k) float
    discrete: np.ndarray | None = None  # (T,) int64, -1 = unlabelled
    centers: np.ndarray = field(init=False)

    def __post_init__(self):
        self.segments = np.asarray(self.segments, dtype=np.int64).reshape(-1, 2)
        self.centers = valid_centers(self.segments, self.left, self.right)
        if self.continuous is not None:
            self.continuous = np.asarray(self.continuous, dtype=np.float64).reshape(self.n_frames, -1)
        if self.discrete is not None:
            self.discrete = np.asarray(self.discrete, dtype=np.int64).reshape(self.n_frames)

    @classmethod
    def from_split(cls, split: SplitData, left: int, right: int, label_names: list[str] | None = None) -> SessionFrames:
        return cls(
            split.n_frames,
            split.segments,
            left,
            right,
            split.continuous_labels(label_names),
            split.discrete_labels(label_names),
        )

    def time_centers(self, offset: int) -> np.ndarray:
        """Centres ``t`` whose window and the window at ``t + offset`` fit in one trial."""
        return valid_centers(self.segments, self.left, self.right, offset)

    def label_ok(self, continuous: bool = True, discrete: bool = True) -> np.ndarray:
        """``(T,)`` bool: frames with usable labels (finite continuous values and/or a
        non-negative class, for the label kinds asked for)."""
        ok = np.ones(self.n_frames, dtype=bool)
        if continuous and self.continuous is not None:
            ok &= np.isfinite(self.continuous).all(axis=1)
        if discrete and self.discrete is not None:
            ok &= self.discrete >= 0
        return ok


class NearestNeighbourIndex:
    """Exact nearest neighbour of query points among fixed points.

    ``backend="kdtree"`` builds a :class:`scipy.spatial.cKDTree` once (fast for low-dimensional
    labels); ``"cdist"`` uses chunked :func:`torch.cdist` + argmin (any dimension, any device).
    ``"auto"`` picks the k-d tree up to 8 dimensions.
    """

    def __init__(self, points: np.ndarray, backend: str = "auto", device: str = "cpu"):
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or len(points) == 0:
            raise ValueError("NearestNeighbourIndex needs a non-empty (N, k) array")
        if backend == "auto":
            backend = "kdtree" if points.shape[1] <= 8 else "cdist"
        if backend not in ("kdtree", "cdist"):
            raise ValueError(f"backend must be 'auto', 'kdtree' or 'cdist', got {backend!r}")
        self.backend = backend
        if backend == "kdtree":
            from scipy.spatial import cKDTree

            self._tree = cKDTree(points)
        else:
            import torch

            self._points = torch.as_tensor(points, dtype=torch.float32, device=device)

    def query(self, queries: np.ndarray) -> np.ndarray:
        """Row index (into the points) of the nearest point of each query."""
        queries = np.asarray(queries, dtype=np.float64)
        if len(queries) == 0:
            return np.zeros(0, dtype=np.int64)
        if self.backend == "kdtree":
            _, idx = self._tree.query(queries, k=1)
            return np.asarray(idx, dtype=np.int64)
        import torch

        q = torch.as_tensor(queries, dtype=torch.float32, device=self._points.device)
        out = []
        for start in range(0, len(q), 4096):
            out.append(torch.cdist(q[start : start + 4096], self._points).argmin(dim=1))
        return torch.cat(out).cpu().numpy().astype(np.int64)


class _Prior:
    """Uniform over ``frames`` (empirical) or class-balanced over their classes."""

    def __init__(self, frames: np.ndarray, classes: np.ndarray | None = None, balanced: bool = False):
        self.frames = np.asarray(frames, dtype=np.int64)
        self.balanced = balanced and classes is not None
        if self.balanced:
            cls = classes[self.frames]
            order = np.argsort(cls, kind="stable")
            self._sorted = self.frames[order]
            self._classes, self._starts, self._counts = np.unique(cls[order], return_index=True, return_counts=True)

    def __len__(self) -> int:
        return len(self.frames)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.balanced:
            k = rng.integers(0, len(self._classes), n)
            j = (rng.random(n) * self._counts[k]).astype(np.int64)
            return self._sorted[self._starts[k] + j]
        return self.frames[rng.integers(0, len(self.frames), n)]


class ContrastiveSampler:
    """Draws (reference, positive, negative) frame indices for one or more sessions.

    Parameters
    ----------
    sessions
        One :class:`SessionFrames` per session (same label layout in every session).
    conditional
        One of ``time``, ``time_delta``, ``delta``, ``discrete``, ``mixed``.
    time_offsets
        Offsets (frames) for ``time`` positives and the label changes of ``time_delta``/``mixed``.
    delta
        Standard deviation of the ``delta`` query noise (in label units).
    hybrid
        Also draw ``t + offset`` positives (``pos_time``) for a label conditional.
    prior
        ``"empirical"`` (uniform over frames), ``"balanced"`` (uniform over classes, discrete
        labels only) or ``"auto"`` (balanced for ``mixed``, empirical otherwise, as in CEBRA).
    nn_backend
        Nearest-neighbour backend (see :class:`NearestNeighbourIndex`).

    :meth:`sample` returns a dict of numpy arrays:

    ``ref``, ``neg``: ``(S, n)`` frame indices per session.
    ``pos``: list of ``S`` arrays, the positives that live in each session (their lengths sum to
    ``S * n``). ``pos_order``: ``(S * n,)`` (only when ``S > 1``): concatenating the positives'
    embeddings session by session and indexing with ``pos_order`` aligns them with the flattened
    references. ``pos_time``: ``(S, n)`` same-session positives at ``t + offset`` (hybrid only).
    """

    def __init__(
        self,
        sessions: list[SessionFrames],
        conditional: str,
        time_offsets=(1,),
        delta: float | None = None,
        hybrid: bool = False,
        prior: str = "auto",
        nn_backend: str = "auto",
    ):
        if conditional not in CONDITIONALS:
            raise ConfigError("conditional", f"expected one of {', '.join(CONDITIONALS)}, got {conditional!r}")
        if prior not in PRIORS:
            raise ConfigError("prior", f"expected one of {', '.join(PRIORS)}, got {prior!r}")
        offsets = [int(o) for o in np.atleast_1d(np.asarray(time_offsets))]
        if not offsets or min(offsets) < 1:
            raise ConfigError("time_offsets", f"expected positive integers, got {time_offsets!r}")
        if not sessions:
            raise ConfigError("sessions", "the sampler needs at least one session")
        self.sessions = sessions
        self.conditional = conditional
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.max_offset = int(self.offsets.max())
        self.hybrid = bool(hybrid) and conditional != "time"
        self.n_sessions = len(sessions)
        self.nn_backend = nn_backend
        self._uses = (conditional in ("time_delta", "delta", "mixed"), conditional in ("discrete", "mixed"))
        if conditional == "time" and self.n_sessions > 1:
            raise ConfigError(
                "conditional",
                "time-contrastive learning cannot align several sessions; "
                "give labels (time_delta, delta, discrete or mixed) for multi-session training",
            )
        needs_cont = conditional in ("time_delta", "delta", "mixed")
        needs_disc = conditional in ("discrete", "mixed")
        for si, s in enumerate(sessions):
            if needs_cont and s.continuous is None:
                raise ConfigError("conditional", f"{conditional!r} needs a continuous label (session {si} has none)")
            if needs_disc and s.discrete is None:
                raise ConfigError("conditional", f"{conditional!r} needs a discrete label (session {si} has none)")
        if conditional == "delta":
            if delta is None or not float(delta) > 0:
                raise ConfigError("delta", f"conditional 'delta' needs delta > 0 (the query noise sd), got {delta!r}")
        self.delta = None if delta is None else float(delta)
        balanced = prior == "balanced" or (prior == "auto" and conditional == "mixed")
        if balanced and not needs_disc:
            raise ConfigError("prior", "a class-balanced prior needs a discrete label (conditional discrete or mixed)")
        self._build(balanced)

    # ------------------------------------------------------------------ set-up
    def _build(self, balanced: bool) -> None:
        cond = self.conditional
        self._priors: list[_Prior] = []
        self._neg_priors: list[_Prior] = []
        self._time_refs_ok: list[np.ndarray] = []
        for si, s in enumerate(self.sessions):
            centers = s.centers
            if cond == "time" or self.hybrid:
                ok = np.zeros(s.n_frames, dtype=bool)
                ok[s.time_centers(self.max_offset)] = True
                refs = centers[ok[centers]]
            else:
                refs = centers
            if cond != "time":
                lab = s.label_ok(*self._uses)
                refs = refs[lab[refs]]
                neg_frames = centers[lab[centers]]
            else:
                neg_frames = centers
            if len(refs) == 0:
                need = s.left + s.right + (self.max_offset if (cond == "time" or self.hybrid) else 0)
                raise ConfigError(
                    "data",
                    f"session {si}: no frame can be a reference (every trial is shorter than "
                    f"{need} frames or has no usable labels); use shorter time_offsets or a smaller "
                    "receptive field",
                )
            classes = s.discrete if cond in ("discrete", "mixed") else None
            self._priors.append(_Prior(refs, classes, balanced))
            self._neg_priors.append(_Prior(neg_frames, classes, balanced))

        if cond in ("time_delta", "mixed"):
            pool = []
            for s in self.sessions:
                for off in self.offsets:
                    t = np.arange(s.n_frames)
                    seg = np.full(s.n_frames, -1, dtype=np.int64)
                    for i, (a, b) in enumerate(s.segments):
                        seg[a:b] = i
                    later = t[off:]
                    earlier = later - off
                    same = (seg[later] == seg[earlier]) & (seg[later] >= 0)
                    d = s.continuous[later[same]] - s.continuous[earlier[same]]
                    pool.append(d[np.isfinite(d).all(axis=1)])
            self._deltas = np.concatenate(pool) if pool else np.zeros((0, 1))
            if len(self._deltas) == 0:
                raise ConfigError(
                    "time_offsets",
                    f"no label changes over {self.offsets.tolist()} frames inside a trial; use a smaller time offset",
                )

        # nearest-neighbour indices over candidate positives
        self._nn: list = []
        self._class_frames: list[dict[int, np.ndarray]] = []
        for s in self.sessions:
            cand = s.centers[s.label_ok(*self._uses)[s.centers]] if cond != "time" else s.centers
            if cond in ("time_delta", "delta"):
                self._nn.append((cand, NearestNeighbourIndex(s.continuous[cand], self.nn_backend)))
            elif cond in ("discrete", "mixed"):
                per_class = {}
                classes = s.discrete[cand]
                order = np.argsort(classes, kind="stable")
                uniq, starts, counts = np.unique(classes[order], return_index=True, return_counts=True)
                for c, a, k in zip(uniq, starts, counts):
                    frames = cand[order[a : a + k]]
                    if cond == "mixed":
                        per_class[int(c)] = (frames, NearestNeighbourIndex(s.continuous[frames], self.nn_backend))
                    else:
                        per_class[int(c)] = frames
                self._class_frames.append(per_class)

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, rng: np.random.Generator, return_queries: bool = False) -> dict:
        """One batch of indices (see the class docstring). ``return_queries`` adds the label
        queries (``query``, ``(S * n, k)``, in flattened reference order) for inspection."""
        S = self.n_sessions
        ref = np.stack([p.draw(rng, n) for p in self._priors])
        neg = np.stack([p.draw(rng, n) for p in self._neg_priors])
        out: dict = {"ref": ref, "neg": neg}
        cond = self.conditional
        if cond == "time":
            out["pos"] = [(ref + self._offsets(rng, ref.shape))[0]]
            return out
        if self.hybrid:
            out["pos_time"] = ref + self._offsets(rng, ref.shape)
        if cond in ("time_delta", "delta"):
            y_ref = np.concatenate([self.sessions[s].continuous[ref[s]] for s in range(S)])
            query = self._queries(y_ref, rng)
            if return_queries:
                out["query"] = query
            if S == 1:
                cand, index = self._nn[0]
                out["pos"] = [cand[index.query(query)]]
                return out
            assign = rng.permutation(np.repeat(np.arange(S), n))
            pos, src = [], []
            for s in range(S):
                rows = np.flatnonzero(assign == s)
                cand, index = self._nn[s]
                pos.append(cand[index.query(query[rows])])
                src.append(rows)
            out["pos"] = pos
            out["pos_order"] = np.argsort(np.concatenate(src), kind="stable")
            return out
        # discrete / mixed
        classes = np.concatenate([self.sessions[s].discrete[ref[s]] for s in range(S)])
        if cond == "mixed":
            y_ref = np.concatenate([self.sessions[s].continuous[ref[s]] for s in range(S)])
            query = self._queries(y_ref, rng)
            if return_queries:
                out["query"] = query
        if S == 1:
            assign = np.zeros(len(classes), dtype=np.int64)
        else:
            assign = self._assign_sessions(classes, rng)
        pos = [np.zeros(0, dtype=np.int64)] * S
        src = []
        for s in range(S):
            rows = np.flatnonzero(assign == s)
            src.append(rows)
            if len(rows) == 0:
                continue
            cls_rows = classes[rows]
            got = np.empty(len(rows), dtype=np.int64)
            for c in np.unique(cls_rows):
                sel = np.flatnonzero(cls_rows == c)
                entry = self._class_frames[s][int(c)]
                if cond == "discrete":
                    got[sel] = entry[rng.integers(0, len(entry), len(sel))]
                else:
                    frames, index = entry
                    got[sel] = frames[index.query(query[rows[sel]])]
            pos[s] = got
        out["pos"] = pos
        if S > 1:
            out["pos_order"] = np.argsort(np.concatenate(src), kind="stable")
        return out

    def _offsets(self, rng: np.random.Generator, shape):
        if len(self.offsets) == 1:
            return self.offsets[0]
        return self.offsets[rng.integers(0, len(self.offsets), shape)]

    def _queries(self, y_ref: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.conditional == "delta":
            return y_ref + self.delta * rng.standard_normal(y_ref.shape)
        d = self._deltas[rng.integers(0, len(self._deltas), len(y_ref))]
        return y_ref + d

    def _assign_sessions(self, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random session, among those that have frames of the class, for each reference."""
        S = self.n_sessions
        have = {}
        for c in np.unique(classes):
            have[int(c)] = np.array([s for s in range(S) if int(c) in self._class_frames[s]], dtype=np.int64)
        u = rng.random(len(classes))
        out = np.empty(len(classes), dtype=np.int64)
        for c, sessions in have.items():
            sel = classes == c
            out[sel] = sessions[(u[sel] * len(sessions)).astype(np.int64)]
        return out
