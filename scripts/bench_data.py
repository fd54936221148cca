"""Data-scale benchmark: the windowed data module on a long multi-animal pose session, and the
video data module's memory on a long video (docs/benchmarks.md, "Data scale").

    python scripts/bench_data.py                       # 10M frames, 0 and 2 workers, + video
    python scripts/bench_data.py --frames 1000000 --skip-video --json out.json

Steps (each measurement in a fresh Python process, so its peak RSS is its own):

1. ``generate``: a seeded session of ``--frames`` frames, ``--animals`` x ``--keypoints`` 2-D
   keypoints (float32, chunked HDF5, trials of ``--trial-minutes``) written chunk by chunk into a
   temporary folder (deleted at the end unless ``--keep``).
2. ``pose``: ``PoseDataModule`` (egocentric features, z-scoring, 8;1;1;1 trial splits) with a
   windowed model attached (``autoencoder``, ``--window`` frames), then its training loader for
   ``--seconds`` (at most ``--max-batches`` batches): set-up time, windows/s, the peak RSS of the
   main process (``VmHWM``), each loader worker's largest sampled RSS (forked workers share the
   parent's pages, so their RSS overlaps the parent's) and the largest sampled total PSS of all
   of them (shared pages counted once: the memory the loader really takes). At the default
   10M frames the features (1.4 GB) exceed the module's ``data.on_disk_threshold_mb`` (256), so
   they are computed into a temporary file and read from it per batch
   (``--on-disk-threshold-mb`` overrides the threshold; ``features_on_disk`` in the result).
3. ``video``: a synthetic ``--video-frames``-frame video (libx264, ``--video-size``, PyAV) referenced
   by a session, read through ``VideoDataModule`` (grayscale, downsample 4) with a windowed model:
   windows/s and peak RSS against the size of the decoded video.

Run with one torch thread on an otherwise idle machine; the JSON records the machine and its load
(``os.getloadavg``) before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _status_mb(pid="self", key="VmHWM") -> float:
    """``VmHWM`` (peak RSS) or ``VmRSS`` of a process from /proc, in MiB. (``ru_maxrss`` would not
    do: Linux keeps it across fork and exec, so a child reports its parent's peak.)"""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _pss_mb(pid) -> float:
    """Proportional set size (shared pages split between the processes sharing them), in MiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# --------------------------------------------------------------------------------- generation
def generate(path: Path, frames: int, animals: int, keypoints: int, fps: float, trial_minutes: float, seed: int):
    """Write the session in chunks of 1M frames (memory stays ~ one chunk)."""
    import h5py
    import numpy as np

    from behavenet.data.format import Pose, Session, write_session

    kp_names = [f"kp{i}" for i in range(keypoints)]
    animal_names = [f"animal{i}" for i in range(animals)]
    trial = max(1, int(round(trial_minutes * 60 * fps)))
    starts = np.arange(0, frames, trial)
    bounds = np.stack([starts, np.minimum(starts + trial, frames)], 1)
    template = Session(
        session_id="bench-data",
        fps=fps,
        pose=Pose(np.zeros((2, animals, keypoints, 2), np.float32), kp_names, animal_names),
        trials=np.array([[0, 2]]),
        species="mouse",
    )
    write_session(template, path, overwrite=True, compression=None)
    rng = np.random.default_rng(seed)
    body = rng.normal(0, 20, size=(animals, keypoints, 2)).astype(np.float32)
    chunk = 1_000_000
    with h5py.File(path, "r+") as f:
        del f["pose/keypoints"]
        d = f["pose"].create_dataset(
            "keypoints", shape=(frames, animals, keypoints, 2), dtype="f4", chunks=(4096, animals, keypoints, 2)
        )
        pos = rng.uniform(100, 700, size=(animals, 2))
        for a in range(0, frames, chunk):
            n = min(chunk, frames - a)
            steps = rng.normal(0, 1.5, size=(n, animals, 2))
            centre = pos + np.cumsum(steps, axis=0)
            pos = centre[-1]
            theta = np.cumsum(rng.normal(0, 0.05, size=(n, animals)), axis=0)
            c, s = np.cos(theta)[..., None], np.sin(theta)[..., None]
            bx, by = body[None, :, :, 0], body[None, :, :, 1]
            kp = np.stack([c * bx - s * by, s * bx + c * by], axis=-1) + centre[:, :, None, :]
            kp += rng.normal(0, 1.0, size=kp.shape)
            d[a : a + n] = kp.astype(np.float32)
        del f["trials/bounds"], f["trials/names"]
        f["trials"].create_dataset("bounds", data=bounds.astype(np.int64))
        f["trials"].create_dataset("names", data=np.array([f"trial_{i:05d}" for i in range(len(bounds))], dtype="S"))
        f.attrs["n_frames"] = int(frames)
    return path


def generate_video(path: Path, frames: int, size: tuple[int, int], fps: int, seed: int) -> Path:
    """A long synthetic video (moving blobs on noise), encoded with libx264 by PyAV."""
    import av
    import numpy as np

    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    noise = rng.integers(0, 40, size=(16, h, w, 1), dtype=np.uint8)
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"preset": "ultrafast", "crf": "30"}
        for i in range(frames):
            cx, cy = w / 2 + w / 3 * np.sin(i / 50), h / 2 + h / 3 * np.cos(i / 70)
            blob = (((xx - cx) ** 2 + (yy - cy) ** 2) < (h / 8) ** 2).astype(np.uint8)[..., None] * 200
            img = np.repeat(blob + noise[i % 16], 3, axis=2)
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    return path


# --------------------------------------------------------------------------------- measurement
def measure(
    kind: str,
    path: str,
    workers: int,
    window: int,
    batch_size: int,
    seconds: float,
    max_batches: int,
    on_disk_threshold_mb: float | None = None,
) -> dict:
    """Set up a data module on ``path`` and time its training loader (run in a fresh process)."""
    import torch

    torch.set_num_threads(1)
    from omegaconf import OmegaConf

    from behavenet.data import PoseDataModule, VideoDataModule
    from behavenet.models.lightning import build_module

    rss0 = _status_mb()
    t0 = time.perf_counter()
    if kind == "pose":
        extra = {} if on_disk_threshold_mb is None else {"on_disk_threshold_mb": on_disk_threshold_mb}
        dm = PoseDataModule(files=[path], input="pose", batch_size=batch_size, num_workers=workers, seed=0, **extra)
    else:
        dm = VideoDataModule(
            files=[path],
            input="video",
            batch_size=batch_size,
            num_workers=workers,
            seed=0,
            video={"grayscale": True, "downsample": 4},
        )
    dm.setup("fit")
    model_cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf/model/autoencoder.yaml"))
    model_cfg.update(window=window)
    dm.attach_model(build_module(model_cfg, dm.spec))
    setup_s = time.perf_counter() - t0
    rss_setup = _status_mb(key="VmRSS")
    loader = dm.train_dataloader()
    n_windows = n_batches = 0
    it = iter(loader)
    first = next(it)  # worker start-up and the first batch are not timed
    shape = list(first["inputs"][kind].shape)
    worker_pids = [w.pid for w in getattr(it, "_workers", [])]
    worker_rss, total_pss = [0.0] * len(worker_pids), 0.0

    def sample():
        nonlocal total_pss
        for i, pid in enumerate(worker_pids):
            worker_rss[i] = max(worker_rss[i], _status_mb(pid, "VmRSS"))
        total_pss = max(total_pss, _pss_mb(os.getpid()) + sum(_pss_mb(pid) for pid in worker_pids))

    sample()
    t1 = time.perf_counter()
    for batch in it:
        n_windows += int(batch["inputs"][kind].shape[0])
        n_batches += 1
        if n_batches % 200 == 0:
            sample()
        if n_batches >= max_batches or time.perf_counter() - t1 >= seconds:
            break
    elapsed = time.perf_counter() - t1
    sample()
    del it, loader
    return {
        "kind": kind,
        "workers": workers,
        "window": window,
        "batch_size": batch_size,
        "batch_shape": shape,
        "setup_s": round(setup_s, 2),
        "batches": n_batches,
        "windows": n_windows,
        "seconds": round(elapsed, 2),
        "windows_per_s": round(n_windows / elapsed, 1) if elapsed > 0 else None,
        "train_windows": len(dm._dataset("train")) if kind == "pose" else None,
        "features_on_disk": getattr(dm, "_features", None) is not None,
        "rss_after_imports_mb": round(rss0, 1),
        "rss_after_setup_mb": round(rss_setup, 1),
        "peak_rss_mb": round(_status_mb(), 1),
        "peak_rss_worker_mb": [round(r, 1) for r in worker_rss] if workers else None,
        "peak_pss_total_mb": round(total_pss, 1),
    }


def _subprocess_measure(args, kind: str, path: Path, workers: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--_measure",
        kind,
        str(path),
        str(workers),
        "--window",
        str(args.window),
        "--batch-size",
        str(args.batch_size if kind == "pose" else args.video_batch_size),
        "--seconds",
        str(args.seconds),
        "--max-batches",
        str(args.max_batches),
    ]
    if args.on_disk_threshold_mb is not None:
        cmd += ["--on-disk-threshold-mb", str(args.on_disk_threshold_mb)]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        return {"kind": kind, "workers": workers, "error": res.stderr.strip().splitlines()[-1:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=10_000_000)
    p.add_argument("--animals", type=int, default=2)
    p.add_argument("--keypoints", type=int, default=7)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--trial-minutes", type=float, default=10.0)
    p.add_argument("--window", type=int, default=10, help="frames per window of the windowed model")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--seconds", type=float, default=20.0, help="time the loader for this long ...")
    p.add_argument("--max-batches", type=int, default=5000, help="... or this many batches")
    p.add_argument(
        "--on-disk-threshold-mb",
        type=float,
        default=None,
        help="the pose module's data.on_disk_threshold_mb (default: the module's own, 256)",
    )
    p.add_argument("--skip-video", action="store_true")
    p.add_argument("--video-frames", type=int, default=54_000, help="frames of the long video (30 min at 30 fps)")
    p.add_argument("--video-size", default="256x256", help="HxW of the video")
    p.add_argument("--video-batch-size", type=int, default=32)
    p.add_argument("--tmp", default=None, help="folder for the temporary files (default: the system's)")
    p.add_argument("--keep", action="store_true", help="keep the generated files")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--_measure", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args._measure:
        kind, path, workers = args._measure
        out = measure(
            kind,
            path,
            int(workers),
            args.window,
            args.batch_size,
            args.seconds,
            args.max_batches,
            args.on_disk_threshold_mb,
        )
        print(json.dumps(out))
        return 0

    result = {
        "command": " ".join(["python", "scripts/bench_data.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_before": [round(x, 2) for x in os.getloadavg()],
        },
        "torch_threads": 1,
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-data-", dir=args.tmp))
    try:
        t0 = time.perf_counter()
        session = generate(
            tmp / "pose.h5", args.frames, args.animals, args.keypoints, args.fps, args.trial_minutes, seed=0
        )
        result["pose_session"] = {
            "frames": args.frames,
            "animals": args.animals,
            "keypoints": args.keypoints,
            "file_mb": round(session.stat().st_size / 2**20, 1),
            "keypoints_mb_float32": round(args.frames * args.animals * args.keypoints * 2 * 4 / 2**20, 1),
            "generate_s": round(time.perf_counter() - t0, 1),
        }
        print(json.dumps(result["pose_session"]), flush=True)
        result["pose"] = []
        for w in args.workers:
            r = _subprocess_measure(args, "pose", session, w)
            print(json.dumps(r), flush=True)
            result["pose"].append(r)
        session.unlink()
        if not args.skip_video:
            from behavenet.data.format import Session, Video, write_session

            h, w = (int(v) for v in args.video_size.lower().split("x"))
            t0 = time.perf_counter()
            video = generate_video(tmp / "long.mp4", args.video_frames, (h, w), int(args.fps), seed=0)
            vs = write_session(
                Session(
                    session_id="bench-video", fps=args.fps, video=Video(path=str(video), n_frames=args.video_frames)
                ),
                tmp / "video.h5",
                overwrite=True,
            )
            result["video_file"] = {
                "frames": args.video_frames,
                "size": [h, w],
                "file_mb": round(video.stat().st_size / 2**20, 1),
                "decoded_rgb_mb": round(args.video_frames * h * w * 3 / 2**20, 1),
                "generate_s": round(time.perf_counter() - t0, 1),
            }
            print(json.dumps(result["video_file"]), flush=True)
            result["video"] = []
            for w in args.workers:
                r = _subprocess_measure(args, "video", vs, w)
                print(json.dumps(r), flush=True)
                result["video"].append(r)
    finally:
        if args.keep:
            print(f"files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
