"""The MM-GPVAE on plain arrays, one array (or list of trials) per modality::

import behavenet
model = behavenet.MMGPVAE(likelihoods={"neural": "poisson", "behavior": "gaussian"},
                          n_shared=1, n_private={"neural": 1, "behavior": 1}, max_epochs=200)
model.fit({"neural": spikes, "behavior": position})      # (trials, time, features) each
z = model.transform({"neural": spikes})                   # {"shared": ..., "neural": ...}
rates = model.reconstruct({"neural": spikes})["behavior"] # cross-modal prediction
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
from sklearn.base import TransformerMixin

from behavenet.models.estimator import EstimatorInputError, EstimatorOptions, FamilyEstimator

__all__ = ["MMGPVAE"]


@dataclasses.dataclass
class MMGPVAEOptions(EstimatorOptions):
    max_epochs: int = 100
    """Passes over the training trials."""
    batch_size: int = 20
    """Trials per optimiser step."""
    validation_fraction: float = 0.0
    """Share of the trials held out (at random, seeded) to evaluate the ELBO after every epoch;
    the fit keeps the weights of the best epoch (0: train on all trials for max_epochs)."""
    patience: int = 20
    """With validation: stop after this many epochs without a better validation ELBO (0: never)."""


def _is_image(frame_shape: tuple[int, ...]) -> bool:
    return len(frame_shape) == 3 or (len(frame_shape) == 2 and min(frame_shape) >= 8)


class MMGPVAE(TransformerMixin, FamilyEstimator):
    """Multi-modal GP-VAE (see docs/mmgpvae.md) on ``{modality: trials}``.

    Each modality (the names are yours) is an array ``(trials, time, *features)`` or a list of
    ``(time, *features)`` arrays (trials of different lengths; ``None`` for a trial on which that
    modality was not recorded). Frames of shape ``(H, W)`` with both sides >= 8 pixels, or
    ``(C, H, W)``, are images (convolutional encoder and decoder); other frames are flattened to
    vectors. NaN marks a missing value. Gaussian modalities are standardised (vectors per feature,
    images by 255 when their values exceed 1); :meth:`reconstruct` returns your units.
    """

    family = "mmgpvae"
    Options = MMGPVAEOptions
    config_exclude = ("inputs",)
    fitted_attributes = (
        "input_names_",
        "frame_shapes_",
        "user_shapes_",
        "likelihoods_",
        "scalers_",
        "num_sessions_",
        "seed_",
        "timing_",
        "validation_",
    )

    # ------------------------------------------------------------------ data
    def _trials(self, data, fitting: bool) -> tuple[dict[str, list], list[int], bool]:
        """``{name: [trial (T, *frame) float32 or None]}``, the trial lengths, and whether the
        input was given as arrays (so outputs are arrays)."""
        if not isinstance(data, dict) or not data:
            raise EstimatorInputError("data", "expected a dict {modality name: (trials, time, features) array or list}")
        names = [str(k) for k in data]
        if not fitting:
            unknown = [n for n in names if n not in self.input_names_]
            if unknown:
                raise EstimatorInputError(
                    "data", f"modality {unknown[0]!r} was not in the fit (modalities: {self.input_names_})"
                )
        out, lengths, as_array = {}, None, True
        for name, value in data.items():
            what = f"data[{name!r}]"
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu().numpy()
            if isinstance(value, np.ndarray):
                if value.ndim < 3:
                    raise EstimatorInputError(what, f"expected (trials, time, features...), got shape {value.shape}")
                items = list(value)
            elif isinstance(value, (list, tuple)):
                items, as_array = list(value), False
            else:
                raise EstimatorInputError(what, f"expected an array or a list of trials, got {type(value).__name__}")
            if not items:
                raise EstimatorInputError(what, "has no trials")
            trials = []
            for i, tr in enumerate(items):
                if tr is None:
                    trials.append(None)
                    continue
                arr = np.asarray(tr.detach().cpu().numpy() if isinstance(tr, torch.Tensor) else tr)
                if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                    raise EstimatorInputError(f"{what}[{i}]", f"expected a numeric array, got dtype {arr.dtype}")
                if arr.ndim < 2:
                    raise EstimatorInputError(f"{what}[{i}]", f"expected (time, features...), got shape {arr.shape}")
                if np.isinf(arr).any():
                    raise EstimatorInputError(f"{what}[{i}]", "contains infinite values (use NaN for missing)")
                trials.append(arr.astype(np.float32))
            shapes = {t.shape[1:] for t in trials if t is not None}
            if len(shapes) > 1:
                raise EstimatorInputError(what, f"trials differ in frame shape: {sorted(shapes)}")
            if not shapes:
                raise EstimatorInputError(what, "every trial is None")
            if not fitting and tuple(shapes.pop()) != tuple(self.user_shapes_[name]):
                got = next(t.shape[1:] for t in trials if t is not None)
                raise EstimatorInputError(
                    what, f"has frames of shape {list(got)}, the model was fitted with {self.user_shapes_[name]}"
                )
            lens = [None if t is None else len(t) for t in trials]
            if lengths is None:
                lengths = lens
            elif len(lens) != len(lengths):
                raise EstimatorInputError(what, f"has {len(lens)} trials, {names[0]!r} has {len(lengths)}")
            else:
                for i, (a, b) in enumerate(zip(lens, lengths)):
                    if a is not None and b is not None and a != b:
                        raise EstimatorInputError(f"{what}[{i}]", f"has {a} bins, {names[0]!r} has {b} in this trial")
                lengths = [b if b is not None else a for a, b in zip(lens, lengths)]
            out[name] = trials
        if any(n is None for n in lengths):
            i = lengths.index(None)
            raise EstimatorInputError("data", f"trial {i} has no modality")
        if min(lengths) < 1:
            raise EstimatorInputError("data", "a trial has 0 bins")
        return out, [int(n) for n in lengths], as_array

    def _frame(self, name: str, arr: np.ndarray) -> np.ndarray:
        """User frames -> the model's: ``(H, W)`` -> ``(1, H, W)``; small frames flattened."""
        shape = tuple(arr.shape[1:])
        if _is_image(shape):
            return arr.reshape(len(arr), 1, *shape) if len(shape) == 2 else arr
        return arr.reshape(len(arr), -1)

    def _fit_scalers(self, trials: dict[str, list]) -> tuple[dict, dict]:
        scalers, likelihoods = {}, {}
        given = dict(self.likelihoods or {})
        unknown = [k for k in given if k not in trials]
        if unknown:
            raise EstimatorInputError(
                "likelihoods", f"names {unknown}, which are not modalities of data {list(trials)}"
            )
        for name, items in trials.items():
            x = np.concatenate([self._frame(name, t).reshape(len(t), -1) for t in items if t is not None])
            image = _is_image(tuple(next(t for t in items if t is not None).shape[1:]))
            finite = x[np.isfinite(x)]
            counts = bool(finite.size) and not image and finite.min() >= 0 and np.array_equal(finite, np.round(finite))
            lik = str(given.get(name, "auto"))
            if lik == "auto":
                lik = "poisson" if counts else "gaussian"
            likelihoods[name] = lik
            if lik == "poisson" and not counts:
                raise EstimatorInputError(f"data[{name!r}]", "a Poisson likelihood needs non-negative integer counts")
            if lik == "bernoulli" and finite.size and not np.isin(finite, (0.0, 1.0)).all():
                raise EstimatorInputError(f"data[{name!r}]", "a Bernoulli likelihood needs values 0 or 1")
            if lik == "gaussian" and image:
                scale = 255.0 if finite.size and finite.max() > 1.5 else 1.0
                scalers[name] = {"mean": [0.0], "std": [scale]}
            elif lik == "gaussian":
                mean = np.nan_to_num(np.nanmean(x, axis=0))
                std = np.nan_to_num(np.nanstd(x, axis=0))
                std = np.where(std > 1e-8, std, 1.0)
                scalers[name] = {"mean": mean.tolist(), "std": std.tolist()}
        return scalers, likelihoods

    def _scaled(self, name: str, arr: np.ndarray) -> np.ndarray:
        x = self._frame(name, arr)
        sc = self.scalers_.get(name)
        if sc is None:
            return x
        mean = np.asarray(sc["mean"], np.float32)
        std = np.asarray(sc["std"], np.float32)
        if len(mean) == 1:
            return (x - mean[0]) / std[0]
        return (x - mean) / std

    def _unscaled(self, name: str, x: np.ndarray, n_bins: int) -> np.ndarray:
        sc = self.scalers_.get(name)
        if sc is not None:
            mean, std = np.asarray(sc["mean"], np.float32), np.asarray(sc["std"], np.float32)
            x = x * std[0] + mean[0] if len(mean) == 1 else x * std + mean
        return x.reshape(n_bins, *self.user_shapes_[name])

    def _model_trial(self, trials: dict, i: int, n_bins: int, names=None) -> dict[str, np.ndarray]:
        out = {}
        for name in names or trials:
            tr = trials[name][i] if name in trials else None
            if tr is None:
                out[name] = np.full((n_bins, *self.frame_shapes_[name]), np.nan, np.float32)
            else:
                out[name] = self._scaled(name, tr).astype(np.float32)
        return out

    def _given(self, trials: dict, i: int, n_bins: int, names) -> dict[str, np.ndarray]:
        """The model's inputs of trial ``i``: the modalities recorded on it only."""
        return {k: v for k, v in self._model_trial(trials, i, n_bins, names).items() if trials[k][i] is not None}

    # ------------------------------------------------------------------ fit
    def fit(self, data, y=None):
        """Fit on ``data`` = ``{modality: (trials, time, *features) array or list of trials}``."""
        from behavenet.data.splits import SplitData

        for key in ("max_epochs", "batch_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise EstimatorInputError(key, f"expected an integer >= 1, got {value!r}")
        frac, patience = self.validation_fraction, self.patience
        if isinstance(frac, bool) or not isinstance(frac, (int, float, np.floating)) or not 0 <= frac < 1:
            raise EstimatorInputError("validation_fraction", f"expected a number in [0, 1), got {frac!r}")
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise EstimatorInputError("patience", f"expected an integer >= 0, got {patience!r}")
        trials, lengths, _ = self._trials(data, fitting=True)
        names = list(trials)
        seed = self._seed()
        order = np.arange(len(lengths))
        n_val = int(round(frac * len(lengths))) if frac > 0 else 0
        if frac > 0 and not 1 <= n_val < len(lengths):
            raise EstimatorInputError(
                "validation_fraction", f"{frac} of {len(lengths)} trials leaves no validation or no training trial"
            )
        val_idx = np.sort(np.random.default_rng(seed).choice(order, n_val, replace=False)) if n_val else order[:0]
        train_idx = np.setdiff1d(order, val_idx)
        self.input_names_ = names
        self.user_shapes_ = {n: list(next(t for t in trials[n] if t is not None).shape[1:]) for n in names}
        self.scalers_, self.likelihoods_ = self._fit_scalers({n: [trials[n][i] for i in train_idx] for n in names})
        self.frame_shapes_ = {
            n: list(self._frame(n, np.zeros((1, *self.user_shapes_[n]), np.float32)).shape[1:]) for n in names
        }

        def split_of(idx) -> SplitData:
            per_trial = [self._model_trial(trials, i, lengths[i], names) for i in idx]
            lens = [lengths[i] for i in idx]
            bounds = np.concatenate([[0], np.cumsum(lens)])
            return SplitData(
                session_id="session0",
                session_index=0,
                inputs={n: np.concatenate([t[n] for t in per_trial]) for n in names},
                segments=np.stack([bounds[:-1], bounds[1:]], 1).astype(np.int64),
                trial_index=np.repeat(np.asarray(idx, np.int64), lens),
            )

        split = split_of(train_idx)
        spec = {
            "input": names[0],
            "input_shapes": [self.frame_shapes_[names[0]]],
            "inputs": {
                n: {"shapes": [self.frame_shapes_[n]], "counts": self.likelihoods_[n] == "poisson", "normalized": False}
                for n in names
            },
            "session_ids": ["session0"],
            "labels": {},
            "fps": None,
        }
        device = self._resolve_device()
        config = self._config(inputs=names, likelihoods={**dict(self.likelihoods or {}), **self.likelihoods_})
        core = self._build_core(config, spec, seed)
        core.to(device)
        n_items = len(core.make_dataset([split], "train", seed))
        steps_per_epoch = max(1, math.ceil(n_items / int(self.batch_size)))
        start = time.perf_counter()
        validation = {}
        if n_val:
            validation = dict(val_splits=[split_of(val_idx)], eval_every=steps_per_epoch, patience=int(patience))
        history = self._train(
            core, [split], int(self.max_epochs) * steps_per_epoch, seed, batch_size=int(self.batch_size), **validation
        )
        seconds = time.perf_counter() - start
        self.model_ = core
        self.num_sessions_ = 1
        self.seed_ = seed
        self.history_ = history.numpy()
        steps_run = len(history)  # fewer than max_epochs' worth when validation stopped the fit early
        self.timing_ = {
            "seconds": seconds,
            "epochs": steps_run / steps_per_epoch,
            "steps": steps_run,
            "seconds_per_epoch": seconds * steps_per_epoch / max(steps_run, 1),
        }
        self.validation_ = None
        if n_val:
            self.validation_ = {
                "trials": val_idx.tolist(),
                "loss": [float(v) for _, v in history.validation],
                "best_epoch": int(history.best_step // steps_per_epoch),
                "epochs_run": len(history.validation),
            }
        return self

    # ------------------------------------------------------------------ outputs
    def _per_trial(self, data):
        self._check_fitted()
        trials, lengths, as_array = self._trials(data, fitting=False)
        names = [n for n in self.input_names_ if n in trials]
        return trials, lengths, as_array, names

    @staticmethod
    def _pack(items: list[np.ndarray], as_array: bool):
        if as_array and len({a.shape for a in items}) == 1:
            return np.stack(items)
        return items

    def transform(self, data) -> dict:
        """Posterior means ``{"shared": (trials, time, n_shared), <modality>: (trials, time,
        n_private)}`` for the modalities given (a list per block when trials differ in length).
        The shared block uses every modality given; a modality's private block needs that modality."""
        trials, lengths, as_array, names = self._per_trial(data)
        blocks = self.model_.latent_blocks()
        out = {k: [] for k in ["shared", *names]}
        for i, n_bins in enumerate(lengths):
            given = self._given(trials, i, n_bins, names)
            z = self.model_.embed(given).float().cpu().numpy()
            out["shared"].append(z[:, blocks["shared"]])
            for n in names:
                block = z[:, blocks[n]]
                out[n].append(block if trials[n][i] is not None else np.full_like(block, np.nan))
        return {k: self._pack(v, as_array) for k, v in out.items()}

    def fit_transform(self, data, y=None, **fit_params):
        return self.fit(data).transform(data)

    def reconstruct(self, data) -> dict:
        """Expected value of EVERY fitted modality given the modalities in ``data`` (a missing one
        is predicted from the shared latents): rates for Poisson, means for Gaussian,
        probabilities for Bernoulli, in the units and frame shape of the fit."""
        trials, lengths, as_array, names = self._per_trial(data)
        out = {k: [] for k in self.input_names_}
        for i, n_bins in enumerate(lengths):
            given = self._given(trials, i, n_bins, names)
            rec = self.model_.reconstruct(given)
            for n in self.input_names_:
                out[n].append(self._unscaled(n, rec[n].float().cpu().numpy(), n_bins))
        return {k: self._pack(v, as_array) for k, v in out.items()}

    def embed(self, data) -> list[np.ndarray]:
        """``(time, n_shared + sum n_private)`` per trial: the blocks of :meth:`transform` side by
        side, in the order of :attr:`embedding_names`."""
        z = self.transform(data)
        keys = ["shared", *[n for n in self.input_names_ if n in z]]
        n = len(z["shared"])
        return [np.concatenate([z[k][i] for k in keys], axis=-1) for i in range(n)]

    @property
    def embedding_names(self) -> list[str]:
        self._check_fitted()
        return self.model_.embedding_names

    @classmethod
    def _contract_output(cls, output) -> np.ndarray:
        blocks = [np.concatenate(list(v)) for v in output.values()]
        return np.concatenate([b.reshape(-1, b.shape[-1]) for b in blocks], axis=1)

    @classmethod
    def _contract_example(cls, seed: int = 0):
        rng = np.random.default_rng(seed)
        t = np.arange(30)
        z = np.sin(t / 5.0 + rng.uniform(0, 6, size=(6, 1)))  # (trials, T)
        spikes = rng.poisson(np.exp(0.5 * z[..., None] * rng.normal(size=8))).astype(np.float32)
        behavior = (z[..., None] * np.ones(2) + 0.1 * rng.normal(size=(6, 30, 2))).astype(np.float32)
        data = {"neural": spikes, "behavior": behavior}
        params = dict(
            likelihoods={"neural": "poisson", "behavior": "gaussian"},
            n_private={"neural": 1, "behavior": 1},
            hidden_units=8,
            max_epochs=2,
            batch_size=3,
            seed=seed,
        )
        return params, (data,), data
