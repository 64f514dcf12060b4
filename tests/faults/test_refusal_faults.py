"""Mistakes the speaker must refuse, through the real ``moodspeaker run`` in a subprocess:
corrupt models and a config with every kind of mistake. Each is one line naming the file
(and the key), exit 2, no traceback, and the journal recorded before is untouched."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest

from device.system.demo import FRAMES_DIR
from tests.conftest import MODELS
from tests.harness.faults import (
    assert_journal_intact,
    journal_rows,
    moodspeaker,
    write_config,
)
from tests.harness.libvlc import require_libvlc
from tests.harness.speaker import copy_clips

require_libvlc()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A state folder with listens in it, from one short real run (copied per test)."""
    root = tmp_path_factory.mktemp("recorded")
    lib = copy_clips(root / "music", per_genre=1)
    cfg = write_config(root / "config.toml", camera={"source": "none"},
                       library={"path": lib}, audio={"output": "dummy"},
                       state={"dir": root / "state"})
    proc = moodspeaker("run", "--config", str(cfg), "--seconds", "1.5")
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert_journal_intact(root / "state" / "journal.sqlite3")
    return root


@pytest.fixture
def state(recorded, tmp_path):
    shutil.copytree(recorded / "state", tmp_path / "state")
    return tmp_path / "state"


def _refused(proc: subprocess.Popen, state, recorded, names: str) -> str:
    """Exit 2, no traceback, one error line naming ``names``; the journal in ``state`` (a
    copy of ``recorded``'s) as it was."""
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("moodspeaker: error: ")]
    assert len(errors) == 1 and names in errors[0], err
    original = recorded / "state" / "journal.sqlite3"
    assert assert_journal_intact(state / "journal.sqlite3") == journal_rows(original)
    return errors[0]


# --- corrupt models ----------------------------------------------------------------------


def _models(tmp_path, name: str, mutate, *, rehash: bool):
    """A copy of the shipped models with ``name`` changed; ``rehash``: the manifest's hash
    changed with it (a file that passes the manifest and must still be refused)."""
    models = tmp_path / "models"
    shutil.copytree(MODELS, models)
    path = models / name
    path.write_bytes(mutate(path.read_bytes()))
    if rehash:
        manifest = json.loads((models / "manifest.json").read_text())
        entry = next(e for e in manifest.values() if isinstance(e, dict) and e.get("file") == name)
        entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        (models / "manifest.json").write_text(json.dumps(manifest))
    return models


def _flip(data: bytes, start: int, n: int = 64) -> bytes:
    return data[:start] + bytes(b ^ 0xFF for b in data[start:start + n]) + data[start + n:]


def _run_with_models(tmp_path, state, models) -> subprocess.Popen:
    lib = tmp_path / "music"
    copy_clips(lib, per_genre=1)
    cfg = write_config(tmp_path / "config.toml", models={"dir": models},
                       camera={"source": f"replay:{FRAMES_DIR}"}, library={"path": lib},
                       audio={"output": "dummy"}, state={"dir": state})
    return moodspeaker("run", "--config", str(cfg), "--seconds", "2")


def test_a_bit_flipped_fer_model_is_refused_by_its_hash(tmp_path, state, recorded):
    """corrupt model: bit-flipped fer_int8.tflite"""
    models = _models(tmp_path, "fer_int8.tflite", lambda d: _flip(d, len(d) // 2, 1),
                     rehash=False)
    line = _refused(_run_with_models(tmp_path, state, models), state, recorded,
                    f"{models / 'fer_int8.tflite'}: sha256")
    assert "does not match the manifest" in line


def test_a_bit_flipped_fer_model_with_a_matching_hash_is_refused_by_tflite(
        tmp_path, state, recorded):
    """corrupt model: fer_int8.tflite damaged, manifest hash updated to match"""
    models = _models(tmp_path, "fer_int8.tflite", lambda d: _flip(d, 4), rehash=True)
    line = _refused(_run_with_models(tmp_path, state, models), state, recorded,
                    f"{models / 'fer_int8.tflite'}: ")
    assert "not a usable TFLite model" in line


def test_a_corrupt_taste_model_is_refused(tmp_path, state, recorded):
    """corrupt model: taste.npz damaged, manifest hash updated to match (item 6)"""
    models = _models(tmp_path, "taste.npz", lambda d: _flip(d, len(d) // 2), rehash=True)
    line = _refused(_run_with_models(tmp_path, state, models), state, recorded,
                    f"{models / 'taste.npz'}: ")
    assert "not a usable taste model" in line


def test_a_manifest_that_is_not_json_is_refused(tmp_path, state, recorded):
    """corrupt model: manifest.json that is not JSON"""
    models = _models(tmp_path, "manifest.json", lambda d: d[: len(d) // 3], rehash=False)
    line = _refused(_run_with_models(tmp_path, state, models), state, recorded,
                    f"{models / 'manifest.json'}: ")
    assert "invalid JSON" in line


# --- config mistakes ---------------------------------------------------------------------

MISTAKES = {  # what is wrong: (TOML put before a valid config, what the message names)
    "unknown section": ("[speaker]\nvolume = 50\n", "[speaker]: unknown section"),
    "unknown key": ('[camera]\nsorce = "picamera2"\n', "camera.sorce: unknown key"),
    "wrong type": ('[camera]\nfps = "fast"\n', "camera.fps: expected a number"),
    "section not a table": ("picker = 3\n", "[picker]: must be a table"),
    "out of range": ("[audio]\nvolume = 101\n", "audio.volume: 101 is out of range"),
    "bad camera source": ('[camera]\nsource = "webcam"\n', "camera.source: 'webcam'"),
    "bad audio output": ('[audio]\noutput = "speakers"\n', "audio.output: 'speakers'"),
    "bad mqtt device id": ('[mqtt]\nhost = "localhost"\ndevice_id = "a/b"\n',
                           "mqtt.device_id: 'a/b'"),
    "not TOML": ("[journal\nposition_interval_s = 1\n", "invalid TOML"),
}


def test_a_config_with_every_kind_of_mistake_is_refused_key_by_key(tmp_path, state, recorded):
    """config with every kind of mistake (9 kinds, each through the CLI)"""
    lib = copy_clips(tmp_path / "music", per_genre=1)
    runs = {}
    for what, (toml, _) in MISTAKES.items():
        path = tmp_path / f"{what.replace(' ', '_')}.toml"
        path.write_text(f'{toml}[state]\ndir = "{state}"\n[library]\npath = "{lib}"\n')
        runs[what] = (path, moodspeaker("run", "--config", str(path), "--seconds", "1"))
    for what, (path, proc) in runs.items():
        line = _refused(proc, state, recorded, MISTAKES[what][1])
        assert line.startswith(f"moodspeaker: error: {path}: "), (what, line)
