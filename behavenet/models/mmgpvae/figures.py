"""Figures of a trained MM-GPVAE, written into a run directory (matplotlib, no pyplot state).

- ``latents.png``: posterior means of every latent over time on a few held-out trials, one panel
  per trial, shared and private blocks told apart;
- ``reconstruction_<input>.png``: each input against its reconstruction from the posterior means
  (vectors: the features with the largest variance over time; images: frames side by side).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["write_figures"]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    from behavenet.utils.files import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    return path


def _trials(splits, n: int) -> list[tuple[object, int, int]]:
    out = []
    for split in splits:
        for a, b in split.segments:
            out.append((split, int(a), int(b)))
            if len(out) == n:
                return out
    return out


@torch.no_grad()
def write_figures(core, splits, directory, n_trials: int = 3) -> list[Path]:
    """Write the figures for up to ``n_trials`` trials of ``splits``; returns the files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    trials = _trials(splits, n_trials)
    if not trials:
        return []
    names = core.embedding_names
    blocks = core.latent_blocks()
    written = []
    fig = _figure(4.2 * len(trials), 3.0)
    recs = []
    for i, (split, a, b) in enumerate(trials):
        inputs = {n: split.inputs[n][a:b] for n in core.input_names}
        z = core.embed(inputs).float().cpu().numpy()
        recs.append((inputs, core.reconstruct(inputs)))
        ax = fig.add_subplot(1, len(trials), i + 1)
        for key, sl in blocks.items():
            for j in range(sl.start, sl.stop):
                ax.plot(z[:, j], lw=1.2, ls="-" if key == "shared" else "--", label=names[j])
        ax.set_title(f"{split.session_id} trial {int(split.trial_index[a])}", fontsize=8)
        ax.set_xlabel("bin")
        if i == 0:
            ax.set_ylabel("posterior mean")
            ax.legend(fontsize=6, ncol=2)
    fig.suptitle("MM-GPVAE latents (solid: shared, dashed: private)", fontsize=9)
    written.append(_save(fig, directory / "latents.png"))

    inputs, rec = recs[0]
    for n in core.input_names:
        x = inputs[n]
        x = x if isinstance(x, np.ndarray) else np.asarray([x[i] for i in range(len(x))])
        r = rec[n].float().cpu().numpy()
        if len(core.frame_shapes[n]) == 3:
            x = x.astype(np.float32)
            if x.dtype == np.uint8 or x.max() > 1.5:
                x = x / 255.0
            if x.shape[-1] != r.shape[-1] and x.shape[-1] == r.shape[1]:  # (T, H, W, C) frames
                x = np.moveaxis(x, -1, 1)
            frames = np.linspace(0, len(x) - 1, min(6, len(x))).astype(int)
            fig = _figure(1.6 * len(frames), 3.4)
            for j, t in enumerate(frames):
                for row, img in enumerate((x[t], r[t])):
                    ax = fig.add_subplot(2, len(frames), row * len(frames) + j + 1)
                    ax.imshow(np.clip(img.mean(0), 0, 1), cmap="gray", vmin=0, vmax=1)
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if j == 0:
                        ax.set_ylabel("data" if row == 0 else "reconstruction", fontsize=7)
                ax.set_title(f"bin {t}", fontsize=7)
        else:
            flat, rf = x.reshape(len(x), -1).astype(np.float32), r.reshape(len(r), -1)
            var = np.nan_to_num(np.nanvar(flat, axis=0), nan=-1)
            top = np.argsort(var)[::-1][: min(4, flat.shape[1])]
            fig = _figure(4.0 * len(top), 2.6)
            for j, k in enumerate(top):
                ax = fig.add_subplot(1, len(top), j + 1)
                ax.plot(flat[:, k], color="0.6", lw=1, label="data")
                ax.plot(rf[:, k], color="C3", lw=1.3, label=f"reconstruction ({core.likelihood[n]})")
                ax.set_title(f"{n}[{k}]", fontsize=8)
                ax.set_xlabel("bin")
                if j == 0:
                    ax.legend(fontsize=6)
        fig.suptitle(f"{n}: data vs reconstruction from the posterior means", fontsize=9)
        written.append(_save(fig, directory / f"reconstruction_{n}.png"))
    return written
