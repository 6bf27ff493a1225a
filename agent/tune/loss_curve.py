"""The training loss as a PNG: every step's loss, a moving average over it, and the epochs marked."""

from __future__ import annotations

from pathlib import Path

SMOOTHING = 20  # steps in the moving average


def moving_average(values: list[float], window: int = SMOOTHING) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def write_loss_curve(losses: list[tuple[int, float]], path: Path, title: str, steps_per_epoch: int = 0) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    steps = [s for s, _ in losses]
    values = [v for _, v in losses]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax.plot(steps, values, color="#9ab", linewidth=0.8, label="loss per step")
    ax.plot(steps, moving_average(values), color="#c33", linewidth=1.8,
            label=f"moving average ({SMOOTHING} steps)")
    if steps_per_epoch and steps:
        for boundary in range(steps_per_epoch, steps[-1], steps_per_epoch):
            ax.axvline(boundary, color="#888", linestyle=":", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (cross-entropy on trained tokens)")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
