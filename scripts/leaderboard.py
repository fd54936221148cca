"""Local leaderboard: every model config x benchmark data set x 3 seeds, scored with the MABe
protocol (``eval=probes``), written to ``docs/leaderboard.md``.

    python scripts/leaderboard.py                       # all models, all data sets, seeds 0 1 2
    python scripts/leaderboard.py --models pca random_projection --datasets synthetic_social
    python scripts/leaderboard.py --steps 500 --out docs/leaderboard.md --runs outputs/leaderboard

Each run is ``behavenet.train.run`` on a composed config (the same code path as
``python train.py``), so every row can be reproduced with the command shown in the table.
Baselines (PCA, random projection) are always included.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: data set -> (hydra overrides, description)
DATASETS = {
    "synthetic_social": (
        ["data=synthetic_social", "data.splits='6;1;2;1'"],
        "synthetic 3-animal pose (`behavenet.data.synthetic.social`), 40 sequences x 300 "
        "frames; frame-level behaviours `approach` (animal 0 pursues animal 1) and "
        "`contact` (bodies closer than 5 cm), sequence-level `condition` (changes "
        "locomotion speed) and `day` (a null task: unrelated to the pose, so chance is "
        "the expected score)",
    ),
    "linear_track": (["data=linear_track"], "real: 31 units on a linear track (100 ms bins); position, direction"),
}

#: model name -> (hydra overrides, what it learns from, data sets it applies to (None = all))
MODELS = {
    "pca": (["model=pca"], "baseline, unsupervised", None),
    "random_projection": (["model=random_projection"], "baseline, unsupervised", None),
    "contrastive_time": (["model=contrastive_time"], "self-supervised (time-contrastive)", None),
    "contrastive_position": (
        ["model=contrastive", "model.labels=[position]"],
        "supervised by position (CEBRA-Behavior style; train frames only)",
        ["linear_track"],
    ),
    "mmgpvae_gpfa": (
        [
            "model=mmgpvae",
            "data.normalize={spikes: false}",
            "data.batch_size=8",
            "model.n_shared=8",
            "model.n_private=0",
            "model.lengthscale=5.0",
            "model.learning_rate=3e-3",
        ],
        "unsupervised: 8 Poisson GP latents of the spikes (MM-GPVAE as GPFA), whole 30-s trials",
        ["linear_track"],
    ),
    "mmgpvae_spikes_position": (
        [
            "model=mmgpvae",
            "data.inputs=[spikes,behavior]",
            "data.normalize={spikes: false}",
            "data.batch_size=8",
            "model.n_shared=2",
            "model.n_private={spikes: 2, behavior: 1}",
            "model.modality_dropout=0.25",
            "model.embed_inputs=[spikes]",
            "model.lengthscale=5.0",
            "model.learning_rate=3e-3",
        ],
        "behaviour as a second modality in training (train trials only); embedded from the spikes alone",
        ["linear_track"],
    ),
    "mmgpvae_pose": (
        ["model=mmgpvae", "data.batch_size=8", "model.n_shared=8", "model.n_private=0", "model.learning_rate=3e-3"],
        "unsupervised: 8 GP latents of the pose (single-modality GP-VAE), whole sequences",
        ["synthetic_social"],
    ),
    "bet": (
        ["model=bet", "model.action_input=pose"],
        "self-supervised (BeT: next-frame change of the pose features; train.py path, all animals jointly)",
        ["synthetic_social"],
    ),
    "bet_pose": (
        ["model=bet_pose"],
        "self-supervised (BeT per animal: egocentric next-frame keypoint displacements; hidden states pooled "
        "over the animals, 128 wide)",
        ["synthetic_social"],
    ),
}

#: models trained for a fixed number of steps instead of ``--steps`` (whole-trial batches: one
#: step sees every frame of 8 trials)
STEPS = {"mmgpvae_gpfa": 300, "mmgpvae_spikes_position": 300, "mmgpvae_pose": 300}


def compose(overrides: list[str], out: Path):
    from behavenet.train import compose_run_config

    return compose_run_config(overrides, out, ROOT / "conf")


def available_models() -> dict:
    conf = ROOT / "conf" / "model"
    return {k: v for k, v in MODELS.items() if (conf / f"{v[0][0].split('=')[1]}.yaml").exists()}


def run_one(model: str, dataset: str, seed: int, steps: int, runs_dir: Path) -> dict:
    from behavenet.train import run

    steps = STEPS.get(model, steps)
    overrides = (
        DATASETS[dataset][0]
        + MODELS[model][0]
        + [
            f"seed={seed}",
            "eval=probes",
            "eval.probes.plot=false",
            "logger=none",
            "trainer.enable_progress_bar=false",
            f"trainer.max_steps={steps}",
        ]
    )
    out = runs_dir / dataset / model / f"seed{seed}"
    t0 = time.time()
    metrics = run(compose(overrides, out))
    return {
        "model": model,
        "dataset": dataset,
        "seed": seed,
        "wall_s": time.time() - t0,
        "probes": metrics.get("probes", {}),
        "decoding": metrics.get("decoding", {}),
        "overrides": overrides,
    }


def score(task: dict) -> float | None:
    """The headline number of a probe task: ridge F1/macro-F1, or MSE for regression."""
    v = task.get("ridge")
    return None if v is None else float(v)


def summarise(results: list[dict]) -> dict:
    """{dataset: {model: {task: (mean, sd), "All-F1": ..., "All-MSE": ...}}}"""
    table: dict = {}
    for r in results:
        table.setdefault(r["dataset"], {}).setdefault(r["model"], []).append(r)
    out: dict = {}
    for ds, models in table.items():
        out[ds] = {}
        for model, runs in models.items():
            tasks = sorted({t for r in runs for t in r["probes"]})
            row = {}
            for t in tasks:
                vals = [score(r["probes"][t]) for r in runs if score(r["probes"].get(t, {})) is not None]
                metric = runs[0]["probes"][t].get("metric")
                if vals:
                    r2 = [r["probes"][t].get("ridge_r2") for r in runs]
                    r2 = float(np.mean(r2)) if all(v is not None for v in r2) else None
                    row[t] = (float(np.mean(vals)), float(np.std(vals)), metric, runs[0]["probes"][t].get("level"), r2)
            f1 = [v[0] for v in row.values() if v[2] in ("f1", "macro_f1")]
            mse = [v[0] for v in row.values() if v[2] == "mse"]
            per_seed_f1 = (
                [np.mean([score(r["probes"][t]) for t in row if row[t][2] in ("f1", "macro_f1")]) for r in runs]
                if f1
                else []
            )
            per_seed_mse = (
                [np.mean([score(r["probes"][t]) for t in row if row[t][2] == "mse"]) for r in runs] if mse else []
            )
            if f1:
                row["All-F1"] = (float(np.mean(per_seed_f1)), float(np.std(per_seed_f1)), "f1", "summary", None)
            if mse:
                row["All-MSE"] = (float(np.mean(per_seed_mse)), float(np.std(per_seed_mse)), "mse", "summary", None)
            row["_wall_s"] = float(np.mean([r["wall_s"] for r in runs]))
            row["_seeds"] = len(runs)
            out[ds][model] = row
    return out


def to_markdown(summary: dict, steps: int, seeds: list[int], total_s: float) -> str:
    import torch

    lines = [
        "# Local leaderboard",
        "",
        "Frozen per-frame embeddings scored with the MABe22 round-1 protocol "
        "(`eval=probes`: RidgeClassifier with balanced classes / Ridge, 3 probe seeds x 90% of the "
        "training clips, headline alpha 1, OR / mean merge of the seeds; F1 of the positive class "
        "for binary tasks, macro F1 for multi-class tasks, MSE for regression; higher F1 and lower "
        "MSE are better; numerics: float64, exact ridge fits from float64 sufficient statistics "
        "(`behavenet.eval.probes`), not the official MABe evaluator's float32 fits, see docs/mabe.md). "
        "Each cell is the mean +- sd over training seeds "
        f"{', '.join(map(str, seeds))}, learned models trained for {steps} steps on CPU (PCA and random projection are fitted in closed form"
        + "".join(f"; {m}: {n} steps" for m, n in STEPS.items())
        + ").",
        "",
        "Regenerate with `python scripts/leaderboard.py` "
        f"(this table: {total_s / 60:.1f} min on {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch thread(s)).",
        "",
    ]
    for ds, models in summary.items():
        lines += [f"## {ds}", "", DATASETS[ds][1] + ".", ""]
        tasks = sorted(
            {t for row in models.values() for t in row if not t.startswith("_") and t not in ("All-F1", "All-MSE")}
        )
        cols = tasks + [c for c in ("All-F1", "All-MSE") if any(c in r for r in models.values())]
        metric_of = {}
        for row in models.values():
            for t in cols:
                if t in row:
                    metric_of[t] = row[t][2]
        header = "| model | " + " | ".join(f"{t} ({metric_of.get(t, '')})" for t in cols) + " | s/run |"
        lines += [header, "|" + "---|" * (len(cols) + 2)]
        for model, row in models.items():
            cells = [_cell(row[t]) if t in row else "-" for t in cols]
            lines.append(f"| {model} | " + " | ".join(cells) + f" | {row['_wall_s']:.0f} |")
        lines.append("")
        lines += ["Models: " + "; ".join(f"`{m}`: {MODELS[m][1]}" for m in models) + ".", ""]
    lines += [
        "Commands: each row is `python train.py <dataset overrides> <model overrides> seed=S "
        "eval=probes`; the overrides are listed in `scripts/leaderboard.py` (`DATASETS`, `MODELS`).",
        "",
    ]
    return "\n".join(lines)


def _cell(v) -> str:
    mean, sd, _, _, r2 = v
    text = f"{mean:.3g} +- {sd:.2g}" if abs(mean) >= 100 else f"{mean:.3f} +- {sd:.3f}"
    return text + (f" (R² {r2:.2f})" if r2 is not None else "")


def main(argv=None):
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].replace("``", "").split()))
    p.add_argument("--models", nargs="*", default=None)
    p.add_argument("--datasets", nargs="*", default=list(DATASETS))
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--runs", type=Path, default=ROOT / "outputs" / "leaderboard")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "leaderboard.md")
    p.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    from behavenet.errors import BehavenetError
    from behavenet.eval.submission import check_output_path

    try:  # fail before hours of training, not when writing the table
        check_output_path(args.out, "--out")
        if args.json:
            check_output_path(args.json, "--json")
    except BehavenetError as exc:
        p.error(str(exc))
    import torch

    torch.set_num_threads(args.threads)
    models = args.models or list(available_models())
    for m in ("pca", "random_projection"):
        if m not in models:
            models.insert(0, m)
    t0 = time.time()
    results = []
    for ds in args.datasets:
        for model in models:
            if MODELS[model][2] is not None and ds not in MODELS[model][2]:
                continue
            for seed in args.seeds:
                r = run_one(model, ds, seed, args.steps, args.runs)
                print(
                    f"{ds:18s} {model:20s} seed {seed}: "
                    + ", ".join(f"{t}={score(v):.3f}" for t, v in r["probes"].items() if score(v) is not None),
                    flush=True,
                )
                results.append(r)
    summary = summarise(results)
    text = to_markdown(summary, args.steps, args.seeds, time.time() - t0)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(args.out)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
