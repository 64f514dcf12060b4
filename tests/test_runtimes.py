"""The committed int8 model gives the same top-1 on every TFLite runtime.

The runtimes ship different int8 kernels (requantization rounding differs between
tflite-runtime 2.14, TensorFlow and LiteRT), so the int8 logits may differ by a step or two
of the output scale. The top-1 must agree on every face whose decision is not a near-tie
(top-two margin above 2 output steps), and on at least 98 % of all faces.

tflite-runtime 2.14 needs numpy<2, so it runs in its own venv (``.venv-tflite``, made by
``bootstrap.sh test``), named by $MOODSPEAKER_TFLITE_RUNTIME_PYTHON.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from device.shared.fer_input import to_input
from device.shared.manifest import load_manifest
from device.shared.tflite import TFLiteModel, available_runtimes
from tests.conftest import MODELS, REPO
from trainer.fer.dataset import load_fer_csv

N_FACES = 300

TOP1_SCRIPT = """
import json, sys
import numpy as np
from device.shared.tflite import TFLiteModel
from device.shared.fer_input import to_input
faces = np.load(sys.argv[1])
model = TFLiteModel(sys.argv[2], threads=1, runtime="tflite_runtime")
lo, hi = float(sys.argv[3]), float(sys.argv[4])
print(json.dumps([model.run(to_input(f, (lo, hi)))[0].tolist() for f in faces]))
"""
NEAR_TIE_STEPS = 2


@pytest.fixture(scope="module")
def faces(fer_csv):
    return load_fer_csv(fer_csv, ("PublicTest",)).images[:N_FACES]


def _outputs(runtime: str, faces, spec) -> np.ndarray:
    model = TFLiteModel(spec.path, threads=1, runtime=runtime)
    return np.stack([model.run(to_input(f, spec.input_range))[0] for f in faces])


def _assert_same_decisions(theirs: np.ndarray, ours: np.ndarray, step: float) -> None:
    top2 = np.sort(ours, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > NEAR_TIE_STEPS * step * 1.001
    agree = theirs.argmax(axis=1) == ours.argmax(axis=1)
    assert clear.mean() > 0.8  # most decisions are clear, so the check has teeth
    assert agree[clear].all(), np.flatnonzero(clear & ~agree)
    assert agree.mean() >= 0.98


def test_runtime_order_prefers_litert():
    assert available_runtimes()[0] == "ai_edge_litert"


# the fallback runtime is deprecated upstream, which is why it comes last
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_tensorflow_lite_matches_litert(faces):
    spec = load_manifest(MODELS).fer
    if "tensorflow" not in available_runtimes():
        pytest.skip("tensorflow is not installed (trainer extra)")
    step = TFLiteModel(spec.path).output_quant.scale
    _assert_same_decisions(_outputs("tensorflow", faces, spec),
                           _outputs("ai_edge_litert", faces, spec), step)


def test_tflite_runtime_matches_litert(faces, tmp_path):
    python = os.environ.get("MOODSPEAKER_TFLITE_RUNTIME_PYTHON",
                            str(REPO / ".venv-tflite" / "bin" / "python"))
    if not Path(python).exists():
        pytest.skip(f"no tflite-runtime venv at {python} (bash bootstrap.sh test makes it)")
    spec = load_manifest(MODELS).fer
    np.save(tmp_path / "faces.npy", faces)
    lo, hi = spec.input_range
    out = subprocess.run(
        [python, "-c", TOP1_SCRIPT, str(tmp_path / "faces.npy"), str(spec.path), str(lo), str(hi)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True,
    )
    theirs = np.array(json.loads(out.stdout.strip().splitlines()[-1]))
    step = TFLiteModel(spec.path).output_quant.scale
    _assert_same_decisions(theirs, _outputs("ai_edge_litert", faces, spec), step)
