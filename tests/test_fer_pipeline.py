"""Seconds-long training smoke test: train -> int8 TFLite -> report -> manifest -> device.

Uses a synthetic, easily learnable FER-layout CSV so the whole path runs in seconds; the
real model's quality is measured by ``moodspeaker-train fer evaluate`` (see docs/fer.md,
"Results (FER2013 PublicTest, 3,579 faces)").
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from device.perception.estimator import MoodEstimator
from device.shared.fer_classifier import FerClassifier
from device.shared.manifest import ManifestError, load_manifest
from tests.conftest import synthetic_faces, write_fer_csv
from trainer.cli import main as train_main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("fer")
    images, labels = synthetic_faces(500, seed=3)
    rows = [(int(lab), img, "PublicTest" if i % 5 == 0 else "Training", None)
            for i, (img, lab) in enumerate(zip(images, labels, strict=True))]
    csv_path = write_fer_csv(root / "fer.csv", rows, ["0,1 2 3,Training"])
    out, ckpt = root / "models", root / "ckpt"
    args = ["fer", "train", "--data", str(csv_path), "--out", str(out), "--checkpoint-dir",
            str(ckpt), "--arch", "tiny", "--epochs", "6", "--batch-size", "16", "--no-augment",
            "--learning-rate", "0.01"]
    assert train_main(args) == 0
    return root, out, ckpt, csv_path, args


def test_train_exports_valid_int8_model_and_manifest(exported):
    _, out, ckpt, _csv_path, _ = exported
    entry = json.loads((out / "manifest.json").read_text())["fer"]
    assert entry["file"] == "fer_int8.tflite"
    assert entry["input_shape"] == [1, 48, 48, 1]
    assert entry["input_range"] == [0.0, 1.0]
    assert entry["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert set(entry["moods"].values()) <= {"happy", "sad", "angry", "neutral", None}
    assert entry["training_data"]["bad_rows"] == 1
    assert len(entry["training_data"]["sha256"]) == 64
    metrics = entry["metrics"]
    # the synthetic task is easy: both variants learn it, and int8 tracks float closely
    assert metrics["float"]["accuracy"] > 0.5  # chance is 1/7
    assert abs(metrics["float"]["accuracy"] - metrics["int8"]["accuracy"]) < 0.05
    spec = load_manifest(out).fer
    # the validation confusion the taste build spreads camera moods with (issue 23)
    assert np.asarray(spec.mood_confusion).shape == (4, 4)
    assert np.asarray(spec.mood_confusion).sum() == metrics["int8"]["mood_faces"]
    classifier = FerClassifier(spec)
    assert classifier.model.input_quant.dtype == np.int8
    assert classifier.model.output_quant.dtype == np.int8
    assert classifier.model.input_quant.scale == pytest.approx(1 / 255, rel=1e-3)
    report = out / "fer_report"
    for name in ("report.md", "curves.png", "confusion_int8.png", "confusion_int8_moods.png",
                 "fer_float.tflite"):
        assert (report / name).is_file(), name
    assert "4-mood accuracy" in (report / "report.md").read_text()
    assert (ckpt / "history.csv").read_text().count("\n") == 7  # header + 6 epochs


def test_rerun_resumes_finished_run_without_training(exported, capsys):
    _, _out, ckpt, _, args = exported
    before = (ckpt / "history.csv").read_text()
    assert train_main(args) == 0
    assert (ckpt / "history.csv").read_text() == before


def test_evaluate_command_writes_json(exported, tmp_path):
    _, out, _, csv_path, _ = exported
    result = tmp_path / "eval.json"
    assert train_main(["fer", "evaluate", "--model", str(out / "fer_int8.tflite"), "--data",
                       str(csv_path), "--split", "PublicTest", "--json", str(result)]) == 0
    metrics = json.loads(result.read_text())
    assert metrics["n"] == 100 and len(metrics["confusion"]) == 7
    assert metrics["accuracy"] == pytest.approx(
        json.loads((out / "manifest.json").read_text())["fer"]["metrics"]["int8"]["accuracy"])


@pytest.fixture
def model_copy(exported, tmp_path):
    _, out, _, _, _ = exported
    copy = tmp_path / "models"
    shutil.copytree(out, copy)
    return copy


def _edit_manifest(directory, **changes):
    path = directory / "manifest.json"
    raw = json.loads(path.read_text())
    raw["fer"].update(changes)
    path.write_text(json.dumps(raw))


def test_device_refuses_corrupt_model(model_copy):
    model = model_copy / "fer_int8.tflite"
    model.write_bytes(model.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ManifestError, match=r"sha256 .* does not match"):
        MoodEstimator.from_models_dir(model_copy)


def test_device_refuses_missing_file(model_copy):
    (model_copy / "fer_int8.tflite").unlink()
    with pytest.raises(ManifestError, match="missing"):
        MoodEstimator.from_models_dir(model_copy)


def test_device_refuses_shape_mismatch(model_copy):
    _edit_manifest(model_copy, input_shape=[1, 64, 64, 1])
    with pytest.raises(ManifestError, match="input shape"):
        MoodEstimator.from_models_dir(model_copy)


def test_device_refuses_label_count_mismatch(model_copy):
    _edit_manifest(model_copy, labels=["happy", "sad", "angry", "neutral"],
                   moods={"happy": "happy"})
    with pytest.raises(ManifestError, match="7 outputs but the manifest names 4 labels"):
        MoodEstimator.from_models_dir(model_copy)


def test_device_refuses_malformed_manifest(model_copy):
    (model_copy / "manifest.json").write_text('{"fer": {"file": "x",\n "sha256": }')
    with pytest.raises(ManifestError, match="line 2: invalid JSON"):
        MoodEstimator.from_models_dir(model_copy)
    (model_copy / "manifest.json").write_text('{"fer": {"file": "x"}}')
    with pytest.raises(ManifestError, match="missing key 'input_shape'"):
        MoodEstimator.from_models_dir(model_copy)


def test_cli_reports_bad_model_without_traceback(model_copy, capsys):
    from device.cli import main

    (model_copy / "fer_int8.tflite").write_bytes(b"not a model")
    assert main(["mood", "--models", str(model_copy), "x.png"]) == 2
    err = capsys.readouterr().err
    assert "moodspeaker: error:" in err and "sha256" in err and "Traceback" not in err


def test_augmenter_keeps_targets_and_range():
    from trainer.fer.train import _augmenter

    images, _ = synthetic_faces(16, seed=5)
    x = images[..., None]
    y = np.eye(7, dtype=np.float32)[np.arange(16) % 7]
    w = np.ones(16, np.float32)
    xa, ya, wa = (np.asarray(t) for t in _augmenter(seed=1)(x, y, w))
    assert xa.shape == (16, 48, 48, 1) and xa.dtype == np.float32
    assert xa.min() >= 0.0 and xa.max() <= 1.0
    np.testing.assert_array_equal(ya, y)
    np.testing.assert_array_equal(wa, w)
    assert not np.allclose(xa, x / 255.0)  # something was changed


def test_augment_strength_zero_only_mirrors():
    from trainer.fer.train import _augmenter

    images, _ = synthetic_faces(32, seed=6)
    x = images[..., None]
    y, w = np.eye(7, dtype=np.float32)[np.arange(32) % 7], np.ones(32, np.float32)
    xa = np.asarray(_augmenter(seed=2, strength=0.0)(x, y, w)[0])
    plain, mirrored = x / 255.0, x[:, :, ::-1] / 255.0
    same = [np.allclose(a, p, atol=1e-6) for a, p in zip(xa, plain, strict=True)]
    flipped = [np.allclose(a, m, atol=1e-6) for a, m in zip(xa, mirrored, strict=True)]
    assert all(s or f for s, f in zip(same, flipped, strict=True))
    assert any(flipped) and any(same)


def test_exported_model_averages_the_mirrored_face(exported):
    """With the test-time flip built in, a face and its mirror image score the same."""
    _, out, _, _, _ = exported
    classifier = FerClassifier(load_manifest(out).fer)
    images, _ = synthetic_faces(8, seed=11)
    images[:, :, :20] //= 2  # make the faces asymmetric
    for face in images:
        a = classifier.probabilities(face[None, :, :, None] / 255.0)
        b = classifier.probabilities(face[None, :, ::-1, None] / 255.0)
        np.testing.assert_allclose(a, b, atol=2 / 256)


def test_fine_tune_with_mood_loss_selects_on_mood_accuracy(exported, tmp_path):
    _root, _out, ckpt, csv_path, _ = exported
    out, run = tmp_path / "models", tmp_path / "ft"
    args = ["fer", "train", "--data", str(csv_path), "--out", str(out), "--checkpoint-dir",
            str(run), "--arch", "tiny", "--epochs", "2", "--batch-size", "16", "--no-augment",
            "--learning-rate", "0.001", "--init", str(ckpt / "best.keras"), "--mood-loss", "1",
            "--select-on", "mood_accuracy"]  # fmt: skip
    assert train_main(args) == 0
    state = json.loads((run / "state.json").read_text())
    assert state["config"]["mood_loss"] == 1.0 and state["config"]["select_on"] == "mood_accuracy"
    history = (run / "history.csv").read_text().splitlines()
    assert "val_mood_accuracy" in history[0].split(",") and len(history) == 3
    best = max(float(line.split(",")[-1]) for line in history[1:])
    assert state["best"] == pytest.approx(best, abs=1e-5)
    # started from the trained weights: its first epoch is far ahead of the scratch run's
    scratch = (ckpt / "history.csv").read_text().splitlines()
    first = dict(zip(history[0].split(","), history[1].split(","), strict=True))
    first_scratch = dict(zip(scratch[0].split(","), scratch[1].split(","), strict=True))
    assert float(first["accuracy"]) > float(first_scratch["accuracy"]) + 0.2
    assert load_manifest(out).fer is not None
    entry = json.loads((out / "manifest.json").read_text())["fer"]
    assert [st["epochs_run"] for st in entry["train_stages"]] == [6, 2]
    report = (out / "fer_report" / "report.md").read_text()
    assert "**stage 1**" in report and "**stage 2**" in report


@pytest.mark.parametrize("option", ["--init", "--teacher"])
def test_a_missing_checkpoint_is_named(exported, tmp_path, capsys, option):
    _, _, _, csv_path, _ = exported
    args = ["fer", "train", "--data", str(csv_path), "--out", str(tmp_path / "m"),
            "--checkpoint-dir", str(tmp_path / "r"), "--arch", "tiny", "--epochs", "1",
            option, str(tmp_path / "nope.keras")]  # fmt: skip
    assert train_main(args) != 0
    assert f"{option} {tmp_path / 'nope.keras'}: no such checkpoint" in capsys.readouterr().err


def test_random_erasing_blanks_a_patch_of_some_faces():
    from trainer.fer.train import _augmenter

    x = np.full((64, 48, 48, 1), 128, np.uint8)  # flat faces: a mirror leaves them as they are
    y, w = np.eye(7, dtype=np.float32)[np.arange(64) % 7], np.ones(64, np.float32)
    xa, ya, _ = (np.asarray(t) for t in _augmenter(seed=3, strength=0.0, erasing=1.0)(x, y, w))
    changed = (np.abs(xa - 128 / 255) > 1e-3).mean(axis=(1, 2, 3))
    assert xa.min() >= 0.0 and xa.max() <= 1.0
    assert (changed > 0).sum() >= 8  # some faces lost a patch ...
    assert changed.max() < 0.5  # ... a patch, not the face
    np.testing.assert_array_equal(ya, y)
    plain = (np.asarray(_augmenter(seed=3, strength=0.0)(x, y, w)[0]))
    np.testing.assert_allclose(plain, x / 255.0, atol=1e-6)


def _flip_averaged_softmax(model, x):
    both = (model.predict(x, verbose=0), model.predict(x[:, :, ::-1], verbose=0))
    # the distiller averages logits; the softmax of mean log-probs is the same thing
    logits = (np.log(both[0]) + np.log(both[1])) / 2
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_distiller_mixes_the_teachers_flip_averaged_prediction(exported):
    import keras

    from trainer.fer.train import TrainConfig, _distiller

    _, _, ckpt, _, _ = exported
    teacher = str(ckpt / "best.keras")
    images, _ = synthetic_faces(8, seed=12)
    images[:, :, :20] //= 2
    x = (images[..., None] / 255.0).astype(np.float32)
    y, w = np.eye(7, dtype=np.float32)[np.arange(8) % 7], np.ones(8, np.float32)
    expected = _flip_averaged_softmax(keras.models.load_model(teacher, compile=False), x)

    only_teacher = _distiller(TrainConfig(teacher=teacher, teacher_weight=1.0))(x, y, w)[1]
    np.testing.assert_allclose(np.asarray(only_teacher), expected, atol=1e-4)
    half = np.asarray(_distiller(TrainConfig(teacher=teacher, teacher_weight=0.5))(x, y, w)[1])
    np.testing.assert_allclose(half, 0.5 * y + 0.5 * expected, atol=1e-4)
    soft = np.asarray(_distiller(TrainConfig(teacher=teacher, teacher_weight=1.0,
                                             teacher_temperature=3.0))(x, y, w)[1])
    assert (soft.max(axis=1) < np.asarray(only_teacher).max(axis=1) + 1e-6).all()
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-5)


def test_an_ensemble_of_teachers_gives_the_mean_of_their_distributions(exported, tmp_path):
    import keras

    from trainer.fer.train import TrainConfig, _distiller

    _, _, ckpt, _, _ = exported
    first = str(ckpt / "best.keras")
    other = keras.models.load_model(first, compile=False)
    head = other.get_layer("probs")
    kernel, bias = head.get_weights()
    head.set_weights([kernel[:, ::-1] * 0.5, bias[::-1]])  # a clearly different teacher
    second = str(tmp_path / "other.keras")
    other.save(second)
    images, _ = synthetic_faces(8, seed=13)
    x = (images[..., None] / 255.0).astype(np.float32)
    y, w = np.eye(7, dtype=np.float32)[np.arange(8) % 7], np.ones(8, np.float32)

    p1 = _flip_averaged_softmax(keras.models.load_model(first, compile=False), x)
    p2 = _flip_averaged_softmax(other, x)
    assert np.abs(p1 - p2).max() > 0.05
    both = _distiller(TrainConfig(teacher=[first, second], teacher_weight=1.0))(x, y, w)[1]
    np.testing.assert_allclose(np.asarray(both), (p1 + p2) / 2, atol=1e-4)


def test_distilled_run_records_its_teacher(exported, tmp_path):
    _root, _out, ckpt, csv_path, _ = exported
    run = tmp_path / "kd"
    args = ["fer", "train", "--data", str(csv_path), "--out", str(tmp_path / "m"),
            "--checkpoint-dir", str(run), "--arch", "tiny", "--epochs", "1", "--batch-size",
            "16", "--random-erasing", "0.5", "--teacher", str(ckpt / "best.keras"),
            "--teacher-weight", "0.7"]  # fmt: skip
    assert train_main(args) == 0
    config = json.loads((run / "state.json").read_text())["config"]
    assert config["teacher"] == [str(ckpt / "best.keras")] and config["teacher_weight"] == 0.7
    assert config["random_erasing"] == 0.5


def test_a_run_recorded_with_one_teacher_path_still_resumes(exported, tmp_path):
    """Runs saved before ensembles of teachers stored the teacher as a plain path."""
    from trainer.fer.train import TrainConfig, _RunState

    teacher = str(exported[2] / "best.keras")
    cfg = TrainConfig(teacher=[teacher])
    state = _RunState(tmp_path, cfg)
    state.epoch = 3
    state.save()
    saved = json.loads((tmp_path / "state.json").read_text())
    saved["config"]["teacher"] = teacher
    (tmp_path / "state.json").write_text(json.dumps(saved))
    assert _RunState(tmp_path, cfg).epoch == 3
    with pytest.raises(SystemExit, match="different configuration"):
        _RunState(tmp_path, TrainConfig(teacher=[teacher, teacher]))


def test_random_erasing_without_augmentation_is_refused(exported, tmp_path, capsys):
    _, _, _, csv_path, _ = exported
    args = ["fer", "train", "--data", str(csv_path), "--out", str(tmp_path / "m"),
            "--checkpoint-dir", str(tmp_path / "r"), "--arch", "tiny", "--epochs", "1",
            "--no-augment", "--random-erasing", "0.3"]  # fmt: skip
    assert train_main(args) != 0
    err = capsys.readouterr().err
    assert "--random-erasing is augmentation" in err and "Traceback" not in err


def test_a_negative_disputed_weight_is_refused(exported, tmp_path, capsys):
    _, _, _, csv_path, _ = exported
    args = ["fer", "train", "--data", str(csv_path), "--out", str(tmp_path / "m"),
            "--checkpoint-dir", str(tmp_path / "r"), "--arch", "tiny", "--epochs", "1",
            "--disputed-weight", "-1"]  # fmt: skip
    assert train_main(args) != 0
    err = capsys.readouterr().err
    assert "--disputed-weight must be >= 0" in err and "Traceback" not in err
