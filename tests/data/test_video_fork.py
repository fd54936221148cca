"""A video opened in the parent process must not hang forked data-loader workers (FFmpeg's
decoder threads do not survive fork; freeing an inherited decoder used to wait for them forever)."""

from __future__ import annotations

import gc
import multiprocessing as mp

import numpy as np
import pytest

av = pytest.importorskip("av")


def _video(path, n=30, size=(32, 48)):
    h, w = size
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            img = np.full((h, w, 3), (7 * i) % 256, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _child(reader, q):
    frame = reader[5]
    del reader
    gc.collect()  # frees whatever the parent left behind
    q.put(frame.shape)


@pytest.mark.timeout(120)
def test_forked_worker_reads_a_video_the_parent_opened(tmp_path):
    from behavenet.data.video import VideoFileReader

    reader = VideoFileReader(_video(tmp_path / "v.mp4"))
    assert reader[3].shape == (32, 48, 3)  # the parent decodes (FFmpeg threads running)
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(reader, q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    assert not alive, "a forked reader hung"
    assert [p.exitcode for p in procs] == [0, 0]
    assert [q.get(timeout=5) for _ in procs] == [(32, 48, 3)] * 2
    assert reader[7].shape == (32, 48, 3)  # the parent reopens after the fork
