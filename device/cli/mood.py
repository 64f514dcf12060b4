"""``moodspeaker mood IMAGE...``: faces, mood and probabilities for still images."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2

from device.perception.estimator import MoodEstimator


def _face_dict(face) -> dict:
    return {
        "box": [face.box.x, face.box.y, face.box.w, face.box.h],
        "mood": face.mood,
        "confidence": round(face.confidence, 4),
        "mood_probs": {k: round(v, 4) for k, v in face.mood_probs.items()},
        "probs": {k: round(v, 4) for k, v in face.probs.items()},
    }


def _print_text(path: str, analysis) -> None:
    if not analysis.faces:
        print(f"{path}: no face found")
        return
    print(f"{path}: {len(analysis.faces)} face(s)")
    for i, face in enumerate(analysis.faces):
        b = face.box
        tag = "main" if i == 0 else f"face {i + 1}"
        probs = " ".join(f"{k} {v:.2f}" for k, v in face.probs.items())
        print(f"  {tag} at {b.x},{b.y} {b.w}x{b.h}: {face.mood} ({face.confidence:.2f})  [{probs}]")


def cmd_mood(args) -> int:
    estimator = MoodEstimator.from_models_dir(args.models, threads=1, runtime=args.runtime)
    failures = 0
    for path in args.images:
        frame = cv2.imread(path, cv2.IMREAD_GRAYSCALE) if Path(path).is_file() else None
        if frame is None:
            failures += 1
            reason = "no such file" if not Path(path).exists() else "not a readable image"
            if args.json:
                print(json.dumps({"image": path, "error": reason}), flush=True)
            print(f"moodspeaker: error: {path}: {reason}", file=sys.stderr)
            continue
        analysis = estimator.analyze(frame)
        if args.json:
            main = analysis.main
            print(json.dumps({
                "image": path,
                "width": int(frame.shape[1]),
                "height": int(frame.shape[0]),
                "mood": main.mood if main else "unknown",
                "confidence": round(main.confidence, 4) if main else 0.0,
                "faces": [_face_dict(f) for f in analysis.faces],
            }), flush=True)
        else:
            _print_text(path, analysis)
    return 1 if failures else 0
