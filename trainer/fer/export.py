"""Export a trained Keras FER model: int8 TFLite, evaluation, report, manifest entry."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from device.shared.manifest import FerSpec, file_sha256, write_entry
from device.shared.moods import MOODS

from . import quantize
from .dataset import FER_LABELS, FerData
from .evaluate import predict
from .metrics import FerMetrics, compute_metrics
from .report import write_report

log = logging.getLogger(__name__)

MODEL_FILE = "fer_int8.tflite"
#: Pixel 0 -> 0.0 and 255 -> 1.0: the int8 input then quantizes pixels exactly (q = p - 128).
INPUT_RANGE = (0.0, 1.0)
#: FER2013 label -> product mood. Disgust is a high-arousal negative face, closest to
#: angry. Fear and surprise have no mood of their own and are left out of the mood vote:
#: measured on PublicTest with the shipped int8 model, fear -> sad gave 76.21 % 4-mood
#: accuracy, fear -> angry 74.60 %, fear left out 77.16 %; surprise -> happy 76.86 %,
#: -> neutral 76.09 % (the Training split ranks them the same).
DEFAULT_MOODS: dict[str, str | None] = {
    "angry": "angry", "disgust": "angry", "fear": None, "happy": "happy",
    "sad": "sad", "surprise": None, "neutral": "neutral",
}


def logits_model(model):
    """The same network without its final softmax.

    The device applies the softmax in float: int8 softmax kernels differ between TFLite
    runtimes (up to 20/256 on the same input, enough to flip near-ties) and resolve
    probabilities only in steps of 1/256, too coarse for smoothing and confidences.
    """
    import keras  # heavy (TensorFlow, ~7 s): only training and export need it

    head = model.get_layer("probs")
    linear = keras.layers.Dense(head.units, name="logits")
    logits = linear(head.input)
    linear.set_weights(head.get_weights())
    return keras.Model(model.input, logits, name=model.name)


def with_flip_average(model):
    """Wrap ``model`` so it also sees the mirrored face and averages both outputs.

    Test-time flip: faces are near-symmetric but the classifier is not, and averaging the
    two views removes some of its left/right noise. Both views run as one batch of two,
    so the weights are stored once and the int8 file barely grows.
    """
    import keras  # heavy (TensorFlow, ~7 s): only training and export need it

    face = keras.Input(model.input_shape[1:], name="face")
    both = keras.ops.concatenate([face, keras.ops.flip(face, axis=2)], axis=0)
    out = model(both, training=False)
    n = model.output_shape[-1]
    mean = keras.ops.mean(keras.ops.reshape(out, (2, -1, n)), axis=0)
    return keras.Model(face, mean, name=f"{model.name}_flip_average")


def _portable(config: dict) -> dict:
    """The config with the home directory written as ``~`` (it goes into the manifest)."""
    home = str(Path.home())
    return {k: "~" + v[len(home):] if isinstance(v, str) and v.startswith(home + "/") else v
            for k, v in config.items()}  # fmt: skip


def _stages_entry(stages: list) -> dict:
    if len(stages) < 2:
        return {}
    return {"train_stages": [
        {"config": _portable(st.config), "epochs_run": st.epochs, "best_epoch": st.best_epoch,
         "used_epoch": st.used_epoch}
        for st in stages
    ]}  # fmt: skip


def fer_spec(path: Path, moods: dict[str, str | None] | None = None) -> FerSpec:
    """The spec the device would read for a freshly exported model (for evaluation)."""
    return FerSpec(
        path=path, sha256="", input_shape=(1, 48, 48, 1), input_range=INPUT_RANGE,
        labels=FER_LABELS, moods=dict(moods or DEFAULT_MOODS), output="logits",
    )


def evaluate_file(path: Path, data: FerData, spec: FerSpec, runtime: str | None = None
                  ) -> FerMetrics:
    probs = predict(replace(spec, path=path), data, runtime=runtime, progress=True)
    return compute_metrics(probs, data.labels, spec.labels, spec.label_to_mood_matrix())


def export(
    model,
    data: FerData,
    data_path: Path,
    out_dir: Path,
    history: dict[str, list[float]],
    train_config: dict,
    report_dir: Path | None = None,
    flip_average: bool = True,
    stages: list | None = None,
) -> dict:
    """Write ``out_dir/fer_int8.tflite`` and its manifest entry; return the entry.

    ``stages`` (``train.run_lineage``): the runs this model came from, oldest first, when
    it was fine-tuned from an earlier run.
    """
    stages = stages or []
    out_dir.mkdir(parents=True, exist_ok=True)
    report_dir = report_dir or out_dir / "fer_report"
    report_dir.mkdir(parents=True, exist_ok=True)
    train, val = data.split("Training"), data.split("PublicTest")
    representative = train.images[..., None].astype(np.float32) / 255.0
    params = int(model.count_params())
    model = logits_model(model)
    if flip_average:
        model = with_flip_average(model)

    float_path = quantize.write(quantize.to_float_tflite(model), report_dir / "fer_float.tflite")
    int8_path = quantize.write(quantize.to_int8_tflite(model, representative),
                               out_dir / MODEL_FILE)
    spec = fer_spec(int8_path)
    results = {
        "float": evaluate_file(float_path, val, spec),
        "int8": evaluate_file(int8_path, val, spec),
    }
    for name, m in results.items():
        log.info("%s on PublicTest: 7-class %.4f, 4-mood %.4f", name, m.accuracy, m.mood_accuracy)
    size = int8_path.stat().st_size
    summary = {
        "architecture": f"{train_config.get('arch')} ({params:,} parameters)"
                        + (", test-time flip average" if flip_average else ""),
        "int8 file": f"{MODEL_FILE}, {size / 1024:.0f} KiB",
        "training data": f"{data_path.name}, {len(train)} Training faces; "
                         f"evaluated on {len(val)} PublicTest faces",
        "epochs run": str(len(history.get("epoch", []))),
        "config": ", ".join(f"{k}={v}" for k, v in train_config.items()),
    }
    if len(stages) > 1:
        del summary["config"]
        for i, st in enumerate(stages, 1):
            config = ", ".join(f"{k}={v}" for k, v in _portable(st.config).items())
            last = st.first_epoch + st.used_epoch - 1
            which = "best" if st.used_epoch == st.best_epoch else "last"
            summary[f"stage {i}"] = (
                f"epochs {st.first_epoch}-{last} ({which} of {st.epochs} run): {config}"
            )
    starts = [st.first_epoch for st in stages[1:]]
    write_report(report_dir, "FER model report", summary, results, FER_LABELS, history, starts)
    entry = {
        "file": MODEL_FILE,
        "sha256": file_sha256(int8_path),
        "input_shape": list(spec.input_shape),
        "input_range": list(spec.input_range),
        "labels": list(spec.labels),
        "moods": spec.moods,
        "output": spec.output,
        "architecture": train_config.get("arch"),
        "parameters": params,
        "flip_average": flip_average,
        "size_bytes": size,
        "training_data": {
            "file": data_path.name,
            "sha256": file_sha256(data_path),
            "rows": len(data),
            "bad_rows": len(data.bad_rows),
        },
        "train_config": _portable(train_config),
        **_stages_entry(stages),
        "metrics": {
            "split": "PublicTest",
            **{
                name: {"accuracy": round(m.accuracy, 4), "mood_accuracy": round(m.mood_accuracy, 4),
                       "faces": m.n, "mood_faces": m.n_mood}
                for name, m in results.items()
            },
        },
        # what the taste build needs to spread a camera mood over the true ones
        "mood_confusion": results["int8"].mood_confusion,
        "mood_confusion_info": {
            "split": "PublicTest", "model": "int8", "faces": results["int8"].n_mood,
            "rows": "true mood", "columns": "predicted mood", "order": list(MOODS),
        },
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_entry(out_dir, "fer", entry)
    return entry
