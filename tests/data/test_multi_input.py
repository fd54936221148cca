"""Several inputs served together (``data.inputs``): from one file or from files joined by session
id, normalised per input, in window and whole-trial batches, with one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from behavenet.data import SessionDataModule
from behavenet.data.datasets import TrialDataset
from behavenet.data.format import Behavior, FrameLabel, Pose, Session, Spikes, write_session
from behavenet.data.loaders import make_loader
from behavenet.errors import ConfigError, FormatError


def _write(path, session_id, n_frames=200, spikes=True, pose=False, behavior=True, seed=0, n_trials=10):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 6 * np.pi, n_frames)
    latent = np.stack([np.sin(t), np.cos(t)], 1).astype(np.float32)
    bounds = np.linspace(0, n_frames, n_trials + 1).astype(int)
    s = Session(
        session_id=session_id,
        fps=20.0,
        spikes=Spikes(rng.poisson(np.exp(latent @ rng.normal(size=(2, 6)))).astype(np.uint16), bin_width=0.05)
        if spikes
        else None,
        behavior=Behavior(latent * 10 + 3, ["pos.0", "pos.1"]) if behavior else None,
        pose=Pose(
            rng.normal(size=(n_frames, 1, 3, 2)).astype(np.float32) + latent[:, None, None], ["a", "b", "c"], ["m"]
        )
        if pose
        else None,
        frame_labels={"state": FrameLabel((latent[:, 0] > 0).astype(int), ["low", "high"])} if spikes else {},
        trials=np.stack([bounds[:-1], bounds[1:]], 1),
    )
    return write_session(s, path, overwrite=True)


def test_two_inputs_from_one_file_normalised_each(tmp_path):
    f = _write(tmp_path / "a.h5", "a")
    dm = SessionDataModule(str(f), inputs=["spikes", "behavior"], labels=["state"], splits="3;1;1;1")
    dm.setup()
    assert dm.input == "spikes" and dm.inputs == ["spikes", "behavior"]
    spec = dm.spec
    assert spec["inputs"]["spikes"]["shapes"] == [[6]] and spec["inputs"]["behavior"]["shapes"] == [[2]]
    assert spec["input"] == "spikes" and spec["input_shapes"] == [[6]]
    train = dm.split_data["train"][0]
    assert set(train.inputs) == {"spikes", "behavior"}
    for name in ("spikes", "behavior"):  # z-scored with each input's own training statistics
        np.testing.assert_allclose(train.inputs[name].mean(0), 0, atol=1e-4)
        assert dm.normalizers[0][name]["kind"] == "zscore"
    np.testing.assert_allclose(
        dm.normalizers[0]["behavior"]["mean"], dm.readers[0].read("behavior")[train.frame_index].mean(0), rtol=1e-5
    )
    # a window batch carries every input
    from behavenet.data.datasets import WindowDataset

    batch = next(iter(make_loader(WindowDataset(dm.split_data["train"], left=1, right=2), 8, "test")))
    assert batch["inputs"]["spikes"].shape == (8, 3, 6) and batch["inputs"]["behavior"].shape == (8, 3, 2)
    assert batch["labels"]["state"].shape == (8,)


def test_files_joined_by_session_id(tmp_path):
    files = [
        _write(tmp_path / "x_neural.h5", "x", seed=1),
        _write(tmp_path / "x_pose.h5", "x", spikes=False, behavior=False, pose=True, seed=1),
        _write(tmp_path / "y_neural.h5", "y", seed=2),
        _write(tmp_path / "y_pose.h5", "y", spikes=False, behavior=False, pose=True, seed=2),
    ]
    dm = SessionDataModule([str(f) for f in files], inputs=["spikes", "pose"], labels=["state"], splits="3;1;1;1")
    dm.setup()
    assert dm.session_ids == ["x", "y"] and dm.files == [str(files[0]), str(files[2])]
    full = dm.full_data[1]
    assert full.inputs["spikes"].shape[0] == full.inputs["pose"].shape[0] == 200
    assert dm.spec["inputs"]["pose"]["shapes"] == [list(full.inputs["pose"].shape[1:])] * 2
    assert dm.normalizers[1]["pose"]["kind"] == "pose" and dm.normalizers[1]["spikes"]["kind"] == "zscore"
    # a label found in any file of the session
    assert "state" in full.labels and full.label_kinds["state"] == "discrete"
    dm.teardown()


def test_join_errors_are_one_line(tmp_path):
    a = _write(tmp_path / "a.h5", "s")
    b = _write(tmp_path / "b.h5", "s", behavior=False)  # spikes again
    with pytest.raises(FormatError, match=r"b.h5: input 'spikes': session 's' has spikes data in two files"):
        SessionDataModule([str(a), str(b)], inputs=["spikes", "pose"]).setup()
    c = _write(tmp_path / "c.h5", "t", behavior=False)
    d = _write(tmp_path / "d.h5", "t", spikes=False, n_frames=180)
    with pytest.raises(FormatError, match=r"180 frames at 20.0 fps, but .*c.h5 has 200.*share the time base"):
        SessionDataModule([str(c), str(d)], inputs=["spikes", "behavior"]).setup()
    e = _write(tmp_path / "e.h5", "u", behavior=False)
    with pytest.raises(FormatError, match=r"input 'pose': no file of session 'u' has pose data"):
        SessionDataModule([str(e)], inputs=["spikes", "pose"]).setup()
    with pytest.raises(ConfigError, match=r"config data.inputs: expected one of .* got 'eeg'"):
        SessionDataModule(str(a), inputs=["spikes", "eeg"])
    with pytest.raises(ConfigError, match="lists an input twice"):
        SessionDataModule(str(a), inputs=["spikes", "spikes"])


def test_two_complete_files_with_one_id_stay_two_sessions(tmp_path):
    a = _write(tmp_path / "a.h5", "same", seed=0)
    b = _write(tmp_path / "b.h5", "same", seed=1)
    dm = SessionDataModule([str(a), str(b)], inputs=["spikes", "behavior"], splits="3;1;1;1")
    dm.setup()
    assert dm.session_ids == ["same#0", "same#1"]


def test_whole_trials_padded_with_a_mask(tmp_path):
    f = _write(tmp_path / "a.h5", "a", n_frames=205, n_trials=4)  # trials of 51 and 52 frames
    dm = SessionDataModule(str(f), inputs=["spikes", "behavior"], splits="1;0;0;0")
    dm.setup()
    ds = TrialDataset(dm.split_data["train"])
    lengths = sorted(int(ds[i]["length"]) for i in range(len(ds)))
    assert lengths == [51, 51, 51, 52]
    batch = next(iter(make_loader(ds, 4, "test")))
    assert batch["inputs"]["spikes"].shape == (4, 52, 6) and batch["inputs"]["behavior"].shape == (4, 52, 2)
    assert batch["mask"].dtype == torch.bool and batch["mask"].sum(1).tolist() == [int(v) for v in batch["length"]]
    short = int(torch.argmin(batch["length"]))
    assert torch.all(batch["inputs"]["spikes"][short, 51:] == 0) and not batch["mask"][short, 51:].any()
    pieces = TrialDataset(dm.split_data["train"], max_length=20)
    assert max(int(pieces[i]["length"]) for i in range(len(pieces))) == 20


def test_given_normalisation_per_input_and_in_the_older_single_input_form(tmp_path):
    f = _write(tmp_path / "a.h5", "a")
    fitted = SessionDataModule(str(f), inputs=["spikes", "behavior"], splits="3;1;1;1")
    fitted.setup()
    state = fitted.normalizers[0]
    again = SessionDataModule(str(f), inputs=["spikes", "behavior"], splits="1;0;0;0", normalization_state=state)
    again.setup()
    np.testing.assert_allclose(again.full_data[0].inputs["behavior"], fitted.full_data[0].inputs["behavior"])
    # runs written before several inputs existed saved one statistics dict per session
    old = SessionDataModule(str(f), input="spikes", splits="1;0;0;0", normalization_state=[state["spikes"]])
    old.setup()
    np.testing.assert_allclose(old.full_data[0].inputs["spikes"], fitted.full_data[0].inputs["spikes"])
