"""Training report: accuracy/loss curves, confusion matrices (PNG) and a Markdown summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.shared.moods import MOODS

from .metrics import FerMetrics


def _plt():
    import matplotlib  # heavy (matplotlib, ~0.3 s): only the plots need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"): no display

    return plt


def plot_curves(
    history: dict[str, list[float]], path: Path, stage_starts: list[int] | None = None
) -> Path | None:
    """Accuracy and loss per epoch; a dotted line where a fine-tuning stage starts."""
    if not history.get("epoch"):
        return None
    plt = _plt()
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    ep = history["epoch"]
    ax_acc.plot(ep, history["accuracy"], label="train")
    ax_acc.plot(ep, history["val_accuracy"], label="PublicTest")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    ax_loss.plot(ep, history["loss"], label="train (soft targets)")
    ax_loss.plot(ep, history["val_loss"], label="PublicTest")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    for ax in (ax_acc, ax_loss):
        for start in stage_starts or []:
            ax.axvline(start - 0.5, color="grey", linestyle=":", label="fine-tuning starts")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_confusion(cm: list[list[int]], names, title: str, path: Path) -> Path:
    plt = _plt()
    m = np.array(cm, dtype=np.float64)
    rows = m.sum(axis=1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(names), 0.8 + 0.8 * len(names)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(m[i, j])})", ha="center", va="center",
                    fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _scores_table(scores: dict) -> list[str]:
    lines = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, s in scores.items():
        lines.append(f"| {name} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.support} |")
    return lines


def write_report(
    out_dir: Path,
    title: str,
    summary: dict[str, str],
    results: dict[str, FerMetrics],
    labels,
    history: dict[str, list[float]],
    stage_starts: list[int] | None = None,
) -> Path:
    """``results``: variant name ("float", "int8") -> metrics on the evaluation split."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {v}" for k, v in summary.items()]
    lines += ["", "| variant | 7-class accuracy | 4-mood accuracy | faces | mood faces |",
              "|---|---|---|---|---|"]
    for name, m in results.items():
        lines.append(f"| {name} | {m.accuracy:.4f} | {m.mood_accuracy:.4f} | {m.n} | {m.n_mood} |")
    if plot_curves(history, out_dir / "curves.png", stage_starts):
        lines += ["", "![accuracy and loss](curves.png)"]
    for name, m in results.items():
        lines += ["", f"## {name}: per class", "", *_scores_table(m.per_class)]
        lines += ["", f"### {name}: per mood", "", *_scores_table(m.per_mood)]
        plot_confusion(m.confusion, labels, f"{name}: 7 classes", out_dir / f"confusion_{name}.png")
        plot_confusion(m.mood_confusion, MOODS, f"{name}: 4 moods",
                       out_dir / f"confusion_{name}_moods.png")
        lines += ["", f"![{name} confusion](confusion_{name}.png) "
                      f"![{name} mood confusion](confusion_{name}_moods.png)"]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
