"""Home Assistant MQTT discovery: one retained device-based message describes the speaker.

Home Assistant has no MQTT media player, so the speaker appears as a device with plain
entities: sensors read the retained ``state`` JSON through value templates, and the
controls publish plain payloads on ``set/<command>``. Availability is set once for the
whole device (``availability``: ``online``/``offline``). An empty retained payload on
:func:`discovery_topic` removes the device from Home Assistant.
"""

from __future__ import annotations

from typing import Any

from device.shared.commands import COMMAND_TABLE
from device.shared.mqtt_protocol import Topics, check_device_id

MANUFACTURER = "Moodspeaker"
MODEL = "Moodspeaker"


def discovery_topic(prefix: str, device_id: str) -> str:
    return f"{prefix}/device/{check_device_id(device_id)}/config"


def ha_status_topic(prefix: str) -> str:
    """Where Home Assistant announces itself; the speaker re-sends discovery on 'online'."""
    return f"{prefix}/status"


def discovery_payload(
    device_id: str,
    base_topic: str,
    *,
    name: str,
    sw_version: str,
    support_url: str | None = None,
) -> dict[str, Any]:
    """The device-based discovery config (publish it retained, as JSON)."""
    t = Topics(device_id, base_topic)
    uid = f"moodspeaker_{device_id}"

    def from_state(key: str, p: str, name: str, template: str, **extra: Any) -> dict:
        return {"p": p, "name": name, "unique_id": f"{uid}_{key}", "state_topic": t.state,
                "value_template": template, **extra}

    cmps: dict[str, dict[str, Any]] = {
        "mood": from_state("mood", "sensor", "Mood", "{{ value_json.mood }}",
                           icon="mdi:emoticon-outline"),
        "music_mood": from_state("music_mood", "sensor", "Music mood",
                                 "{{ value_json.music_mood }}", icon="mdi:music-note"),
        "confidence": from_state(
            "confidence", "sensor", "Mood confidence",
            "{{ (value_json.confidence * 100) | round(0) }}",
            unit_of_measurement="%", state_class="measurement", icon="mdi:gauge"),
        "track": from_state(
            "track", "sensor", "Track",
            "{{ value_json.track.title if value_json.track else 'none' }}",
            json_attributes_topic=t.state,
            json_attributes_template="{{ (value_json.track or {}) | tojson }}",
            icon="mdi:music"),
        "genre": from_state("genre", "sensor", "Genre", "{{ value_json.genre or 'none' }}",
                            icon="mdi:tag-music"),
    }
    for spec in COMMAND_TABLE:  # each command's control, as the command table describes it
        if spec.ha is None:
            continue
        key = spec.ha_key or spec.name
        cmps[key] = {**spec.ha, "unique_id": f"{uid}_{key}", "command_topic": t.set(spec.name)}
        if "value_template" in spec.ha:
            cmps[key]["state_topic"] = t.state
    origin: dict[str, Any] = {"name": "moodspeaker", "sw": sw_version}
    if support_url is not None:
        origin["url"] = support_url
    return {
        "dev": {"identifiers": [uid], "name": name, "manufacturer": MANUFACTURER,
                "model": MODEL, "sw_version": sw_version},
        "o": origin,
        "availability_topic": t.availability,
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 1,
        "cmps": cmps,
    }
