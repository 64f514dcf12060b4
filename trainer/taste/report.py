"""Evaluation output: a Markdown table and plots like the paper's figures 6 and 7."""

from __future__ import annotations

from pathlib import Path

import numpy as np

METRICS = ("mae", "rmse", "p@5", "p@10", "p@20")


def _cell(summary: dict, metric: str) -> str:
    mean, std = summary.get(metric), summary.get(f"{metric}_std")
    return "n/a" if mean is None else f"{mean:.3f} ± {std:.3f}"


def markdown(result: dict) -> str:
    """Every method side by side, mean ± std over all folds (of all repeats), and the
    simulated Spearman."""
    reps, seed = result.get("repeats", 1), result["seed"]
    seeds = f"seed {seed}" if reps == 1 else f"x {reps} repeats, seeds {seed}-{seed + reps - 1}"
    head = (f"### {result['dataset']}: {result['k']}-fold CV {seeds}, "
            f"{result['scored_rows']} scored rows of {result['rows']}, {result['users']} "
            f"users, {result['items']} items, {result['genres']} genres")  # fmt: skip
    if result.get("context_rows"):
        head += " (rows without mood used for training)"
    lines = [head, "", "| method | " + " | ".join(m.upper() for m in METRICS) + " |",
             "|---" * (len(METRICS) + 1) + "|"]  # fmt: skip
    for name, summary in result["summary"].items():
        cells = " | ".join(_cell(summary, m) for m in METRICS)
        lines.append(f"| {name} | {cells} |")
    chosen = result["summary"].get("mood_tucker_tracks", {}).get("track_weights_chosen")
    if chosen:
        picks = ", ".join(f"{v} in {c}" for v, c in chosen.items())
        lines += ["", "mood_tucker_tracks on re-rated tracks: mood shift / own-rating "
                  "shrinkage chosen by inner 4-fold CV per training fold: "
                  f"{picks} folds."]  # fmt: skip
    sp = result.get("spearman")
    if sp:
        lines += ["", f"Spearman per (user, mood) vs planted tastes ({sp['users']} users, "
                  f"{sp['posts_with_mood']} of {sp['posts']} posts with a clear mood):", "",
                  "| estimate | mean | std | median | happy | sad | angry | neutral |",
                  "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for name in ("pipeline", "equation1_only", "prior_only", "pipeline_true_post_moods"):
            if name in sp:
                s = sp[name]
                moods = " | ".join(f"{v:.3f}" for v in s["per_mood"].values())
                lines.append(f"| {name} | {s['mean']:.3f} | {s['std']:.3f} | "
                             f"{s['median']:.3f} | {moods} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def plots(result: dict, stem: Path) -> list[Path]:
    """``stem_mae.png`` (MAE per method, fold std as error bars; fig. 6) and ``stem_pn.png``
    (P@N for N = 5, 10, 20 per method; fig. 7)."""
    import matplotlib  # heavy (matplotlib, ~0.3 s): only the plots need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"): no display

    summary = result["summary"]
    names = list(summary)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    mae = [summary[n]["mae"] for n in names]
    err = [summary[n]["mae_std"] for n in names]
    colours = ["tab:orange" if "tucker" in n else "tab:blue" for n in names]
    ax.bar(range(len(names)), mae, yerr=err, capsize=3, color=colours)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_ylim(min(mae) * 0.9, max(mae) * 1.05)
    ax.set_ylabel("MAE (lower is better)")
    runs = result["k"] * result.get("repeats", 1)
    ax.set_title(f"{result['dataset']}: MAE per method, ± std over {runs} folds")
    fig.tight_layout()
    mae_path = stem.parent / f"{stem.name}_mae.png"
    fig.savefig(mae_path, dpi=90)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ns = (5, 10, 20)
    for n in names:
        vals = [summary[n][f"p@{k}"] for k in ns]
        if any(v is None for v in vals):
            continue
        style = "-o" if "tucker" in n else "--."
        ax.plot(ns, vals, style, label=n)
    ax.set_xticks(ns)
    ax.set_xlabel("N")
    ax.set_ylabel("P@N")
    ax.set_title(f"{result['dataset']}: P@N")
    ax.legend(fontsize=7)
    fig.tight_layout()
    pn_path = stem.parent / f"{stem.name}_pn.png"
    fig.savefig(pn_path, dpi=90)
    plt.close(fig)
    return [mae_path, pn_path]


def write_report(result: dict, stem: Path) -> str:
    """``stem.md`` and the plots next to the JSON; returns the Markdown."""
    text = markdown(result)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    if all(np.isfinite(s["mae"]) for s in result["summary"].values()):
        plots(result, stem)
    return text
