"""Data for the MM-GPVAE side-by-side benchmark (official RabiaGondur/MM-GPVAE vs behavenet).

Two jobs:

* ``build``: produce the simulated multi-modal data set exactly as the official code does. The
  official ``data_generator.py`` (RabiaGondur/MM-GPVAE at 9df304e) is *run*, unchanged, in the
  official venv as a subprocess, with numpy seed 32. It reads MNIST digit-3 JPEGs from
  ``../trainingSet/3/*.jpg``; MNIST cannot be downloaded here, so that folder is filled with the
  183 digit-3 images of ``sklearn.datasets.load_digits`` (8x8, 0..16) upsampled bilinearly to 20x20,
  zero-padded by 4 px to 28x28, rescaled to 0..255 and saved as JPEG quality 95 (the stand-in of
  ``/work/shared/reference/baselines_mmgpvae_bet.md`` section 1.1). The only thing the runner
  changes is ``glob.glob``, which it wraps in ``sorted`` so that the image order (and hence the
  file) does not depend on the file system. The split of the official ``mmgpvae_main.py``
  (``random_split`` seed 10, 240/60) is taken from the official dataset class in the same venv and
  written next to the data as ``<data>.split.json``.

  ``--variant gpvae`` also builds the single-modality T=40 rotation-only data of ``GPVAE.ipynb``
  (``gpvae_data_seed15.npy``): the generator has its own switch for it (``NO_ZOOM = True``, which
  sets T=40 and skips the zoom) and the notebook's file name says seed 15; the runner changes those
  two assignments (``NO_ZOOM``, ``seed_no``) in the source it executes and nothing else. Its split
  is the notebook's (``random_split`` seed ``my_seed`` = 20). Note that the notebook's
  ``GPVAE_dataset`` subtracts the global image mean; :func:`load` returns the raw images.

* ``load``: read the file into plain numpy arrays for any implementation (see :func:`load`).

Usage::

    python scripts/mmgpvae_bench_data.py build --official /work/bench-ext/mmgpvae-official \
        --python /work/main/.bench/mmgpvae-venv/bin/python --bench-dir /work/main/.bench
    python scripts/mmgpvae_bench_data.py info --bench-dir /work/main/.bench

The data file is ~216 MB and is not committed (``.bench/`` is git-ignored).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA_NAME = {"mmgpvae": "mmgpvae_data_seed32.npy", "gpvae": "gpvae_data_seed15.npy"}
# generator seed and random_split seed of each variant: mmgpvae_main.py (seed 32, split seed 10) and
# GPVAE.ipynb (it loads gpvae_data_seed15.npy and splits with my_seed = 20 of the GP-VAE hyperparams)
DATA_SEED = {"mmgpvae": 32, "gpvae": 15}
SPLIT_SEEDS = {"mmgpvae": 10, "gpvae": 20}
# sha256 of the file of the reference run (baselines_mmgpvae_bet.md 1.1); its JPEG order came from
# an unsorted glob, so a different hash here is expected and does not touch the latent ground truth
REFERENCE_SHA256 = "d3f67cead96566d6a27d57b46a61d56eb36b949b97f56637f913d3d8662c69ac"
N_TRIALS, SPLIT_SEED, TRAIN_FRACTION = 300, SPLIT_SEEDS["mmgpvae"], 0.8


def bench_dir(path: str | os.PathLike | None = None) -> Path:
    """Where the large generated files live: ``path``, else ``$MMGPVAE_BENCH_DIR``, else
    ``<repo>/.bench`` (git-ignored)."""
    return Path(path or os.environ.get("MMGPVAE_BENCH_DIR") or ROOT / ".bench")


def data_path(variant: str = "mmgpvae", bench: str | os.PathLike | None = None) -> Path:
    return bench_dir(bench) / DATA_NAME[variant]


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# build
# ----------------------------------------------------------------------------------------------


def write_digit_jpegs(folder: Path) -> int:
    """The MNIST stand-in: the digit-3 images of ``load_digits`` as 28x28 JPEGs, named so that
    their sorted order is the order of ``load_digits``. Returns the number written."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    threes = digits.images[digits.target == 3]  # (183, 8, 8), values 0..16
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    for i, img in enumerate(threes):
        # bilinear 8x8 -> 20x20 on the 0..255 scale, then the MNIST layout: 20x20 box centred in 28x28
        small = Image.fromarray((img * (255.0 / 16.0)).astype(np.float32))  # mode F
        big = np.asarray(small.resize((20, 20), Image.BILINEAR), dtype=np.float64)
        big = np.clip(np.round(big), 0, 255).astype(np.uint8)
        padded = np.pad(big, ((4, 4), (4, 4)), mode="constant")
        Image.fromarray(padded).save(folder / f"digit3_{i:04d}.jpg", quality=95)  # mode L
    return len(threes)


_RUNNER = """
import glob, runpy, sys
_glob = glob.glob
glob.glob = lambda *a, **k: sorted(_glob(*a, **k))  # deterministic file order; nothing else changed
src = open({gen!r}).read()
if {no_zoom!r}:  # the generator's own T=40 rotation-only switch, and the GP-VAE notebook's data seed
    assert src.count("NO_ZOOM = False") == 1 and src.count("seed_no = 32") == 1
    src = src.replace("NO_ZOOM = False", "NO_ZOOM = True").replace("seed_no = 32", "seed_no = 15")
sys.argv = [{gen!r}]
exec(compile(src, {gen!r}, "exec"), {{"__name__": "__main__", "__file__": {gen!r}}})
"""

_SPLIT = """
import json, sys
sys.path.insert(0, {official!r})
import torch
from misc import {dataset}
ds = {dataset}({data!r})
n_train = int(0.8 * len(ds))
tr, te = torch.utils.data.random_split(ds, [n_train, len(ds) - n_train],
                                       generator=torch.Generator().manual_seed({seed}))
json.dump({{"train": list(map(int, tr.indices)), "test": list(map(int, te.indices)),
           "source": "official misc.{dataset} + torch.utils.data.random_split, seed {seed}",
           "torch": torch.__version__}}, open({out!r}, "w"))
"""


def build(official: Path, python: str, bench: Path, variant: str = "mmgpvae") -> dict:
    """Run the official generator (unchanged) and record the official split; returns a summary."""
    official = Path(official).resolve()
    gen = official / "data_generator.py"
    if not gen.exists():
        raise FileNotFoundError(gen)
    work = bench / "mmgpvae-gen"
    n_jpg = write_digit_jpegs(work / "trainingSet" / "3")
    cwd = work / "run"  # the generator reads ../trainingSet/3/*.jpg and writes ./<name>.npy
    cwd.mkdir(parents=True, exist_ok=True)
    code = _RUNNER.format(gen=str(gen), no_zoom=variant == "gpvae")
    env = dict(os.environ, PYTHONPATH=str(official), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run([python, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"official generator failed:\n{proc.stderr[-3000:]}")
    out = data_path(variant, bench)
    shutil.move(str(cwd / DATA_NAME[variant]), out)
    summary = {"file": str(out), "bytes": out.stat().st_size, "sha256": sha256(out), "n_jpegs": n_jpg}
    split = Path(str(out) + ".split.json")
    dataset = "TimePointCustomDataset" if variant == "mmgpvae" else "GPVAE_dataset"
    code = _SPLIT.format(
        official=str(official), data=str(out), seed=SPLIT_SEEDS[variant], out=str(split), dataset=dataset
    )
    proc = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"official split failed:\n{proc.stderr[-3000:]}")
    ours = official_split(seed=SPLIT_SEEDS[variant])
    theirs = json.loads(split.read_text())
    summary["split_matches_official"] = ours["train"].tolist() == theirs["train"] and (
        ours["test"].tolist() == theirs["test"]
    )
    if not summary["split_matches_official"]:
        raise RuntimeError("torch.randperm(300, seed) does not reproduce the official random_split")
    if variant == "mmgpvae":
        summary["reference_sha256"] = REFERENCE_SHA256
        summary["sha256_matches_reference"] = summary["sha256"] == REFERENCE_SHA256
    return summary


# ----------------------------------------------------------------------------------------------
# load
# ----------------------------------------------------------------------------------------------


def official_split(n: int = N_TRIALS, seed: int = SPLIT_SEED) -> dict:
    """The official 240/60 split: ``torch.utils.data.random_split`` with
    ``torch.Generator().manual_seed(10)`` is ``randperm(300)`` cut at 240."""
    import torch

    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    n_train = int(TRAIN_FRACTION * n)
    return {"train": perm[:n_train].astype(np.int64), "test": perm[n_train:].astype(np.int64)}


def load(path: str | os.PathLike | None = None, variant: str = "mmgpvae") -> dict:
    """The generated data as plain numpy arrays (trials, time, ...):

    ``spikes`` (300, T, 100) int, ``rates`` (300, T, 100) true Poisson rates, ``images``
    (300, T, 36, 36) float64 on the 0..255 scale (the official code keeps float64), and the
    ground truth per frame: ``angle`` (degrees; 120 * g1), ``zoom`` (g3 + 1; the image uses
    |zoom|), ``g1`` the shared GP, ``g2`` the neural-only GP; plus ``train_idx``/``test_idx``, the
    trial indices of the official 240/60 split (order as the official loaders see them; checked
    against ``<file>.split.json`` written by ``build`` from the official code, when present).
    """
    path = Path(path) if path is not None else data_path(variant)
    d = np.load(path, allow_pickle=True).item()
    n, t = d["imgs"].shape[:2]
    out = {
        "spikes": np.asarray(d["spikes"]),
        "rates": np.asarray(d["rates"]),
        "images": np.asarray(d["imgs"]).reshape(n, t, 36, 36),
        "angle": np.asarray(d["GP_angs"]).reshape(n, t),
        "zoom": np.asarray(d["GP_zooms"]).reshape(n, t),
        "g1": np.asarray(d["GPs"][:, 0]),
        "g2": np.asarray(d["GPs"][:, 1]),
    }
    split = official_split(n, SPLIT_SEEDS[variant])
    side = Path(str(path) + ".split.json")
    if side.exists():
        rec = json.loads(side.read_text())
        if rec["train"] != split["train"].tolist() or rec["test"] != split["test"].tolist():
            raise RuntimeError(f"split in {side} differs from randperm(seed {SPLIT_SEEDS[variant]})")
    out["train_idx"], out["test_idx"] = split["train"], split["test"]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="run the official generator and record the official split")
    b.add_argument("--official", default="/work/bench-ext/mmgpvae-official", help="official MM-GPVAE tree")
    b.add_argument("--python", default=None, help="python of the official venv (default <bench>/mmgpvae-venv)")
    b.add_argument("--bench-dir", default=None, help="where to write (default $MMGPVAE_BENCH_DIR or <repo>/.bench)")
    b.add_argument("--variant", choices=sorted(DATA_NAME), default="mmgpvae")
    i = sub.add_parser("info", help="load the file and print shapes and held-out ground-truth variances")
    i.add_argument("--bench-dir", default=None)
    i.add_argument("--variant", choices=sorted(DATA_NAME), default="mmgpvae")
    args = p.parse_args(argv)
    bench = bench_dir(args.bench_dir)
    if args.cmd == "build":
        bench.mkdir(parents=True, exist_ok=True)
        python = args.python or str(bench / "mmgpvae-venv" / "bin" / "python")
        print(json.dumps(build(Path(args.official), python, bench, args.variant), indent=1))
    else:
        d = load(data_path(args.variant, bench), args.variant)
        te = d["test_idx"]
        info = {k: list(v.shape) for k, v in d.items()}
        info["heldout_variance"] = {k: float(d[k][te].var()) for k in ("angle", "zoom", "g2")}
        info["test_idx_head"] = d["test_idx"][:10].tolist()
        print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
