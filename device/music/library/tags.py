"""Read one audio file's tags with mutagen: title, artist, album, genre, duration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mutagen

AUDIO_EXTENSIONS = frozenset({".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".mp4", ".wav"})

# Tag names per container: easy keys (MP3/M4A easy mode, Vorbis comments) then raw ID3
# frames (WAV and AIFF carry ID3 chunks that mutagen does not expose in easy mode).
_KEYS = {
    "title": ("title", "TIT2"),
    "artist": ("artist", "albumartist", "TPE1", "TPE2"),
    "album": ("album", "TALB"),
    "genre": ("genre", "TCON"),
}


class TagError(Exception):
    """The file is not audio mutagen understands, or has no playable length."""


@dataclass(frozen=True)
class TrackTags:
    title: str | None
    artist: str | None
    album: str | None
    genre: str | None
    duration_s: float


def _first(tags, keys: tuple[str, ...]) -> str | None:
    if not tags:
        return None
    for key in keys:
        try:
            value = tags.get(key)
        except (KeyError, ValueError):  # some tag classes raise on foreign keys
            value = None
        if value is None:
            continue
        if hasattr(value, "text"):  # ID3 frame
            value = value.text
        if isinstance(value, (list, tuple)):
            value = "; ".join(str(v) for v in value if str(v).strip())
        text = str(value).strip()
        if text:
            return text
    return None


def read_tags(path: str | Path) -> TrackTags:
    """Tags and duration of one file; raises TagError with a short reason when broken."""
    try:
        audio = mutagen.File(str(path), easy=True)
    except mutagen.MutagenError as exc:
        raise TagError(f"unreadable audio: {exc}") from None
    except (OSError, ValueError, EOFError) as exc:
        raise TagError(f"unreadable: {exc}") from None
    if audio is None:
        raise TagError("not a recognised audio format")
    length = float(getattr(audio.info, "length", 0.0) or 0.0)
    if length <= 0.0:
        raise TagError("no audio (zero length)")
    tags = audio.tags
    return TrackTags(
        title=_first(tags, _KEYS["title"]),
        artist=_first(tags, _KEYS["artist"]),
        album=_first(tags, _KEYS["album"]),
        genre=_first(tags, _KEYS["genre"]),
        duration_s=length,
    )
