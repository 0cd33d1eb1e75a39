"""The evaluation's pictures: spectrograms of every method on one held-out clip, and curves."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np


def plot_spectrograms(examples: dict[str, np.ndarray], source: np.ndarray, path: Path,
                      log_mel: Callable[[np.ndarray], np.ndarray]) -> None:
    """One panel per example (left channel), on the source's colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("held-out clip (truth)", source)] + list(examples.items())
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 1.7 * len(panels)), squeeze=False)
    top = float(log_mel(source).max())
    for ax, (name, audio) in zip(axes[:, 0], panels):
        ax.imshow(log_mel(audio)[0], origin="lower", aspect="auto", cmap="magma", vmin=top - 14, vmax=top)
        ax.set_title(name, fontsize=8)
        ax.set_ylabel("mel")
    axes[-1, 0].set_xlabel("frame (11.6 ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def plot_curves(results: dict, path: Path) -> None:
    """Style transfer (structure kept per strength) and quality against training time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right, levels) = plt.subplots(1, 3, figsize=(16, 4))
    for name, rows in results["style_transfer"].items():
        strengths = [r["strength"] for r in rows]
        left.plot(strengths, [r["chroma_correlation"] for r in rows], "o-", label=f"{name}: chroma")
        left.plot(strengths, [r["onset_correlation"] for r in rows], "s--", label=f"{name}: onsets")
    left.set_xlabel("style strength")
    left.set_ylabel("correlation with the source")
    left.set_title("style transfer: structure kept")
    left.legend(fontsize=7)
    curve = results["training_curve"]
    if curve:
        minutes = [r["train_seconds"] / 60 for r in curve]
        right.plot(minutes, [r["gap_2s"]["log_mel_l1_db"] for r in curve], "o-", label="gap 2 s")
        right.plot(minutes, [r["extension_2s"]["log_mel_l1_db"] for r in curve], "s-", label="extension 2 s")
        baselines = results["regions"].get("gap 2 s", {})  # when the evaluation had 2 s gaps
        for label, style in (("loop-repeat", ":"), ("shaped noise", "--")):
            if label in baselines:
                right.axhline(baselines[label]["log_mel_l1_db"], ls=style, color="grey", label=f"gap 2 s: {label}")
        right.set_xlabel("training time (CPU minutes)")
        right.set_ylabel("log-mel L1 in the region (dB)")
        right.set_title("quality against training time")
        right.legend(fontsize=7)
    else:  # no snapshots were given: say so instead of leaving empty axes
        right.set_axis_off()
        right.text(0.5, 0.5, "quality against training time:\nno snapshots given (--snapshots)",
                   ha="center", va="center", color="grey")
    noise = results.get("noise_levels")
    if noise:
        for i, name in enumerate(n for n in noise if n != "levels"):
            color = f"C{i}"
            levels.plot(noise["levels"], noise[name]["loss"], "o-", color=color, label=f"{name}: loss")
            levels.plot(noise["levels"], noise[name]["floor"], ":", color=color, label=f"{name}: floor of its output map")
        levels.set_xlabel("timestep (noise level)")
        levels.set_ylabel("MSE on held-out music")
        levels.set_title("loss per noise level")
        levels.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
