"""Timestamps as the services write them, to epoch seconds."""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from device.shared.errors import UserError

# X: "Wed May 01 10:00:00 +0000 2024"; Last.fm tools: "01 May 2024 08:00", "01 May 2024, 08:00"
_FORMATS = ("%a %b %d %H:%M:%S %z %Y", "%d %b %Y %H:%M", "%d %b %Y, %H:%M")


def zone(name: str) -> tzinfo:
    """An IANA zone (``Asia/Shanghai``) or ``UTC``; a clear error when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"--timezone {name!r}: not a time zone (e.g. Asia/Shanghai)") from None


def parse_time(value: object, tz: tzinfo | None = None) -> float:
    """Epoch seconds (number or numeric string), ISO 8601 or the X / Last.fm layouts.

    A time without an offset is in ``tz`` (default UTC): each reader says which zone its
    format writes (Weibo crawler: Beijing time; Spotify and Last.fm: UTC)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _FORMATS:
            try:
                stamp = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"not a time: {text!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=tz or timezone.utc)
    return stamp.timestamp()


def month(epoch: float) -> str:
    """``2024-03`` (UTC), for spans in the import report."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m")


def minute(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
