"""Pose augmentation (``data.augment``) reaches contrastive training: batches are frame indices,
so the model applies the data module's augmentation to each gathered training window."""

from __future__ import annotations

import lightning as L
import torch

from behavenet.data import PoseDataModule
from behavenet.models.lightning import FamilyModule


def _fit(path, augment, seed=0, spy=None):
    L.seed_everything(seed, verbose=False)
    dm = PoseDataModule(str(path), splits="4;1;1;1", augment=augment, seed=seed)
    dm.setup("fit")
    model = FamilyModule(
        "contrastive",
        dict(
            conditional="time",
            model_architecture="offset5",
            batch_size=16,
            val_batches=2,
            num_hidden_units=8,
            output_dimension=3,
        ),
        dm.spec,
    )
    dm.attach_model(model)
    if spy is not None:
        real = dm.augment_pose

        def recording(x, generator=None):
            y = real(x, generator)
            spy.append((x.detach().clone(), y.detach().clone()))
            return y

        dm.augment_pose = recording
    trainer = L.Trainer(
        max_steps=3,
        limit_val_batches=2,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(model, datamodule=dm)
    return model, dm


def test_reflection_is_applied_to_every_training_window(small_session):
    path = small_session(video=False)
    calls = []
    model, dm = _fit(path, {"reflection": 1.0}, spy=calls)
    assert len(calls) == 3  # one call per training step (ref, pos and neg windows together), none for val
    lay = dm.spec["pose_layout"]
    a, per, k, d = lay["animals"], lay["per_animal"], lay["keypoints"], lay["dims"]
    x, y = calls[0]
    assert x.shape == (3 * 16, 5, dm.spec["input_shapes"][0][0])  # (ref+pos+neg, window of offset5, features)
    kx = x[..., : a * per].reshape(*x.shape[:2], a, per)[..., : k * d].reshape(*x.shape[:2], a, k, d)
    ky = y[..., : a * per].reshape(*y.shape[:2], a, per)[..., : k * d].reshape(*y.shape[:2], a, k, d)
    torch.testing.assert_close(ky[..., 0], -kx[..., 0])
    torch.testing.assert_close(ky[..., 1], kx[..., 1])
    assert model.core.train_transform == {}  # released after fit


def test_augmentation_changes_training_and_no_augmentation_is_the_plain_path(small_session):
    path = small_session(video=False)
    plain, _ = _fit(path, {})
    plain2, _ = _fit(path, {"rotation": 0.0})  # inactive: the fast indexed path, bit-identical
    rotated, _ = _fit(path, {"rotation": 3.14159})
    sd = plain.state_dict()
    assert all(torch.equal(v, plain2.state_dict()[k]) for k, v in sd.items())
    assert any(not torch.equal(v, rotated.state_dict()[k]) for k, v in sd.items())
