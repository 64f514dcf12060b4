"""Rebuild the bundled demo frames from FER2013 (run from the repository root):

    python -m device.system.demo_frames.make_frames --data ../shared/data/fer2013/fer2013.csv.gz

Picks PublicTest faces on which the FER+ annotators agreed (>= 8 of 10 votes for the
expression), that OpenCV's Haar cascade finds once upscaled, and places each, 176 px
wide, on a 640x480 gradient "room" so the demo exercises the real detector on a whole
frame. File names sort in replay order: happy faces first, then sad, then angry and
neutral. Credits: see CREDITS.md in this folder.
"""

from __future__ import annotations

import argparse
import csv
import gzip
from pathlib import Path

import cv2
import numpy as np

from device.perception.detector import HaarFaceDetector

HERE = Path(__file__).resolve().parent
#: (FER2013 emotion code, FER+ vote column, how many frames) in replay order.
PLAN = (("happy", 3, "happiness", 4), ("sad", 4, "sadness", 4),
        ("angry", 0, "anger", 1), ("neutral", 6, "neutral", 1))
FACE_PX = 176


def background(seed: int) -> np.ndarray:
    """A soft vertical gradient with a little texture: a plain wall, not a flat colour."""
    rng = np.random.default_rng(seed)
    top, bottom = rng.uniform(150, 210), rng.uniform(70, 120)
    ramp = np.linspace(top, bottom, 480, dtype=np.float32)[:, None]
    img = np.repeat(ramp, 640, axis=1) + rng.normal(0, 1, (480, 640)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def place(face48: np.ndarray, seed: int) -> np.ndarray:
    frame = background(seed)
    face = cv2.resize(face48, (FACE_PX, FACE_PX), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed + 1)
    x = int(rng.integers(120, 640 - FACE_PX - 120))
    y = int(rng.integers(60, 480 - FACE_PX - 60))
    frame[y:y + FACE_PX, x:x + FACE_PX] = face
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/fer2013/fer2013.csv.gz")
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)

    detector = HaarFaceDetector()
    wanted = {code: (name, col, n) for name, code, col, n in PLAN}
    found: dict[str, list[np.ndarray]] = {name: [] for name, *_ in PLAN}
    opener = gzip.open if args.data.endswith(".gz") else open
    with opener(args.data, "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Usage"] != "PublicTest" or int(row["emotion"]) not in wanted:
                continue
            name, col, n = wanted[int(row["emotion"])]
            if len(found[name]) >= n or int(row.get(col) or 0) < 8:
                continue
            face = np.array(row["pixels"].split(), dtype=np.uint8).reshape(48, 48)
            frame = place(face, seed=len(found[name]) * 7 + int(row["emotion"]))
            if detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)):
                found[name].append(frame)
            if all(len(found[nm]) >= k for nm, _, _, k in PLAN):
                break
    out = Path(args.out)
    i = 0
    for name, *_ in PLAN:
        for frame in found[name]:
            i += 1
            path = out / f"{i:02d}_{name}.jpg"
            cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
            print(path, path.stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
