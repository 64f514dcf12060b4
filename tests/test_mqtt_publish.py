"""``moodspeaker-train publish`` against a real Mosquitto and a device-side stand-in.

The stand-in plays the speaker's part of the protocol only (collect chunks, check sizes and
sha256, answer on models/result); installing and reloading are the speaker's own receiver's
job (device/mqtt/model_receiver.py) and its tests. The files sent are the shipped models.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading

import pytest

from device.shared.mqtt_client import connect, make_client
from device.shared.mqtt_protocol import (
    Result,
    Topics,
    decode_begin,
    decode_commit,
    encode_result,
)
from tests.conftest import MODELS
from trainer.cli import main as train_main


class StandInDevice:
    """Receives a delivery and answers ok if every file arrived whole, or ``refuse``."""

    def __init__(self, broker, device: str = "kitchen", refuse: str | None = None):
        self.topics = Topics(device)
        self.refuse = refuse
        self.begins = []
        self.files: dict[str, bytes] = {}
        self.chunks: dict[tuple[int, int], bytes] = {}
        ready = threading.Event()
        settings = broker.settings()

        def on_connect(c, u, f, rc, p):
            c.subscribe([(self.topics.models_begin, 1), (self.topics.models_chunk_filter, 1),
                         (self.topics.models_commit, 1)])
            c.publish(self.topics.availability, "online", qos=1, retain=True)

        def build():
            c = make_client(settings, device,
                            will=(self.topics.availability, "offline", 1, True))
            c.on_connect = on_connect
            c.on_subscribe = lambda *_: ready.set()
            c.on_message = self.on_message
            return c

        self.client = connect(build(), settings, timeout=5)
        assert ready.wait(5)

    def on_message(self, client, userdata, msg) -> None:
        if msg.topic == self.topics.models_begin:
            self.begins.append(decode_begin(msg.payload))
            self.chunks.clear()
        elif msg.topic == self.topics.models_commit:
            begin = self.begins[-1]
            assert decode_commit(msg.payload) == begin.transfer
            error = self.refuse
            for i, f in enumerate(begin.files):
                data = b"".join(self.chunks.get((i, k), b"") for k in range(f.chunks))
                if len(data) != f.size or hashlib.sha256(data).hexdigest() != f.sha256:
                    error = error or f"{f.name}: incomplete or corrupt"
                self.files[f.name] = data
            result = Result(begin.transfer, error is None, error,
                            [] if error else [f.name for f in begin.files])
            client.publish(self.topics.models_result, encode_result(result), qos=1)
        else:
            transfer, fi, ci = self.topics.parse_chunk_topic(msg.topic)
            assert transfer == self.begins[-1].transfer
            self.chunks[(fi, ci)] = msg.payload

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def models(tmp_path):
    out = tmp_path / "models"
    out.mkdir()
    shutil.copy(MODELS / "manifest.json", out)
    for section in json.loads((MODELS / "manifest.json").read_text()).values():
        if isinstance(section, dict) and "file" in section:
            shutil.copy(MODELS / section["file"], out)
    return out


def _publish(broker, models, *extra: str) -> int:
    return train_main(["publish", "--host", broker.host, "--port", str(broker.port),
                       "--device", "kitchen", "--models", str(models), *extra])


def test_publish_delivers_every_file(mqtt_broker, models, capsys):
    device = StandInDevice(mqtt_broker)
    try:
        assert _publish(mqtt_broker, models, "--timeout", "10") == 0
    finally:
        device.close()
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] is True and out["error"] is None
    declared = [v["file"] for v in json.loads((models / "manifest.json").read_text()).values()
                if isinstance(v, dict) and "file" in v]
    assert sorted(out["files"]) == sorted(["manifest.json", *declared])
    for name in out["files"]:
        assert device.files[name] == (models / name).read_bytes()
    (begin,) = device.begins
    assert begin.chunk_size == 65536
    assert {f.name: f.chunks for f in begin.files}["fer_int8.tflite"] == -(
        -(models / "fer_int8.tflite").stat().st_size // 65536)


def test_publish_chosen_files_and_small_chunks(mqtt_broker, models, capsys):
    device = StandInDevice(mqtt_broker)
    try:
        code = _publish(mqtt_broker, models, "--files", "taste.npz", "--chunk-size", "1000",
                        "--timeout", "10")
    finally:
        device.close()
    assert code == 0
    (begin,) = device.begins
    assert [f.name for f in begin.files] == ["manifest.json", "taste.npz"]
    assert device.files["taste.npz"] == (models / "taste.npz").read_bytes()
    assert json.loads(capsys.readouterr().out.strip())["ok"] is True


def test_publish_reports_a_refusal(mqtt_broker, models, capsys):
    device = StandInDevice(mqtt_broker, refuse="fer_int8.tflite: model does not load")
    try:
        assert _publish(mqtt_broker, models, "--timeout", "10") == 1
    finally:
        device.close()
    out = json.loads(capsys.readouterr().out.strip())
    assert out == {"device": "kitchen", "transfer": device.begins[0].transfer, "ok": False,
                   "error": "fer_int8.tflite: model does not load", "files": []}


def test_publish_waits_for_the_device_and_times_out_without_one(mqtt_broker, models, capsys):
    assert _publish(mqtt_broker, models, "--timeout", "1.5") == 1
    out = json.loads(capsys.readouterr().out.strip())
    assert out["ok"] is False and "kitchen did not come online within 1.5 s" in out["error"]
    assert "(it never announced itself); nothing was sent" in out["error"]


def test_publish_refuses_files_that_do_not_match_the_manifest(mqtt_broker, models, capsys):
    device = StandInDevice(mqtt_broker)
    try:
        with open(models / "taste.npz", "ab") as fh:
            fh.write(b"x")
        assert _publish(mqtt_broker, models) == 2
        err = capsys.readouterr().err
        assert "taste.npz: sha256" in err and "does not match the manifest" in err
        assert _publish(mqtt_broker, models, "--files", "../etc/passwd") == 2
        assert "not a plain file name" in capsys.readouterr().err
        assert _publish(mqtt_broker, models, "--files", "music.tflite") == 2
        assert "does not name music.tflite" in capsys.readouterr().err
        (models / "manifest.json").write_text("{not json")
        assert _publish(mqtt_broker, models) == 2
        assert "manifest.json: cannot read" in capsys.readouterr().err
    finally:
        device.close()
    assert device.begins == []  # nothing was sent
