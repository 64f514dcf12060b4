"""Would more views or more models help? PublicTest accuracy of Keras checkpoints, alone,
with shifted views, and with their outputs averaged.

Every figure is float Keras with the mirrored view averaged in, as the shipped model does.
Shifted views move the face 1 or 2 pixels (reflecting the border) and average the outputs;
an ensemble averages the probabilities of every subset of the checkpoints given. Both
would cost more compute on the device, so they only pay if they gain clearly.

    python -m bench.fer_views ~/.cache/moodspeaker/fer-w30-fixres-hard/best.keras [MORE.keras]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from device.shared.manifest import mood_matrix
from trainer.fer.dataset import FER_LABELS, load_fer_csv
from trainer.fer.export import DEFAULT_MOODS, with_flip_average
from trainer.fer.metrics import compute_metrics

REPO = Path(__file__).resolve().parent.parent

ONE_PX = [(1, 0), (-1, 0), (0, 1), (0, -1)]
TWO_PX = [(2, 0), (-2, 0), (0, 2), (0, -2)]
SHIFTS = {
    "flip": [(0, 0)],
    "flip + 1 px shifts": [(0, 0), *ONE_PX],
    "flip + 2 px shifts": [(0, 0), *TWO_PX],
    "flip + 1 and 2 px shifts": [(0, 0), *ONE_PX, *TWO_PX],
}


def shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    return padded[:, 2 + dy : 2 + dy + x.shape[1], 2 + dx : 2 + dx + x.shape[2]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared/data/fer2013/fer2013.csv.gz")
    args = ap.parse_args()

    import keras

    from trainer.fer import losses  # noqa: F401  custom objects a checkpoint may name

    data = load_fer_csv(args.data, ("PublicTest",))
    x = data.images[..., None].astype(np.float32) / 255.0
    to_mood = mood_matrix(FER_LABELS, DEFAULT_MOODS)

    def line(name: str, probs: np.ndarray) -> None:
        m = compute_metrics(probs, data.labels, FER_LABELS, to_mood)
        print(f"{name:60s} {m.accuracy:8.2%} {m.mood_accuracy:8.2%}")

    print(f"{'PublicTest, float, ' + str(len(x)) + ' faces':60s} {'7-class':>8s} {'4-mood':>8s}")
    flip_only: dict[str, np.ndarray] = {}
    for path in args.checkpoints:
        model = with_flip_average(keras.models.load_model(path, compile=False))
        name = path.parent.name
        views = {s: model.predict(shifted(x, *s), batch_size=512, verbose=0)
                 for s in SHIFTS["flip + 1 and 2 px shifts"]}  # fmt: skip
        flip_only[name] = views[(0, 0)]
        for label, shifts in SHIFTS.items():
            line(f"{name}: {label}", sum(views[s] for s in shifts) / len(shifts))
    for k in range(2, len(flip_only) + 1):
        for combo in itertools.combinations(flip_only, k):
            line(" + ".join(combo), sum(flip_only[c] for c in combo) / k)
    return 0


if __name__ == "__main__":
    sys.exit(main())
