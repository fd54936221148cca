"""Evaluation run after training (``eval=...``): reads ``embeddings.h5``, returns metrics.

The ``decoding`` section decodes every served label from the embedding: decoders are fitted on
training frames and scored on validation and test frames (gap frames are never used), with
kNN and linear decoders (:mod:`behavenet.eval.decoding`). Further sections (downstream probes,
MABe tasks) are added by their modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from behavenet.embeddings import load_embeddings
from behavenet.eval.decoding import decode


def evaluate_run(embeddings_path, eval_cfg, out_dir: Path | None = None) -> dict[str, Any]:
    """Run the configured evaluations; returns ``{"decoding": {...}, ...}``."""
    sessions = load_embeddings(embeddings_path)
    results: dict[str, Any] = {}
    dec = eval_cfg.get("decoding") if hasattr(eval_cfg, "get") else None
    if dec:
        results["decoding"] = decoding_metrics(
            sessions,
            labels=dec.get("labels"),
            decoders=list(dec.get("decoders", ["knn", "linear"])),
            n_neighbors=int(dec.get("knn_neighbors", 25)),
            metric=str(dec.get("knn_metric", "cosine")),
            splits=list(dec.get("splits", ["val", "test"])),
        )
        if not results["decoding"]:
            asked = dec.get("labels")
            asked = [asked] if isinstance(asked, str) else asked
            results["decoding_skipped"] = (
                f"none of the labels {list(asked)} is in the embeddings file"
                if asked
                else "the sessions have no labels or behaviour variables to decode (docs/data_format.md: "
                "/labels/frame, /behavior; select them with data.labels=[...])"
            )
    probes = eval_cfg.get("probes") if hasattr(eval_cfg, "get") else None
    if probes:
        from behavenet.eval.downstream import probe_metrics

        results["probes"] = probe_metrics(sessions, probes, out_dir)
    return results


def decoding_metrics(
    sessions,
    labels=None,
    decoders=("knn", "linear"),
    n_neighbors: int = 25,
    metric: str = "cosine",
    splits=("val", "test"),
) -> dict[str, Any]:
    """Decode each label from the pooled frames of all sessions (train → ``splits``)."""
    names = labels or sorted({n for s in sessions for n in s.labels})
    out: dict[str, Any] = {}
    for name in names:
        have = [s for s in sessions if name in s.labels]
        if not have:
            continue
        kind = have[0].label_kinds[name]
        tr_x = np.concatenate([s.embedding[s.mask("train")] for s in have])
        tr_y = np.concatenate([s.labels[name][s.mask("train")] for s in have])
        tr_x, tr_y = _finite(tr_x, tr_y, kind)
        res: dict[str, Any] = {"kind": kind}
        for decoder in decoders:
            res[decoder] = {}
            for split in splits:
                te_x = np.concatenate([s.embedding[s.mask(split)] for s in have])
                te_y = np.concatenate([s.labels[name][s.mask(split)] for s in have])
                te_x, te_y = _finite(te_x, te_y, kind)
                if len(te_x) == 0 or len(tr_x) == 0:
                    continue
                kw = {"n_neighbors": n_neighbors, "metric": metric} if decoder == "knn" else {}
                res[decoder][split] = decode(tr_x, tr_y, te_x, te_y, kind, decoder, **kw).as_dict()
        out[name] = res
    return out


def _finite(x, y, kind):
    y = np.asarray(y)
    if kind == "continuous":
        keep = np.isfinite(y.reshape(len(y), -1)).all(1)
    else:
        keep = y.reshape(len(y), -1)[:, 0] >= 0
    return x[keep], y[keep]
