"""Commands to the speaker as typed, validated values, and the answer each one gets.

Every way of steering the speaker (MQTT ``set/<command>`` and ``command``, the CLI, tests)
turns its text into one of these dataclasses with ``parse_command`` on its own thread, so a
bad value ("volume loud") is refused where it came from and never reaches the loop. The loop
answers each command with a ``CommandResult`` through a ``Future``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from device.shared.moods import MOODS

MAX_OVERRIDE_MIN = 24 * 60
USER_MAX_CHARS = 64
_USER_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CommandError(ValueError):
    """The command's name or value is not acceptable; the message says why."""


@dataclass(frozen=True)
class Play:
    """Resume a paused track, or start picking again after a stop."""


@dataclass(frozen=True)
class Pause:
    pass


@dataclass(frozen=True)
class Toggle:
    pass


@dataclass(frozen=True)
class Next:
    pass


@dataclass(frozen=True)
class Previous:
    pass


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class SetVolume:
    """``level`` 0-100, or ``delta`` relative to the current target volume."""

    level: int | None = None
    delta: int | None = None


@dataclass(frozen=True)
class Mute:
    on: bool | None  # None = toggle


@dataclass(frozen=True)
class MoodOverride:
    """Follow ``mood`` instead of the camera for ``minutes`` (None = until ``auto``);
    ``mood`` None means ``auto``: the camera decides again."""

    mood: str | None
    minutes: float | None = None


@dataclass(frozen=True)
class SetUser:
    name: str


@dataclass(frozen=True)
class Rescan:
    pass


@dataclass(frozen=True)
class Reload:
    """Re-read the models (taste, FER) from the models folder, without stopping the music."""


Command = (
    Play | Pause | Toggle | Next | Previous | Stop | SetVolume | Mute | MoodOverride | SetUser
    | Rescan | Reload
)


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    error: str | None = None
    detail: str | None = None  # what was done, for logs and replies ("volume 55")


@dataclass(frozen=True)
class CommandSpec:
    """One command, everything about it in one row: the loop's dispatch (by ``type``),
    MQTT validation (``parse``), Home Assistant discovery (``ha``) and the docs' command
    list (``argument``, ``doc``) all come from here."""

    name: str
    type: type
    parse: Callable[[str], Command]
    argument: str  # what the payload may be, in words ("" = none; the payload is ignored)
    doc: str
    ha: dict[str, Any] | None = None  # the Home Assistant component, without its topics
    aliases: tuple[str, ...] = ()
    ha_key: str = ""  # the component's key in discovery (its unique_id's end); "" = name


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value).strip()
    raise CommandError(f"expected a plain value, got {type(value).__name__}")


def _volume(text: str) -> SetVolume:
    m = re.fullmatch(r"([+-]?)([0-9]{1,3})", text)  # ASCII digits only, not "٥٥"
    if not m:
        raise CommandError(f"volume: {text!r} is not 0-100, +N or -N")
    sign, n = m.group(1), int(m.group(2))
    if sign:
        return SetVolume(delta=n if sign == "+" else -n)
    if n > 100:
        raise CommandError(f"volume: {n} is out of range 0-100")
    return SetVolume(level=n)


def _mute(text: str) -> Mute:
    t = text.lower()
    if t in ("true", "on", "1"):
        return Mute(True)
    if t in ("false", "off", "0"):
        return Mute(False)
    if t in ("toggle", ""):
        return Mute(None)
    raise CommandError(f"mute: {text!r} is not true, false or toggle")


def _mood(text: str) -> MoodOverride:
    parts = text.lower().split()
    if parts == ["auto"]:
        return MoodOverride(None)
    if not parts or len(parts) > 2 or parts[0] not in MOODS:
        raise CommandError(
            f"mood: {text!r} is not one of {', '.join(MOODS)} (optionally followed by a "
            "number of minutes) or auto"
        )
    minutes = None
    if len(parts) == 2:
        try:
            minutes = float(parts[1])
        except ValueError:
            raise CommandError(f"mood: {parts[1]!r} is not a number of minutes") from None
        if not 0 < minutes <= MAX_OVERRIDE_MIN:
            raise CommandError(f"mood: minutes must be in (0, {MAX_OVERRIDE_MIN}]")
    return MoodOverride(parts[0], minutes)


def _user(text: str) -> SetUser:
    if not _USER_RE.fullmatch(text):
        raise CommandError(
            f"user: {text!r}: use 1-64 letters, digits, '-', '_' or '.'"
        )
    return SetUser(text)


def _no_value(kind: type) -> Callable[[str], Command]:
    return lambda _text: kind()


_VOLUME_HA = {"p": "number", "name": "Volume", "value_template": "{{ value_json.volume }}",
              "min": 0, "max": 100, "step": 1, "mode": "slider", "unit_of_measurement": "%",
              "icon": "mdi:volume-high"}
_MUTE_HA = {"p": "switch", "name": "Mute",
            "value_template": "{{ 'true' if value_json.muted else 'false' }}",
            "payload_on": "true", "payload_off": "false", "state_on": "true",
            "state_off": "false", "icon": "mdi:volume-off"}
_MOOD_HA = {"p": "select", "name": "Mood override",
            "value_template": "{{ value_json.override or 'auto' }}",
            "options": ["auto", *MOODS], "icon": "mdi:emoticon-cool"}
_USER_HA = {"p": "text", "name": "User", "value_template": "{{ value_json.user }}", "min": 1,
            "max": USER_MAX_CHARS, "icon": "mdi:account"}


def _button(label: str, icon: str) -> dict[str, Any]:
    return {"p": "button", "name": label, "icon": icon}


COMMAND_TABLE: tuple[CommandSpec, ...] = (
    CommandSpec("play", Play, _no_value(Play), "",
                "resume a paused track, or start picking again after a stop",
                _button("Play", "mdi:play"), aliases=("resume",)),
    CommandSpec("pause", Pause, _no_value(Pause), "", "pause the track",
                _button("Pause", "mdi:pause")),
    CommandSpec("toggle", Toggle, _no_value(Toggle), "", "pause or resume"),
    CommandSpec("next", Next, _no_value(Next), "",
                "skip to the next pick (counts as a skip for learning)",
                _button("Next", "mdi:skip-next")),
    CommandSpec("previous", Previous, _no_value(Previous), "", "play the previous track again",
                _button("Previous", "mdi:skip-previous")),
    CommandSpec("stop", Stop, _no_value(Stop), "", "fade out and stop until play",
                _button("Stop", "mdi:stop")),
    CommandSpec("volume", SetVolume, _volume, "0-100, +N or -N",
                "set the volume, or change it by N", _VOLUME_HA),
    CommandSpec("mute", Mute, _mute, "true, false or toggle (empty: toggle)",
                "mute or unmute", _MUTE_HA),
    CommandSpec("mood", MoodOverride, _mood,
                f"{' | '.join(MOODS)} [minutes], or auto",
                "follow this mood instead of the camera (for N minutes, at most "
                f"{MAX_OVERRIDE_MIN}); auto: the camera decides again", _MOOD_HA,
                ha_key="mood_override"),
    CommandSpec("user", SetUser, _user, "1-64 letters, digits, '-', '_' or '.'",
                "switch the active listener (kept across restarts)", _USER_HA),
    CommandSpec("rescan", Rescan, _no_value(Rescan), "",
                "rescan the music folder in the background; answered when it has started"),
    CommandSpec("reload", Reload, _no_value(Reload), "",
                "load the models again without stopping the music; answered when loaded"),
)
_BY_NAME: dict[str, CommandSpec] = {
    n: spec for spec in COMMAND_TABLE for n in (spec.name, *spec.aliases)
}
#: every name a command may be sent by (aliases included)
COMMAND_NAMES: tuple[str, ...] = tuple(_BY_NAME)


def parse_command(name: str, value: object = None) -> Command:
    """Text (an MQTT topic's last level and payload, a CLI argument) -> a Command."""
    spec = _BY_NAME.get(name) if isinstance(name, str) else None
    if spec is None:
        raise CommandError(f"unknown command {name!r}; one of {', '.join(COMMAND_NAMES)}")
    return spec.parse(_text(value))


class CommandSink(Protocol):
    """Where typed commands go (the speaker loop's inbox): the answer comes in the future."""

    def submit(self, command: Command) -> Future[CommandResult]: ...


def done(result: CommandResult) -> Future[CommandResult]:
    """An already answered future (a command refused before it reached the loop)."""
    f: Future[CommandResult] = Future()
    f.set_result(result)
    return f
