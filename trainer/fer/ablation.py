"""Short controlled runs that measure what a training choice is worth.

Each variant trains the same architecture with the same seed, data subset and epoch
budget, changing one setting; the table reports best PublicTest accuracy (float, no
test-time flip) so the choices in ``TrainConfig`` rest on numbers, not habit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

from .dataset import FerData
from .train import TrainConfig, train

log = logging.getLogger(__name__)

#: name -> changes from the base config
VARIANTS: dict[str, dict] = {
    "FER2013 labels only": {"hard_label_weight": 1.0},
    "0.7 label + 0.3 FER+ votes (default)": {"hard_label_weight": 0.7},
    "0.4 label + 0.6 FER+ votes": {"hard_label_weight": 0.4},
    "default, no class balancing": {"class_balance": 0.0},
}


def run_ablation(train_data: FerData, val_data: FerData, base: TrainConfig, out_dir: Path,
                 variants: dict[str, dict] | None = None) -> list[dict]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (name, change) in enumerate((variants or VARIANTS).items()):
        cfg = replace(base, **change)
        run_dir = out_dir / f"variant{i}"
        log.info("ablation %d: %s", i, name)
        train(train_data, val_data, cfg, run_dir)
        state = json.loads((run_dir / "state.json").read_text())
        rows.append({"variant": name, "best_accuracy": state["best"],
                     "best_epoch": state["best_epoch"], "config": asdict(cfg)})
    lines = ["| variant | best PublicTest accuracy | at epoch |", "|---|---|---|"]
    lines += [f"| {r['variant']} | {r['best_accuracy']:.4f} | {r['best_epoch']} |" for r in rows]
    common = {k: v for k, v in asdict(base).items()
              if all(r["config"][k] == v for r in rows)}
    lines += ["", "Common settings: " + ", ".join(f"{k}={v}" for k, v in common.items())]
    (out_dir / "ablation.md").write_text("\n".join(lines) + "\n")
    (out_dir / "ablation.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))
    return rows
