"""VideoFileReader: exact length, frame-exact random access, sequential efficiency, pickling."""

from __future__ import annotations

import multiprocessing as mp
import pickle
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from behavenet.data.video import VideoFileReader, parse_size  # noqa: E402
from behavenet.errors import FormatError  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "data"


def _write(path, n=40, size=(48, 64), fps=10, codec="libx264", gop=12, pix_fmt="yuv420p", container=None):
    import av

    h, w = size
    with av.open(str(path), "w", format=container) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        s.gop_size = gop
        if codec == "libx264":
            s.options = {"bf": "2", "keyint": str(gop), "min-keyint": str(gop), "scenecut": "0"}
        for i in range(n):
            img = np.full((h, w, 3), (5 * i) % 256, np.uint8)
            img[:, (2 * i) % w] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _decode_all(path, fmt="rgb24"):
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format=fmt) for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def h264(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("v") / "b_frames.mp4")


@pytest.fixture(scope="module")
def h264_444(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("v") / "yuv444.mp4", n=60, pix_fmt="yuv444p", gop=15)


@pytest.fixture(scope="module")
def avi(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("v") / "mpeg4.avi", n=33, codec="mpeg4", gop=8)


def test_metadata_of_real_videos():
    r = VideoFileReader(DATA / "lightning-pose-mirror-mouse" / "test_vid.mp4")
    assert (len(r), r.fps, r.frame_shape) == (994, 250.0, (406, 396, 3))
    r = VideoFileReader(DATA / "dlc-openfield" / "m3v1mp4.mp4")
    assert (len(r), r.frame_shape) == (2330, (480, 640, 3))
    assert r.fps == pytest.approx(30.0, abs=1e-6)  # 1000000/33333 snapped
    r = VideoFileReader(DATA / "sleap-flies-clip" / "clip.mp4")
    assert (len(r), r.fps, r.frame_shape) == (1500, 25.0, (1024, 1024, 3))


@pytest.mark.parametrize("name", ["h264", "h264_444", "avi"])
def test_random_access_equals_sequential_decoding(name, request):
    path = request.getfixturevalue(name)
    ref = _decode_all(path)
    r = VideoFileReader(path)
    assert len(r) == len(ref)
    rng = np.random.default_rng(0)
    order = list(rng.permutation(len(ref))) + [len(ref) - 1, 0, 5, 4, 3]
    for i in order:
        assert np.array_equal(r[int(i)], ref[i]), i
    # slices, negative and repeated indices, boolean masks
    assert np.array_equal(r[3:9], np.stack(ref[3:9]))
    assert np.array_equal(r[::7], np.stack(ref[::7]))
    sel = r[[5, -1, 5, 0]]
    assert sel.shape == (4,) + r.frame_shape
    assert np.array_equal(sel[0], ref[5]) and np.array_equal(sel[1], ref[-1]) and np.array_equal(sel[3], ref[0])
    mask = np.zeros(len(ref), bool)
    mask[[2, 11]] = True
    assert np.array_equal(r[mask], np.stack([ref[2], ref[11]]))
    assert r[[]].shape == (0,) + r.frame_shape


def test_container_without_header_count_is_counted(avi):
    r = VideoFileReader(avi)
    assert r._n_frames is None  # avi: not trusted from the header, counted by demuxing
    assert len(r) == 33


def test_content_matches_the_frame_number(h264):
    r = VideoFileReader(h264, grayscale=True)
    for i in (0, 17, 39, 1):
        frame = r[i]
        assert frame.shape == (48, 64, 1) and frame.dtype == np.uint8
        assert abs(float(np.median(frame)) - 5 * i) <= 3


def test_sequential_reads_do_not_seek(h264, monkeypatch):
    r = VideoFileReader(h264)
    seeks = []
    original = r._seek_to
    monkeypatch.setattr(r, "_seek_to", lambda idx, back=0: (seeks.append(idx), original(idx, back))[1])
    for i in range(len(r)):
        r[i]
    assert seeks == [0]
    r[2]  # backward jump
    assert seeks == [0, 2]
    r[3], r[4]
    assert seeks == [0, 2]


def test_grey_and_resize(h264):
    r = VideoFileReader(h264, grayscale=True, size="24x32")
    assert r.frame_shape == (24, 32, 1)
    assert r[0:3].shape == (3, 24, 32, 1)
    assert parse_size((10, 20)) == (10, 20)
    with pytest.raises(FormatError, match="HEIGHTxWIDTH"):
        parse_size("big")


def _frame_sum(args):
    reader, i = args
    return int(reader[i].astype(np.int64).sum())


def test_pickles_and_reopens_in_other_processes(h264):
    r = VideoFileReader(h264)
    expected = [int(r[i].astype(np.int64).sum()) for i in (3, 30)]
    clone = pickle.loads(pickle.dumps(r))
    assert clone._container is None
    assert int(clone[30].astype(np.int64).sum()) == expected[1]
    for method in ("fork",):  # spawn works too but re-imports torch (slow)
        if method not in mp.get_all_start_methods():
            continue
        with mp.get_context(method).Pool(1) as pool:
            assert pool.map(_frame_sum, [(r, 3), (r, 30)]) == expected


def test_errors_are_one_line(tmp_path, h264):
    with pytest.raises(FormatError, match="video file not found"):
        VideoFileReader(tmp_path / "missing.mp4")
    bad = tmp_path / "notvideo.mp4"
    bad.write_bytes(b"this is not a video at all" * 10)
    with pytest.raises(FormatError) as exc:
        VideoFileReader(bad)
    assert "\n" not in str(exc.value)
    r = VideoFileReader(h264)
    with pytest.raises(IndexError):
        r[len(r)]
    with pytest.raises(IndexError):
        r[[0, 99]]


def test_truncated_video(tmp_path, h264):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(h264.read_bytes()[: h264.stat().st_size // 2])
    with pytest.raises(FormatError) as exc:
        r = VideoFileReader(cut)
        r[len(r) - 1]
    assert "\n" not in str(exc.value)


@pytest.mark.slow
def test_x264_444_real_video_random_access_after_open():
    """m3v1mp4.mp4 (yuv444p) decodes later keyframes wrongly unless the decoder saw frame 0."""
    path = DATA / "dlc-openfield" / "m3v1mp4.mp4"
    import av

    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 1981:
                ref = f.to_ndarray(format="rgb24")
                break
    assert np.array_equal(VideoFileReader(path)[1981], ref)
