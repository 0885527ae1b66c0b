"""The one picture of a tokenizer a person looks at before trusting it with a robot.

Top: a few chunks, original (solid) against decoded (dashed), so errors show where they happen (gripper
steps, fast reversals). Bottom left: mean DCT energy per frequency index, which shows why FAST
compresses (energy falls off fast) and where rounding at ``1 / scale`` cuts it. Bottom right: tokens
per chunk, the sequence length the policy must generate.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on robots or CI machines

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from scipy.fft import dct

from fast_vla_ros.tokenizers.evaluation import Reconstruction


def save_report_figure(
    path: str | Path,
    title: str,
    chunks: np.ndarray,
    reconstruction: Reconstruction,
    samples: int = 3,
    scale: float | None = None,
) -> None:
    """Write the PNG; ``scale`` (FAST's) draws the rounding step on the energy plot."""
    samples = max(1, min(samples, len(chunks)))
    fig = plt.figure(figsize=(5 * samples, 8.5), layout="constrained")
    grid = fig.add_gridspec(2, samples)
    chosen = np.linspace(0, len(chunks) - 1, samples).round().astype(int)
    colors = plt.get_cmap("tab10").colors
    for column, index in enumerate(chosen):
        ax = fig.add_subplot(grid[0, column])
        for d in range(chunks.shape[2]):
            color = colors[d % len(colors)]
            ax.plot(chunks[index, :, d], color=color, linewidth=1.5, label=f"dim {d}")
            ax.plot(reconstruction.decoded[index, :, d], color=color, linestyle="--", linewidth=1.2)
        ax.set_title(f"chunk {index}: {len(reconstruction.tokens[index])} tokens (dashed: decoded)")
        ax.set_xlabel("step")
        ax.set_ylabel("normalized action")
        ax.set_ylim(-1.15, 1.15)
        ax.grid(alpha=0.3)
        if column == 0:
            ax.legend(fontsize=7, ncol=2, loc="lower left")

    energy_ax = fig.add_subplot(grid[1, : max(1, samples - 1)])
    energy = np.mean(dct(chunks, type=2, axis=1, norm="ortho") ** 2, axis=0)  # [H, D]
    for d in range(chunks.shape[2]):
        energy_ax.semilogy(energy[:, d], color=colors[d % len(colors)], marker=".", label=f"dim {d}")
    if scale:
        energy_ax.axhline((0.5 / scale) ** 2, color="black", linestyle=":", label="rounding step (0.5/scale)^2")
    energy_ax.set_title("mean DCT energy per coefficient index")
    energy_ax.set_xlabel("DCT coefficient index (0 = mean of the chunk)")
    energy_ax.set_ylabel("mean squared coefficient")
    energy_ax.grid(alpha=0.3, which="both")
    energy_ax.legend(fontsize=7, ncol=2)

    stats = reconstruction.stats
    hist_ax = fig.add_subplot(grid[1, -1]) if samples > 1 else energy_ax.twinx()
    lengths = [len(t) for t in reconstruction.tokens]
    hist_ax.hist(lengths, bins=min(40, max(5, len(set(lengths)))), color="tab:gray")
    hist_ax.axvline(stats.tokens_mean, color="tab:red", label=f"mean {stats.tokens_mean:.1f}")
    hist_ax.set_title(f"tokens per chunk (binning: {stats.values_per_chunk})")
    hist_ax.set_xlabel("tokens")
    hist_ax.set_ylabel("chunks")
    hist_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    hist_ax.legend(fontsize=8)
    fig.suptitle(f"{title}\nRMSE {stats.rmse:.4f}, max |error| {stats.max_abs:.4f} (normalized units), "
                 f"{stats.chunks} chunks of {stats.horizon} x {stats.action_dim}")  # fmt: skip
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
