"""Config: defaults for every key, clear messages naming the key, state dir rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.shared.errors import UserError
from device.system.config import ConfigError, config_from_dict, default_state_dir, load_config


def test_defaults_without_a_file(tmp_path):
    cfg = config_from_dict({})
    assert cfg.camera.source == "picamera2" and cfg.camera.fps == 2.0
    assert cfg.audio.output == "default" and cfg.user.active == "default"
    assert cfg.camera.debug_snapshots is False
    assert cfg.journal_path.name == "journal.sqlite3"
    assert (cfg.models.dir / "..").exists()


def test_full_file_parses_and_resolves_relative_paths(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[camera]\nsource = "replay:frames"\nfps = 1\n'
        '[library]\npath = "music"\n[audio]\noutput = "file:out/x.wav"\nvolume = 50\n'
        '[state]\ndir = "state"\n[user]\nactive = "ann"\n[models]\ndir = "m"\n'
        '[picker]\ntemperature = 0.5\nno_repeat = 3\n'
    )
    cfg = load_config(path)
    assert cfg.camera.source == f"replay:{tmp_path / 'frames'}"
    assert cfg.camera.fps == 1.0 and isinstance(cfg.camera.fps, float)
    assert cfg.library.path == tmp_path / "music"
    assert cfg.audio.output == f"file:{tmp_path / 'out/x.wav'}"
    assert cfg.state.dir == tmp_path / "state" and cfg.models.dir == tmp_path / "m"
    assert cfg.journal_path == tmp_path / "state" / "journal.sqlite3"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[camera]\nfps = "fast"', "camera.fps: expected a number"),
        ("[camera]\nfps = 0", "camera.fps: 0.0 is out of range"),
        ('[camera]\nsource = "webcam"', "camera.source: 'webcam' is not one of"),
        ('[camera]\nsorce = "picamera2"', "camera.sorce: unknown key"),
        ('[audio]\noutput = "file:x.mp3"', "audio.output"),
        ("[audio]\nvolume = 101", "audio.volume: 101 is out of range"),
        ("[speaker]\nx = 1", "[speaker]: unknown section"),
        ('[user]\nactive = "a b"', "user.active"),
        ("[camera\nfps = 2", "invalid TOML"),
        ("[resume]\nenabled = 1", "resume.enabled: expected true or false"),
    ],
)
def test_bad_values_name_the_key(tmp_path, toml, message):
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=None) as info:
        load_config(path)
    assert message in str(info.value) and str(path) in str(info.value)
    assert isinstance(info.value, UserError)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_state_dir_service_vs_user():
    assert default_state_dir({"STATE_DIRECTORY": "/var/lib/moodspeaker"}) == Path(
        "/var/lib/moodspeaker"
    )
    env = {"XDG_STATE_HOME": "/home/u/.state"}
    expected = (
        Path("/var/lib/moodspeaker") if __import__("os").geteuid() == 0
        else Path("/home/u/.state/moodspeaker")
    )
    assert default_state_dir(env) == expected


def test_cli_prints_config_error_without_traceback(tmp_path, capsys):
    from device.cli import main

    path = tmp_path / "c.toml"
    path.write_text('[audio]\noutput = "speakers"\n')
    assert main(["run", "--config", str(path), "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert "audio.output" in err and "Traceback" not in err


def test_the_example_config_loads_and_the_unit_names_notify_and_watchdog():
    repo = Path(__file__).resolve().parent.parent
    cfg = load_config(repo / "systemd" / "config.example.toml")
    assert cfg.library.path == Path("/srv/music") and cfg.mood.first_wait_s == 3.0
    unit = (repo / "systemd" / "moodspeaker.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit


def test_alsa_outputs_are_accepted_and_an_empty_device_is_refused():
    assert config_from_dict({"audio": {"output": "alsa:plughw:CARD=Device"}}).audio.output == (
        "alsa:plughw:CARD=Device")
    assert config_from_dict({"audio": {"output": "alsa"}}).audio.output == "alsa"
    with pytest.raises(ConfigError, match="needs a device"):
        config_from_dict({"audio": {"output": "alsa:"}})


@pytest.mark.parametrize("mqtt, message", [
    ({"host": "h", "device_id": "a/b"}, "mqtt.device_id"),
    ({"host": "h", "base_topic": "x/#"}, "mqtt.base_topic"),
    ({"host": "h", "password": "pw"}, "without mqtt.username"),
    ({"host": "h", "tls_ca": "/nonexistent/ca.pem"}, "mqtt.tls_ca"),
    ({"host": "h", "port": 70000}, "mqtt.port"),
    ({"host": "h", "sync_batch": 500}, "mqtt.sync_batch"),
    ({"hots": "h"}, "unknown key"),
])
def test_mqtt_mistakes_name_the_key(mqtt, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"mqtt": mqtt})


def test_no_mqtt_host_means_no_mqtt_and_the_device_id_is_never_the_host_name():
    """Every fresh Pi is called raspberrypi: the id comes from the hardware serial or the
    state folder at start (device.storage.identity, tests/test_mqtt_hardening.py)."""
    assert config_from_dict({}).mqtt.host is None
    cfg = config_from_dict({"mqtt": {"host": "broker.local"}})
    assert cfg.mqtt.device_id is None and cfg.mqtt.base_topic == "moodspeaker"
    assert cfg.mqtt.discovery
