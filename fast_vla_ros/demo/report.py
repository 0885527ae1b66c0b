"""What a person looks at after the demo: a table on the terminal, a plot of commanded vs measured
joint positions with chunk arrivals marked, and a GIF of the scene camera. No rclpy here."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np

from fast_vla_ros.demo.episode_runner import EpisodeRecord

ARM_JOINTS_PLOTTED = 3  # the three largest joints show the motion; all seven make the plot unreadable


def table(records: list[EpisodeRecord]) -> str:
    header = f"{'instruction':<44} {'success':>7} {'seconds':>8} {'latency ms':>10}  interventions (ticks by kind)"
    lines = [header, "-" * len(header)]
    for r in records:
        latency = f"{1e3 * np.mean(r.inference_latencies):.0f}" if r.inference_latencies else "-"
        kinds = ", ".join(f"{k.removeprefix('intervention.')} {v}" for k, v in sorted(r.interventions.items()))
        lines.append(
            f"{r.instruction[:44]:<44} {'yes' if r.success else 'no':>7} {r.seconds:>8.1f} {latency:>10}  "
            f"{sum(r.interventions.values())}{f' ({kinds})' if kinds else ''}"
        )
    done = sum(r.success for r in records)
    lines.append("-" * len(header))
    lines.append(f"{done}/{len(records)} episodes succeeded")
    return "\n".join(lines)


def plot(records: list[EpisodeRecord], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(records), 1, figsize=(11, 2.6 * len(records)), squeeze=False)
    for ax, record in zip(axes[:, 0], records, strict=True):
        if record.measured and record.commanded:
            t_measured = np.array([t for t, _ in record.measured])
            measured = np.stack([q for _, q in record.measured])
            t_commanded = np.array([t for t, _ in record.commanded])
            commanded = np.stack([q for _, q in record.commanded])
            for j in range(min(ARM_JOINTS_PLOTTED, measured.shape[1])):
                (line,) = ax.plot(t_commanded, commanded[:, j], lw=1.5, label=f"{record.joint_names[j]} commanded")
                ax.plot(t_measured, measured[:, j], lw=1, ls="--", color=line.get_color(), label="measured")
        for k, t in enumerate(record.chunk_arrivals):
            ax.axvline(t, color="0.6", lw=0.6, label="chunk arrives" if k == 0 else None)
        outcome = "success" if record.success else "timeout"
        ax.set_title(f'"{record.instruction}": {outcome} after {record.seconds:.1f} s', fontsize=10)
        ax.set_ylabel("rad")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=4, loc="upper right")
    axes[-1, 0].set_xlabel("seconds since armed")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def gif(records: list[EpisodeRecord], path: Path, fps: float) -> None:
    frames = [frame for record in records for frame in record.frames]
    if not frames:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.stack(frames), plugin="pillow", duration=1000 / fps, loop=0)
