"""Convert the bundled nelpy linear-track recording into ``data/linear_track.h5``.

Input: ``data/nelpy-linear-track/{spikes.mat, trajectory.videoPositionTracking}`` (MIT; see the
MANIFEST there). Output: a behavenet session with

* ``/neural/spikes``: counts of the 31 sorted units in 100 ms bins (fps 10),
* ``/behavior/values``: ``position`` (linearised along the track's first principal axis, px,
  0 = one end), ``x``, ``y`` (camera px), ``speed`` (px/s) and ``velocity`` (px/s, signed),
* ``/labels/frame/direction``: ``rest`` / ``leftward`` / ``rightward`` (|velocity| > 10 px/s),

restricted to the ~16 min run epoch where the LED is tracked. Usage::

    python scripts/make_demo_data.py [--bin-width 0.1] [--out data/linear_track.h5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import scipy.io
from scipy.ndimage import gaussian_filter1d, median_filter

from behavenet.data.binning import bin_spike_times, resample
from behavenet.data.format import Behavior, FrameLabel, Session, Spikes, write_session

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "nelpy-linear-track"
NO_DETECTION = (522, 8)  # Trodes' "LED not found" sentinel


def load_units(path: Path) -> list[np.ndarray]:
    units: list[np.ndarray] = []

    def walk(a):
        if isinstance(a, np.ndarray) and a.dtype.names and "time" in a.dtype.names:
            for cell in a.ravel():
                t = np.asarray(cell["time"]).ravel().astype(float)
                if t.size:
                    units.append(np.sort(t))
        elif isinstance(a, np.ndarray) and a.dtype == object:
            for x in a.ravel():
                walk(x)

    walk(scipy.io.loadmat(path)["spikes"])
    return units


def load_position(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = path.read_bytes()
    marker = b"<End settings>\n"
    start = raw.find(marker) + len(marker)
    rec = np.frombuffer(raw[start:], dtype=[("time", "<u4"), ("x", "<u2"), ("y", "<u2"), ("x2", "<u2"), ("y2", "<u2")])
    t = rec["time"] / 30000.0
    valid = ~((rec["x"] == NO_DETECTION[0]) & (rec["y"] == NO_DETECTION[1]))
    return t[valid], np.c_[rec["x"][valid], rec["y"][valid]].astype(float)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin-width", type=float, default=0.1)
    p.add_argument("--out", type=Path, default=ROOT / "data" / "linear_track.h5")
    args = p.parse_args(argv)

    units = load_units(RAW / "spikes.mat")
    t, xy = load_position(RAW / "trajectory.videoPositionTracking")
    # remove single-sample tracking glitches before interpolation
    xy = median_filter(xy, size=(5, 1), mode="nearest")
    counts, centers = bin_spike_times(units, t[0], t[-1], args.bin_width)
    pos_xy = resample(t, xy, centers, max_gap=0.5)
    keep = np.isfinite(pos_xy).all(axis=1)
    counts, centers, pos_xy = counts[keep], centers[keep], pos_xy[keep]

    # linearise along the first principal axis of the tracked positions
    mean = pos_xy.mean(0)
    _, _, vt = np.linalg.svd(pos_xy - mean, full_matrices=False)
    axis = vt[0] if vt[0][0] >= 0 else -vt[0]
    lin = (pos_xy - mean) @ axis
    lin = lin - np.percentile(lin, 0.5)
    smooth = gaussian_filter1d(lin, sigma=2)
    velocity = np.gradient(smooth, centers)
    speed = np.abs(velocity)
    direction = np.where(speed <= 10.0, 0, np.where(velocity > 0, 2, 1))

    session = Session(
        session_id="nelpy-linear-track",
        fps=1.0 / args.bin_width,
        spikes=Spikes(
            counts=counts, bin_width=args.bin_width, unit_names=[f"unit{i:02d}" for i in range(counts.shape[1])]
        ),
        behavior=Behavior(
            values=np.c_[lin, pos_xy, speed, velocity],
            names=["position", "x", "y", "speed", "velocity"],
            units=["px", "px", "px", "px/s", "px/s"],
        ),
        frame_labels={"direction": FrameLabel(direction, ["rest", "leftward", "rightward"])},
        species="rat (probable; not stated upstream)",
        source_software="Trodes + MatClust (nelpy/example-data linear-track)",
        description=(
            "Tetrode units and LED position on a linear track (run epoch only), "
            f"{args.bin_width * 1000:.0f} ms bins. Source: nelpy/example-data@099548c (MIT)."
        ),
        attrs={"bin_start_time_s": float(centers[0] - args.bin_width / 2)},
    )
    write_session(session, args.out, overwrite=True)
    print(
        f"wrote {args.out}: {counts.shape[0]} bins x {counts.shape[1]} units, "
        f"{counts.sum()} spikes; position range {lin.min():.0f}..{lin.max():.0f} px; "
        f"{args.out.stat().st_size / 1e3:.0f} kB"
    )


if __name__ == "__main__":
    main()
