"""Commands to the speaker as typed, validated values, and the answer each one gets.

Every way of steering the speaker (MQTT ``set/<command>`` and ``command``, the CLI, tests)
turns its text into one of these dataclasses with ``parse_command`` on its own thread, so a
bad value ("volume loud") is refused where it came from and never reaches the loop. The loop
answers each command with a ``CommandResult`` through a ``Future``.
"""

from __future__ import annotations

import re
from concurrent.futures import Future
from dataclasses import dataclass

from device.shared.moods import MOODS

MAX_OVERRIDE_MIN = 24 * 60
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

_NO_VALUE = {
    "play": Play, "resume": Play, "pause": Pause, "toggle": Toggle, "next": Next,
    "previous": Previous, "stop": Stop, "rescan": Rescan, "reload": Reload,
}
COMMAND_NAMES: tuple[str, ...] = (*_NO_VALUE, "volume", "mute", "mood", "user")


@dataclass(frozen=True)
class CommandResult:
    ok: bool
    error: str | None = None
    detail: str | None = None  # what was done, for logs and replies ("volume 55")


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value).strip()
    raise CommandError(f"expected a plain value, got {type(value).__name__}")


def _volume(text: str) -> SetVolume:
    m = re.fullmatch(r"([+-]?)(\d{1,3})", text)
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


def parse_command(name: str, value: object = None) -> Command:
    """Text (an MQTT topic's last level and payload, a CLI argument) -> a Command."""
    if not isinstance(name, str) or name not in COMMAND_NAMES:
        raise CommandError(f"unknown command {name!r}; one of {', '.join(COMMAND_NAMES)}")
    text = _text(value)
    if name in _NO_VALUE:
        return _NO_VALUE[name]()
    return {"volume": _volume, "mute": _mute, "mood": _mood, "user": _user}[name](text)


def done(result: CommandResult) -> Future[CommandResult]:
    """An already answered future (a command refused before it reached the loop)."""
    f: Future[CommandResult] = Future()
    f.set_result(result)
    return f
