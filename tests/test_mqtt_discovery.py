"""Home Assistant discovery: the payload meets the rules HA's MQTT integration applies to a
device-based discovery message (homeassistant/components/mqtt/schemas.py and the platform
schemas), and its value templates render the speaker's state as intended (Jinja2, the
engine HA uses, with HA's tojson/round filters' behaviour)."""

from __future__ import annotations

import json
import re

import pytest

from device.mqtt.discovery import discovery_payload, discovery_topic
from device.shared.commands import COMMAND_NAMES as COMMANDS
from device.shared.moods import MOODS
from device.shared.mqtt_protocol import Topics

jinja2 = pytest.importorskip("jinja2")

ABBREVIATIONS = {"dev": "device", "o": "origin", "cmps": "components", "p": "platform"}
DEVICE_KEYS = {"identifiers", "connections", "manufacturer", "model", "name", "hw_version",
               "serial_number", "sw_version", "via_device", "suggested_area",
               "configuration_url", "model_id"}
ORIGIN_KEYS = {"name", "sw", "sw_version", "url", "support_url"}
# The platforms this payload uses and what each requires (HA's platform schemas).
REQUIRED = {
    "sensor": {"state_topic"},
    "number": {"command_topic"},
    "select": {"command_topic", "options"},
    "text": {"command_topic"},
    "button": {"command_topic"},
    "switch": {"command_topic"},
}
TOPIC_RE = re.compile(r"[^#+\0]+")


def expand(payload: dict) -> dict:
    out = {ABBREVIATIONS.get(k, k): v for k, v in payload.items()}
    out["components"] = {
        cid: {ABBREVIATIONS.get(k, k): v for k, v in c.items()}
        for cid, c in out["components"].items()
    }
    return out


def ha_validate(payload: dict) -> None:
    """HA's DEVICE_DISCOVERY_SCHEMA and per-platform requirements, as assertions."""
    cfg = expand(json.loads(json.dumps(payload)))  # must survive JSON
    device, origin = cfg["device"], cfg["origin"]
    assert set(device) <= DEVICE_KEYS
    assert isinstance(device["identifiers"], list) and device["identifiers"]
    assert all(isinstance(i, str) for i in device["identifiers"])
    assert isinstance(origin.get("name"), str) and set(origin) <= ORIGIN_KEYS
    assert TOPIC_RE.fullmatch(cfg["availability_topic"])
    assert cfg["payload_available"] == "online" and cfg["payload_not_available"] == "offline"
    assert cfg["qos"] in (0, 1, 2)
    ids = set()
    for cid, comp in cfg["components"].items():
        assert re.fullmatch(r"[A-Za-z0-9_-]+", cid)
        platform = comp["platform"]
        assert platform in REQUIRED, f"{cid}: platform {platform}"
        assert isinstance(comp["unique_id"], str) and comp["unique_id"] not in ids
        ids.add(comp["unique_id"])
        missing = REQUIRED[platform] - set(comp)
        assert not missing, f"{cid}: missing {missing}"
        for key in ("state_topic", "command_topic", "json_attributes_topic"):
            if key in comp:
                assert TOPIC_RE.fullmatch(comp[key]), f"{cid}: {key} {comp[key]!r}"
        if platform == "select":
            assert comp["options"] and all(isinstance(o, str) for o in comp["options"])
        if platform == "text":
            assert 0 <= comp.get("min", 0) < comp.get("max", 255) <= 255
        if platform == "number":
            assert comp.get("min", 1) < comp.get("max", 100)


def render(template: str, state: dict) -> str:
    env = jinja2.Environment()
    return env.from_string(template).render(value_json=state, value=json.dumps(state))


STATE = {
    "state": "playing",
    "track": {"title": "Song", "artist": "A", "album": "B", "duration_s": 200.0,
              "position_s": 12.5},
    "genre": "pop", "music_mood": "happy", "mood": "sad", "confidence": 0.734,
    "override": None, "override_until": None, "volume": 55, "muted": False,
    "user": "ana", "explanation": "why", "camera_ok": True,
}


def test_payload_meets_home_assistant_schema():
    payload = discovery_payload("kitchen", "moodspeaker", name="Kitchen speaker",
                                sw_version="0.1.0")
    ha_validate(payload)
    assert discovery_topic("homeassistant", "kitchen") == "homeassistant/device/kitchen/config"
    cmps = payload["cmps"]
    assert {c["p"] for c in cmps.values()} >= {"sensor", "number", "select", "text", "button"}
    assert {k for k, c in cmps.items() if c["p"] == "sensor"} >= {
        "mood", "confidence", "track", "genre"}
    assert {k for k, c in cmps.items() if c["p"] == "button"} == {
        "play", "pause", "next", "previous", "stop"}
    assert cmps["mood_override"]["options"] == ["auto", *MOODS]
    t = Topics("kitchen")
    for comp in cmps.values():  # every control publishes on a real command topic
        if "command_topic" in comp:
            assert t.command_name(comp["command_topic"]) in COMMANDS
    assert payload["availability_topic"] == t.availability


def test_templates_render_the_state():
    cmps = discovery_payload("k", "moodspeaker", name="K", sw_version="1")["cmps"]

    def value(key, state=STATE):
        return render(cmps[key]["value_template"], state)

    assert value("mood") == "sad"
    assert value("music_mood") == "happy"
    assert value("confidence") == "73.0"
    assert value("track") == "Song"
    assert json.loads(render(cmps["track"]["json_attributes_template"], STATE))["artist"] == "A"
    assert value("genre") == "pop"
    assert value("volume") == "55"
    assert value("mute") == "false"
    assert value("mood_override") == "auto"
    assert value("user") == "ana"
    idle = {**STATE, "track": None, "genre": None, "override": "happy", "muted": True}
    assert value("track", idle) == "none"
    assert json.loads(render(cmps["track"]["json_attributes_template"], idle)) == {}
    assert value("genre", idle) == "none"
    assert value("mood_override", idle) == "happy"
    assert value("mute", idle) == "true"
    assert value("mood_override", idle) in cmps["mood_override"]["options"]


def test_support_url_and_bad_ids():
    p = discovery_payload("k", "moodspeaker", name="K", sw_version="1",
                          support_url="https://example.org/moodspeaker")
    ha_validate(p)
    assert p["o"]["url"] == "https://example.org/moodspeaker"
    with pytest.raises(ValueError, match="device id"):
        discovery_payload("a/b", "moodspeaker", name="x", sw_version="1")
    with pytest.raises(ValueError, match="device id"):
        discovery_topic("homeassistant", "+")
