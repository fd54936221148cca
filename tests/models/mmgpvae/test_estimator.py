"""The MMGPVAE estimator: arrays and ragged lists, missing modalities, recovery, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("gpytorch")

from behavenet.models.estimator import EstimatorInputError  # noqa: E402
from behavenet.models.mmgpvae.estimator import MMGPVAE  # noqa: E402


def _gp(rng, n, t, ell=6.0):
    tt = np.arange(t)
    k = np.exp(-0.5 * (tt[:, None] - tt[None]) ** 2 / ell**2) + 1e-6 * np.eye(t)
    return (np.linalg.cholesky(k) @ rng.normal(size=(t, n))).T  # (n, t)


def _data(seed=0, n=24, t=40):
    rng = np.random.default_rng(seed)
    shared, private = _gp(rng, n, t), _gp(rng, n, t)
    w = rng.normal(size=(2, 12)) * 0.8
    spikes = rng.poisson(np.exp(np.stack([shared, private], -1) @ w)).astype(np.float32)
    behavior = (3.0 * shared[..., None] + 0.2 * rng.normal(size=(n, t, 1)) + 10).astype(np.float32)
    return {"neural": spikes, "behavior": behavior}, shared


def _small(**kw):
    params = dict(hidden_units=16, temporal_layers=1, max_epochs=3, batch_size=8, seed=0)
    params.update(kw)
    return MMGPVAE(**params)


def test_issue_signature_and_shapes():
    data, _ = _data()
    est = MMGPVAE(
        likelihoods={"neural": "poisson", "behavior": "gaussian"},
        n_shared=1,
        n_private={"neural": 1, "behavior": 1},
        kernel="rbf",
        max_epochs=2,
        seed=0,
        device="cpu",
    ).fit(data)
    z = est.transform(data)
    assert set(z) == {"shared", "neural", "behavior"}
    assert z["shared"].shape == (24, 40, 1) and z["neural"].shape == (24, 40, 1)
    rec = est.reconstruct(data)
    assert rec["neural"].shape == (24, 40, 12) and rec["behavior"].shape == (24, 40, 1)
    assert est.embedding_names == ["shared.0", "neural.0", "behavior.0"]
    assert [e.shape for e in est.embed(data)][:2] == [(40, 3), (40, 3)]
    assert est.likelihoods_ == {"neural": "poisson", "behavior": "gaussian"}


def test_ragged_trials_missing_modalities_and_auto_likelihoods():
    data, _ = _data()
    ragged = {k: [v[i, : 10 + i] for i in range(6)] for k, v in data.items()}
    ragged["behavior"][2] = None  # not recorded on trial 2
    est = _small().fit(ragged)
    assert est.likelihoods_ == {"neural": "poisson", "behavior": "gaussian"}  # counts -> Poisson
    z = est.transform(ragged)
    assert isinstance(z["shared"], list) and [a.shape for a in z["shared"]] == [(10 + i, 1) for i in range(6)]
    assert np.isnan(z["behavior"][2]).all() and np.isfinite(z["shared"][2]).all()
    only = est.transform({"neural": data["neural"][:3]})
    assert set(only) == {"shared", "neural"} and only["shared"].shape == (3, 40, 1)
    # behaviour predicted from the spikes alone, in the units of the fit
    pred = est.reconstruct({"neural": data["neural"][:3]})["behavior"]
    assert pred.shape == (3, 40, 1) and abs(float(np.mean(pred)) - 10.0) < 2.0


@pytest.mark.slow
def test_recovers_a_planted_shared_latent():
    data, shared = _data(n=60)

    def r2(z):
        x, y = np.c_[z.reshape(-1, 1), np.ones(z.size)], shared.reshape(-1)
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        return 1 - ((x @ coef - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()

    params = dict(max_epochs=150, learning_rate=3e-3, n_private={"neural": 1, "behavior": 0})
    est = _small(**params).fit(data)
    assert r2(est.transform(data)["shared"]) > 0.95  # measured 0.992
    # modality dropout trains each modality alone to infer the shared latent
    alone = r2(est.transform({"neural": data["neural"]})["shared"])  # measured 0.61
    dropped = _small(modality_dropout=0.25, **params).fit(data)
    assert r2(dropped.transform({"neural": data["neural"]})["shared"]) > alone + 0.05  # measured 0.74


def test_seeded_and_save_load_round_trip(tmp_path):
    data, _ = _data()
    a = _small().fit(data)
    b = _small().fit(data)
    np.testing.assert_array_equal(a.transform(data)["shared"], b.transform(data)["shared"])
    a.save(tmp_path / "m.pt")
    c = MMGPVAE.load(tmp_path / "m.pt")
    for key, value in a.transform(data).items():
        np.testing.assert_array_equal(c.transform(data)[key], value)
    np.testing.assert_array_equal(c.reconstruct(data)["behavior"], a.reconstruct(data)["behavior"])
    from behavenet.utils.plain import to_plain

    assert c.scalers_ == a.scalers_ and to_plain(c.get_params()) == to_plain(a.get_params())


def test_sampling_fits_are_seeded_whatever_the_global_generator():
    """Modality dropout and the MLP decoder's reparameterised samples draw from torch's global
    generator: a fit seeds it for itself and leaves the caller's random state as it was."""
    data, _ = _data()
    params = dict(modality_dropout=0.5, decoder_hidden=8)
    torch.manual_seed(1)
    a = _small(**params).fit(data)
    torch.manual_seed(2)
    state = torch.get_rng_state()
    b = _small(**params).fit(data)
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(a.history_, b.history_)
    np.testing.assert_array_equal(a.transform(data)["shared"], b.transform(data)["shared"])
    c = _small(seed=1, **params).fit(data)
    assert not np.array_equal(a.history_, c.history_)


@pytest.mark.gpu
def test_gpu_trained_model_loads_on_cpu(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    data, _ = _data()
    a = _small(device="cuda").fit(data)
    a.save(tmp_path / "m.pt")
    c = MMGPVAE.load(tmp_path / "m.pt")
    assert c.model_.device.type == "cpu"
    np.testing.assert_allclose(c.transform(data)["shared"], a.transform(data)["shared"], atol=1e-4)


def test_images_are_convolutional_and_rescaled():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, size=(4, 10, 12, 12)).astype(np.float32)
    est = _small(n_private=1, max_epochs=1, conv_channels=[4]).fit({"img": imgs})
    assert est.frame_shapes_ == {"img": [1, 12, 12]} and est.scalers_["img"]["std"] == [255.0]
    rec = est.reconstruct({"img": imgs})["img"]
    assert rec.shape == imgs.shape


def test_validation_holds_out_trials_and_keeps_the_best_epoch(tmp_path):
    data, _ = _data()
    est = _small(max_epochs=6, validation_fraction=0.25, patience=2).fit(data)
    v = est.validation_
    assert len(v["trials"]) == 6 and len(set(v["trials"])) == 6 and max(v["trials"]) < 24
    assert len(v["loss"]) == v["epochs_run"] <= 6 and est.timing_["epochs"] == v["epochs_run"]
    assert v["loss"][v["best_epoch"] - 1] == min(v["loss"])
    assert v["epochs_run"] == 6 or v["epochs_run"] - v["best_epoch"] == 2  # stopped by patience
    est.save(tmp_path / "m.pt")
    assert MMGPVAE.load(tmp_path / "m.pt").validation_ == v
    assert _small(max_epochs=1).fit(data).validation_ is None
    with pytest.raises(EstimatorInputError, match=r"validation_fraction: expected a number in \[0, 1\), got 1.5"):
        _small(validation_fraction=1.5).fit(data)
    with pytest.raises(EstimatorInputError, match=r"validation_fraction: 0.01 of 24 trials leaves no validation"):
        _small(validation_fraction=0.01).fit(data)
    with pytest.raises(EstimatorInputError, match=r"patience: expected an integer >= 0, got -1"):
        _small(patience=-1).fit(data)


@pytest.mark.parametrize("network", ["mlp", "conv"])
def test_image_decoder_depth(network):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, size=(4, 10, 12, 12)).astype(np.float32)
    est = _small(n_private=1, max_epochs=1, conv_channels=[4], image_network=network, image_decoder_layers=3)
    est.fit({"img": imgs})
    linears = [m for m in est.model_.decoders["img"].inp if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [16, 16, 16, 144 if network == "mlp" else 4 * 6 * 6]
    assert est.reconstruct({"img": imgs})["img"].shape == imgs.shape
    with pytest.raises(EstimatorInputError, match=r"image_decoder_layers: expected an integer >= 1, got 0"):
        _small(image_decoder_layers=0).fit({"img": imgs})


def test_bad_input_one_line_errors():
    data, _ = _data()
    with pytest.raises(EstimatorInputError, match=r"data: expected a dict"):
        _small().fit(data["neural"])
    with pytest.raises(EstimatorInputError, match=r"data\['behavior'\]: has 5 trials, 'neural' has 24"):
        _small().fit({"neural": data["neural"], "behavior": data["behavior"][:5]})
    with pytest.raises(EstimatorInputError, match=r"data\['behavior'\]\[0\]: has 30 bins, 'neural' has 40"):
        _small().fit({"neural": list(data["neural"]), "behavior": [b[:30] for b in data["behavior"]]})
    with pytest.raises(EstimatorInputError, match=r"Poisson likelihood needs non-negative integer counts"):
        _small(likelihoods={"behavior": "poisson"}).fit(data)
    with pytest.raises(EstimatorInputError, match=r"likelihoods: names \['video'\]"):
        _small(likelihoods={"video": "gaussian"}).fit(data)
    with pytest.raises(EstimatorInputError, match=r"max_epochs: expected an integer >= 1"):
        _small(max_epochs=0).fit(data)
    est = _small(max_epochs=1).fit(data)
    with pytest.raises(EstimatorInputError, match=r"modality 'pose' was not in the fit"):
        est.transform({"pose": data["behavior"]})
    with pytest.raises(EstimatorInputError, match=r"has frames of shape \[3\], the model was fitted with \[1\]"):
        est.transform({"behavior": np.zeros((2, 10, 3), np.float32)})
