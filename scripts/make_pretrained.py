"""Train the small pretrained models bundled with behavenet (``behavenet/resources/pretrained``).

Each model is trained by ``python train.py``'s own :func:`behavenet.train.run` on the bundled demo
recording (``data/linear_track.h5``: 31 units and the position of a rodent on a linear track,
nelpy's example data, MIT), then exported with :func:`behavenet.save_pretrained` into a model
directory with its card (data, config, held-out metrics, licence, versions, sha256 of every file).
The card also records the sha256 of the demo session's embedding as the run computed it, which
``tests/test_pretrained.py`` checks a fresh process reproduces.

Usage::

    python scripts/make_pretrained.py [--only NAME ...] [--out behavenet/resources/pretrained]

About 3 minutes on a 2-core CPU (1 torch thread, seed 0).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMON = ["logger=csv", "trainer.enable_progress_bar=false", "callbacks=none", "seed=0"]
MODELS = {
    "linear-track-contrastive": {
        "description": "contrastive (CEBRA-like, time + position positives) embedding of 31 hippocampal "
        "units on the bundled linear track; 8 dimensions, spikes only",
        "overrides": ["model=contrastive", "model.model_architecture=offset10"],
    },
    "linear-track-mmgpvae": {
        "description": "MM-GPVAE of spikes + behaviour on the bundled linear track: 1 shared + 1 private "
        "latent per modality (3 dimensions)",
        "overrides": [
            "model=mmgpvae",
            "data.inputs=[spikes,behavior]",
            "model.hidden_units=32",
            "model.max_length=100",
            "trainer.max_steps=600",
            "trainer.val_check_interval=200",
        ],
    },
    "linear-track-bet": {
        "description": "Behavior Transformer (k-means action bins + offsets) on spikes + behaviour of the "
        "bundled linear track; the 32-wide trunk is the embedding",
        "overrides": [
            "model=bet",
            "data.inputs=[spikes,behavior]",
            "model.window=8",
            "model.n_clusters=8",
            "model.n_layer=2",
            "model.n_head=4",
            "model.n_embd=32",
            "model.output_dim=64",
            "model.batch_size=64",
            "trainer.max_steps=600",
            "trainer.val_check_interval=200",
        ],
    },
}

DATA = {
    "file": "data/linear_track.h5 (bundled; behavenet/_bundled/data/linear_track.h5 in a wheel)",
    "source": "nelpy example data (MIT), 31 sorted units, 100 ms bins, ~16 min on a linear track",
    "licence": "MIT (data/nelpy-linear-track/LICENSE.upstream.txt)",
    "splits": "8;1;1;1 of 30 s trials (train;val;test;gap), seed 0",
}


def compose(overrides: list[str], out: Path):
    from behavenet.train import compose_run_config

    return compose_run_config(overrides, out, ROOT / "conf")


def make(name: str, spec: dict, out_root: Path, work: Path) -> Path:
    import hashlib

    import behavenet
    from behavenet.embeddings import load_embeddings
    from behavenet.train import run

    run_dir = work / name
    t0 = time.time()
    run(compose(spec["overrides"] + COMMON, run_dir))
    emb = load_embeddings(run_dir / "embeddings.h5")[0].embedding
    check = {
        "session": "data/linear_track.h5",
        "embedding_shape": list(emb.shape),
        "embedding_sha256": hashlib.sha256(emb.astype("<f4").tobytes()).hexdigest(),
    }
    target = out_root / name
    if target.exists():
        shutil.rmtree(target)
    behavenet.save_pretrained(
        run_dir,
        target,
        description=spec["description"],
        licence="MIT (model weights; trained on MIT-licensed data)",
        data=DATA,
        extra={
            "overrides": spec["overrides"] + COMMON,
            "script": "scripts/make_pretrained.py",
            "demo_check": check,
        },
    )
    print(f"{name}: {time.time() - t0:.1f} s -> {target}", file=sys.stderr)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, choices=sorted(MODELS))
    parser.add_argument("--out", default=str(ROOT / "behavenet" / "resources" / "pretrained"))
    args = parser.parse_args(argv)
    out_root = Path(args.out)
    out_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="behavenet-pretrained-") as work:
        for name in args.only or MODELS:
            make(name, MODELS[name], out_root, Path(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
