"""How wide to crop around the Haar box: accuracy of the shipped model per crop margin.

FER2013 faces are framed by their own registration, not by our detector; the crop that
reproduces that framing best gives the highest accuracy. For each margin this prints the
7-class and 4-mood accuracy on PublicTest faces placed in 640x480 frames (only the faces
the cascade finds), next to the accuracy of the same faces fed directly as 48x48.

    python -m bench.crop_margin [--faces 1500]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from device.perception.estimator import MoodEstimator
from device.shared.fer_input import crop_face, to_input
from trainer.fer.dataset import load_fer_csv
from trainer.fer.frames import face_in_frame
from trainer.fer.metrics import compute_metrics

REPO = Path(__file__).resolve().parent.parent

MARGINS = (-0.1, -0.05, 0.0, 0.05, 0.1, 0.15, 0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path,
                        default=REPO.parent / "shared/data/fer2013/fer2013.csv.gz")
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--faces", type=int, default=1500)
    args = parser.parse_args()
    val = load_fer_csv(args.data, ("PublicTest",))
    est = MoodEstimator.from_models_dir(args.models)
    spec = est.classifier.spec
    to_mood = spec.label_to_mood_matrix()
    rng = np.random.default_rng(0)
    kept, frames_boxes = [], []
    for i in range(min(args.faces, len(val))):
        frame = face_in_frame(val.images[i], int(rng.integers(30, 450)),
                              int(rng.integers(30, 290)))
        boxes = est.detector.detect(frame)
        if boxes:
            kept.append(i)
            frames_boxes.append((frame, boxes[0]))
    labels = val.labels[kept]
    print(f"{len(kept)} of {min(args.faces, len(val))} faces detected")

    def score(faces) -> tuple[float, float]:
        probs = np.stack([est.classifier.probabilities(to_input(face, spec.input_range))
                          for face in faces])
        m = compute_metrics(probs, labels, spec.labels, to_mood)
        return m.accuracy, m.mood_accuracy

    direct = score(val.images[kept])
    print(f"{'crop':<22}{'7-class':>9}{'4-mood':>9}")
    print(f"{'48x48 as in the CSV':<22}{direct[0]:>9.2%}{direct[1]:>9.2%}")
    for margin in MARGINS:
        acc = score([crop_face(f, b, margin, est.classifier.side) for f, b in frames_boxes])
        print(f"{'margin ' + format(margin, '+.2f'):<22}{acc[0]:>9.2%}{acc[1]:>9.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
