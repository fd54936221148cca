"""Lazy reader: per-process handles, picklable, video read frame by frame."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import numpy as np

from behavenet.data.reader import SessionFile, open_session


def _child_read(reader, q):
    q.put(reader.read("spikes", 0, 5).sum())


def test_reader_reads_ranges_and_names(small_session):
    r = open_session(small_session())
    assert isinstance(r, SessionFile)
    assert r.n_frames == 400 and r.fps == 20.0 and len(r.trials) == 8
    assert r.read("spikes", 10, 20).shape == (10, 12)
    assert r.read("pose").shape == (400, 2, 4, 2)
    assert r.keypoint_names == ["nose", "neck", "hip", "tail"]
    assert r.behavior_names == ["latent.0", "latent.1"]
    codes, vocab = r.frame_label("state")
    assert vocab == ["low", "high"] and codes.shape == (400,)
    assert set(r.modalities) == {"pose", "video", "spikes", "behavior"}


def test_video_is_read_lazily_by_index(small_session):
    r = open_session(small_session())
    frames = r.video()
    full = r.read("video")
    idx = np.array([[5, 3], [3, 399]])
    np.testing.assert_array_equal(frames[idx], full[idx])
    assert frames.frame_shape == (8, 8, 1)
    assert frames[7].shape == (8, 8, 1)


def test_reader_pickles_without_handle_and_reopens(small_session):
    r = open_session(small_session())
    expected = r.read("spikes", 0, 5).sum()
    blob = pickle.dumps(r)
    r2 = pickle.loads(blob)
    assert r2._handle is None
    assert r2.read("spikes", 0, 5).sum() == expected


def test_handle_reopened_in_forked_worker(small_session):
    r = open_session(small_session())
    expected = r.read("spikes", 0, 5).sum()  # parent holds an open handle now
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_read, args=(r, q))
    p.start()
    p.join(30)
    assert q.get(timeout=5) == expected
    assert r.read("spikes", 0, 5).sum() == expected  # parent's handle still fine
