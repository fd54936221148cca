"""The MM-GPVAE core: any trial length (also within a batch), missing modalities, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("gpytorch")

from behavenet.data.datasets import pad_collate  # noqa: E402
from behavenet.errors import ConfigError  # noqa: E402
from behavenet.models.mmgpvae.config import MMGPVAEConfig  # noqa: E402
from behavenet.models.registry import build_core  # noqa: E402

SPEC = {
    "inputs": {
        "spikes": {"shapes": [[6]], "counts": True, "normalized": False},
        "behavior": {"shapes": [[2]], "normalized": True},
    }
}


def _core(**kw):
    torch.manual_seed(0)
    cfg = MMGPVAEConfig(hidden_units=8, temporal_layers=1, **kw)
    return build_core("mmgpvae", cfg, SPEC)


def _trial(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "inputs": {"spikes": torch.poisson(torch.ones(n, 6), generator=g), "behavior": torch.randn(n, 2, generator=g)},
        "labels": {},
        "session": torch.tensor(0),
        "trial": torch.tensor(seed),
        "length": torch.tensor(n),
    }


def test_layout_likelihoods_and_names():
    core = _core(n_shared=2, n_private={"spikes": 1, "behavior": 3})
    assert core.likelihood == {"spikes": "poisson", "behavior": "gaussian"}
    assert core.embedding_dim == 6
    assert core.embedding_names == ["shared.0", "shared.1", "spikes.0", "behavior.0", "behavior.1", "behavior.2"]
    assert core.latent_blocks() == {"shared": slice(0, 2), "spikes": slice(2, 3), "behavior": slice(3, 6)}


@pytest.mark.parametrize("lengths", [[1], [7], [60], [13, 40, 7, 1]])
def test_any_trial_length_also_within_one_batch(lengths):
    core = _core()
    batch = pad_collate([_trial(n, i) for i, n in enumerate(lengths)])
    loss, metrics = core.loss(batch)
    assert torch.isfinite(loss) and set(metrics) >= {"loss", "kl", "nll_spikes", "nll_behavior", "lengthscale"}
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in core.parameters() if p.grad is not None)


def test_a_trial_embeds_the_same_alone_and_padded_in_a_batch():
    core = _core().eval()
    trials = [_trial(n, i) for i, n in enumerate([25, 60, 9])]
    batch = pad_collate(trials)
    with torch.no_grad():
        post, *_ = core.posterior(batch["inputs"], batch["mask"])
        in_batch = post.mean()
        for i, tr in enumerate(trials):
            alone = core.embed(tr["inputs"])
            n = int(tr["length"])
            # the padded batch uses a longer Fourier circle; the GP's marginal on the first n bins
            # is the same, so the posterior differs only by the truncation of the basis
            assert alone.shape == (n, 3)
            np.testing.assert_allclose(in_batch[i, :n].numpy(), alone.numpy(), atol=0.05 * float(alone.std()) + 1e-4)


def test_a_missing_modality_still_embeds():
    core = _core().eval()
    tr = _trial(30)
    both = core.embed(tr["inputs"])
    only_spikes = core.embed({"spikes": tr["inputs"]["spikes"]})
    assert torch.isfinite(only_spikes).all()
    assert torch.equal(only_spikes[:, 2], torch.zeros(30))  # behaviour's private latent: its prior mean
    assert not torch.allclose(both[:, 0], only_spikes[:, 0])  # the shared latent used both modalities
    # missing frames inside a trial (NaN) are left out of the evidence and the likelihood
    nan_tr = _trial(30)
    nan_tr["inputs"]["behavior"][5:20] = float("nan")
    loss, _ = core.loss(pad_collate([nan_tr, _trial(12, 1)]))
    assert torch.isfinite(loss)


def test_long_stretches_embed_in_overlapping_pieces():
    core = _core(max_length=100).eval()
    tr = _trial(250)
    assert core._pieces(250) == [(0, 100), (50, 150), (100, 200), (150, 250)]
    z = core.embed(tr["inputs"])
    assert z.shape == (250, 3) and torch.isfinite(z).all()


def test_reconstruct_predicts_every_modality_from_the_given_ones():
    core = _core().eval()
    rec = core.reconstruct({"spikes": _trial(20)["inputs"]["spikes"]})
    assert rec["spikes"].shape == (20, 6) and (rec["spikes"] > 0).all()
    assert rec["behavior"].shape == (20, 2)


def test_per_feature_weighting_scales_each_likelihood_to_the_largest_input():
    # spikes: 6 features, behaviour: 2 -> behaviour's term x 3, times modality_weights on top
    assert _core().weights == {"spikes": 1.0, "behavior": 1.0}
    core = _core(modality_weighting="per_feature", modality_weights={"spikes": 2.0})
    assert core.n_features == {"spikes": 6, "behavior": 2}
    assert core.weights == {"spikes": 2.0, "behavior": 3.0}
    core.eval()  # no modality dropout; the linear decoders' terms are closed form (no sampling)
    loss, m = core.loss(pad_collate([_trial(15, 1), _trial(9, 2)]), "val")
    expected = 2.0 * m["nll_spikes"] + 3.0 * m["nll_behavior"] + m["kl"]
    assert torch.allclose(loss, expected, rtol=1e-6)


def test_fixed_variances_stay_at_the_data_variance_through_training():
    from behavenet.data.splits import SplitData
    from behavenet.models.estimator import train_core

    rng = np.random.default_rng(0)
    beh = (rng.normal(size=(60, 2)) * [2.0, 0.5]).astype(np.float32)
    split = SplitData("s", {"spikes": rng.poisson(2.0, size=(60, 6)).astype(np.float32), "behavior": beh})
    learned, fixed = _core(), _core(learn_variance={"behavior": False})
    assert learned.log_vars["behavior"].requires_grad and not fixed.log_vars["behavior"].requires_grad
    for core in (learned, fixed):
        train_core(core, [split], steps=5, seed=0)
    np.testing.assert_allclose(fixed.log_vars["behavior"].detach().exp().numpy(), beh.var(0), rtol=1e-5)
    assert not np.allclose(learned.log_vars["behavior"].detach().exp().numpy(), beh.var(0), rtol=1e-3)


def test_image_channel_variance_known_answer():
    from behavenet.models.mmgpvae.core import _channel_variance

    rng = np.random.default_rng(1)
    frames = rng.normal(size=(300, 2, 4, 5)) * np.array([1.0, 3.0])[None, :, None, None] + 7.0
    frames[3, 0, 1, 1] = np.nan  # ignored
    expected = [np.nanvar(frames[:, 0]), np.nanvar(frames[:, 1])]
    np.testing.assert_allclose(_channel_variance([frames[:100], frames[100:]], (2, 4, 5), chunk=64), expected)
    last = np.moveaxis(frames, 1, -1)  # (T, H, W, C) as video is stored
    np.testing.assert_allclose(_channel_variance([last], (2, 4, 5)), expected)
    np.testing.assert_allclose(_channel_variance([np.full((4, 1, 2, 2), 5.0)], (1, 2, 2)), [1.0])  # constant: 1


def test_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"model.likelihoods.behavior: .*z-scores 'behavior'.*normalize"):
        _core(likelihoods={"behavior": "poisson"})
    with pytest.raises(ConfigError, match=r"model.likelihoods.spikes: expected one of poisson, gaussian, bernoulli"):
        _core(likelihoods={"spikes": "gamma"})
    with pytest.raises(ConfigError, match=r"model.n_private: names \['video'\]"):
        _core(n_private={"video": 1})
    with pytest.raises(ConfigError, match=r"model.kernel: expected one of rbf"):
        _core(kernel="periodic")
    with pytest.raises(ConfigError, match=r"model.inputs: the data offer no input 'pose'"):
        _core(inputs=["pose"])
    with pytest.raises(ConfigError, match=r"model.lengthscale: expected 0 < min_lengthscale"):
        _core(lengthscale=1.0)
    with pytest.raises(ConfigError, match=r"model.modality_weighting: expected one of none, per_feature"):
        _core(modality_weighting="per_pixel")
    with pytest.raises(ConfigError, match=r"model.learn_variance: names \['video'\]"):
        _core(learn_variance={"video": False})
    with pytest.raises(ConfigError, match=r"model.learn_variance: expected true or false"):
        _core(learn_variance="no")
    with pytest.raises(ConfigError, match=r"model.n_shared: the model needs at least one latent"):
        _core(n_shared=0, n_private=0)


def test_poisson_refuses_non_counts_in_fit_data():
    from behavenet.data.splits import SplitData

    core = _core()
    bad = SplitData("s", {"spikes": np.full((10, 6), 0.5, np.float32), "behavior": np.zeros((10, 2), np.float32)})
    with pytest.raises(ConfigError, match=r"model.likelihoods.spikes: a Poisson likelihood needs non-negative integer"):
        core.fit_data([bad])
    good = SplitData("s", {"spikes": np.full((10, 6), 2.0, np.float32), "behavior": np.zeros((10, 2), np.float32)})
    core.fit_data([good])
    np.testing.assert_allclose(core.decoders["spikes"].bias.detach().numpy(), np.log(2.0), rtol=1e-6)


def test_figures_for_vectors_and_video_frames(tmp_path):
    from behavenet.data.splits import SplitData

    spec = {
        "inputs": {
            "spikes": {"shapes": [[6]], "counts": True, "normalized": False},
            "video": {"shapes": [[12, 10, 1]], "layout": "hwc"},  # the data module's (H, W, C)
        }
    }
    torch.manual_seed(0)
    core = build_core("mmgpvae", MMGPVAEConfig(hidden_units=8, conv_channels=[4]), spec).eval()
    assert core.frame_shapes["video"] == (1, 12, 10)
    rng = np.random.default_rng(0)
    split = SplitData(
        "s",
        {
            "spikes": rng.poisson(1.0, size=(30, 6)).astype(np.float32),
            "video": rng.integers(0, 255, size=(30, 12, 10, 1)).astype(np.uint8),
        },
        segments=np.array([[0, 20], [20, 30]]),
    )
    files = core.write_figures([split], tmp_path / "figures")
    assert [f.name for f in files] == ["latents.png", "reconstruction_spikes.png", "reconstruction_video.png"]
    assert all(f.stat().st_size > 1000 for f in files)
