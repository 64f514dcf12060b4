"""A fine-tuned model's report joins its parent run's curve up to the parent's best epoch."""

from __future__ import annotations

import json

from trainer.fer.train import run_lineage


def _run(path, config, epochs, best_epoch, accs):
    path.mkdir()
    state = {"config": config, "epoch": epochs, "best": max(accs), "best_epoch": best_epoch,
             "done": True}  # fmt: skip
    (path / "state.json").write_text(json.dumps(state))
    rows = ["epoch,loss,accuracy,val_loss,val_accuracy"]
    rows += [f"{i + 1},1.0,{a},1.0,{a}" for i, a in enumerate(accs)]
    (path / "history.csv").write_text("\n".join(rows) + "\n")


def test_lineage_follows_init_and_cuts_the_parent_at_its_best_epoch(tmp_path):
    _run(tmp_path / "base", {"init": None, "epochs": 5}, 5, 3, [0.1, 0.2, 0.5, 0.4, 0.3])
    _run(tmp_path / "ft", {"init": str(tmp_path / "base" / "best.keras"), "epochs": 2}, 2, 2,
         [0.6, 0.7])  # fmt: skip
    history, stages = run_lineage(tmp_path / "ft")
    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert history["val_accuracy"] == [0.1, 0.2, 0.5, 0.6, 0.7]
    assert [(s.first_epoch, s.epochs, s.best_epoch) for s in stages] == [(1, 5, 3), (4, 2, 2)]


def test_lineage_of_a_plain_run_is_its_own_history(tmp_path):
    _run(tmp_path / "base", {"init": None}, 2, 1, [0.3, 0.2])
    history, stages = run_lineage(tmp_path / "base")
    assert history["epoch"] == [1, 2] and len(stages) == 1
    assert run_lineage(tmp_path / "missing") == ({}, [])


def test_lineage_from_the_parents_last_checkpoint_keeps_all_its_epochs(tmp_path):
    _run(tmp_path / "base", {"init": None}, 4, 1, [0.5, 0.2, 0.3, 0.4])
    _run(tmp_path / "ft", {"init": str(tmp_path / "base" / "last.keras")}, 2, 1, [0.6, 0.55])
    history, stages = run_lineage(tmp_path / "ft")
    assert history["val_accuracy"] == [0.5, 0.2, 0.3, 0.4, 0.6, 0.55]
    assert [(s.first_epoch, s.best_epoch, s.used_epoch) for s in stages] == [(1, 1, 4),
                                                                            (5, 1, 1)]
