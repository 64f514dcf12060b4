"""The command table is the one definition of the commands: the loop's dispatch, MQTT
parsing, Home Assistant's controls and the docs' list all come from it."""

from __future__ import annotations

import dataclasses

import pytest

from device.loop.context import LoopParts
from device.loop.speaker import Speaker
from device.mqtt.discovery import discovery_payload
from device.shared import commands as c

SAMPLES = {"volume": "55", "mute": "true", "mood": "sad 10", "user": "ann"}


@pytest.mark.parametrize("spec", c.COMMAND_TABLE, ids=lambda s: s.name)
def test_every_command_and_alias_parses_to_its_type(spec):
    for name in (spec.name, *spec.aliases):
        assert isinstance(c.parse_command(name, SAMPLES.get(spec.name, "")), spec.type)


def test_home_assistant_shows_exactly_the_commands_that_have_a_control():
    cmps = discovery_payload("kitchen", "moodspeaker", name="Kitchen", sw_version="1")["cmps"]
    controls = {k for k, v in cmps.items() if "command_topic" in v}
    assert controls == {s.ha_key or s.name for s in c.COMMAND_TABLE if s.ha is not None}


def test_the_loop_refuses_to_start_with_a_command_it_cannot_handle(monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Dance:
        pass

    extra = c.CommandSpec("dance", Dance, lambda _t: Dance(), "", "dance")
    monkeypatch.setattr(c, "COMMAND_TABLE", (*c.COMMAND_TABLE, extra))
    parts = LoopParts(player=None, picker=None, journal=None, mood=None,  # type: ignore[arg-type]
                      library=None)
    with pytest.raises(RuntimeError, match="no handler for \\['dance'\\]"):
        Speaker(parts)
