"""The seven genres and the alias table that maps free-form genre tags onto them.

Shared by the trainer (listening histories) and the speaker (its music library), so both
sides agree on what "rock" means. Real tags are messy (ID3 ``(17)``, ``Rock; Pop``,
``Hip-Hop``, ``摇滚``); :class:`GenreMapper` normalises them, looks them up in a documented
alias table (``device/data/genre_aliases.toml``, overridable by the user) and *counts*
what it cannot map so callers can report it instead of silently dropping tracks.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from device.shared.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the Pi image may still run 3.10
    import tomli as tomllib

GENRES: tuple[str, ...] = ("pop", "folk", "jazz", "light", "classical", "rock", "rap")

DISPLAY_NAMES: dict[str, str] = {
    "pop": "pop",
    "folk": "folk",
    "jazz": "jazz",  # the alias table still maps britpop here
    "light": "light music",
    "classical": "classical",
    "rock": "rock",
    "rap": "rap",
}

DEFAULT_ALIASES_PATH = Path(__file__).parent / "data" / "genre_aliases.toml"

# ID3v1 genre numbers (0-191, with the Winamp extensions), as "(17)" or "17" in TCON.
ID3V1_GENRES: tuple[str, ...] = (
    "Blues", "Classic Rock", "Country", "Dance", "Disco", "Funk", "Grunge", "Hip-Hop",
    "Jazz", "Metal", "New Age", "Oldies", "Other", "Pop", "R&B", "Rap", "Reggae", "Rock",
    "Techno", "Industrial", "Alternative", "Ska", "Death Metal", "Pranks", "Soundtrack",
    "Euro-Techno", "Ambient", "Trip-Hop", "Vocal", "Jazz+Funk", "Fusion", "Trance",
    "Classical", "Instrumental", "Acid", "House", "Game", "Sound Clip", "Gospel", "Noise",
    "Alt. Rock", "Bass", "Soul", "Punk", "Space", "Meditative", "Instrumental Pop",
    "Instrumental Rock", "Ethnic", "Gothic", "Darkwave", "Techno-Industrial", "Electronic",
    "Pop-Folk", "Eurodance", "Dream", "Southern Rock", "Comedy", "Cult", "Gangsta Rap",
    "Top 40", "Christian Rap", "Pop/Funk", "Jungle", "Native American", "Cabaret",
    "New Wave", "Psychedelic", "Rave", "Showtunes", "Trailer", "Lo-Fi", "Tribal",
    "Acid Punk", "Acid Jazz", "Polka", "Retro", "Musical", "Rock & Roll", "Hard Rock",
    "Folk", "Folk-Rock", "National Folk", "Swing", "Fast-Fusion", "Bebop", "Latin",
    "Revival", "Celtic", "Bluegrass", "Avantgarde", "Gothic Rock", "Progressive Rock",
    "Psychedelic Rock", "Symphonic Rock", "Slow Rock", "Big Band", "Chorus",
    "Easy Listening", "Acoustic", "Humour", "Speech", "Chanson", "Opera", "Chamber Music",
    "Sonata", "Symphony", "Booty Bass", "Primus", "Porn Groove", "Satire", "Slow Jam",
    "Club", "Tango", "Samba", "Folklore", "Ballad", "Power Ballad", "Rhythmic Soul",
    "Freestyle", "Duet", "Punk Rock", "Drum Solo", "A Cappella", "Euro-House",
    "Dance Hall", "Goa", "Drum & Bass", "Club-House", "Hardcore", "Terror", "Indie",
    "BritPop", "Afro-Punk", "Polsk Punk", "Beat", "Christian Gangsta Rap", "Heavy Metal",
    "Black Metal", "Crossover", "Contemporary Christian", "Christian Rock", "Merengue",
    "Salsa", "Thrash Metal", "Anime", "JPop", "Synthpop", "Abstract", "Art Rock",
    "Baroque", "Bhangra", "Big Beat", "Breakbeat", "Chillout", "Downtempo", "Dub", "EBM",
    "Eclectic", "Electro", "Electroclash", "Emo", "Experimental", "Garage", "Global",
    "IDM", "Illbient", "Industro-Goth", "Jam Band", "Krautrock", "Leftfield", "Lounge",
    "Math Rock", "New Romantic", "Nu-Breakz", "Post-Punk", "Post-Rock", "Psytrance",
    "Shoegaze", "Space Rock", "Trop Rock", "World Music", "Neoclassical", "Audiobook",
    "Audio Theatre", "Neue Deutsche Welle", "Podcast", "Indie Rock", "G-Funk", "Dubstep",
    "Garage Rock", "Psybient",
)  # fmt: skip

# Separators between values of a multi-valued tag: "Rock; Pop", "Rock / Pop", "Rock|Pop".
_SPLIT = re.compile(r"\s*(?:;|\||,|\x00|\s/\s|/(?=\S)(?<=\S/))\s*")
_ID3_REF = re.compile(r"\((\d{1,3})\)|^(\d{1,3})$")
_INNER = re.compile(r"[-_./]+")
_DROP = re.compile(r"[^\w\s&']+")
_SPACES = re.compile(r"\s+")


def normalise_tag(raw: str) -> str:
    """One canonical spelling per tag: NFKC, case-folded, light punctuation removed."""
    text = unicodedata.normalize("NFKC", raw).casefold().strip()
    text = _INNER.sub(" ", text)
    text = _DROP.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def split_tag(raw: str) -> list[str]:
    """Split a multi-valued tag and expand ID3 numeric references such as ``(17)Pop``."""
    values: list[str] = []
    for part in _SPLIT.split(raw.strip()):
        part = part.strip()
        if not part:
            continue
        refs = _ID3_REF.findall(part)
        if refs:
            for paren, bare in refs:
                number = int(paren or bare)
                if number < len(ID3V1_GENRES):
                    values.append(ID3V1_GENRES[number])
            rest = _ID3_REF.sub(" ", part).strip()
            if rest and rest.casefold() not in {v.casefold() for v in values}:
                values.append(rest)
        else:
            values.append(part)
    return values


def load_alias_file(path: str | Path) -> tuple[dict[str, str], set[str]]:
    """Read an alias TOML: ``[aliases] genre = [tags]`` and optional ``[unmapped] tags``."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: genre alias file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read genre alias file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: invalid TOML: {exc}") from None
    aliases: dict[str, str] = {}
    table = data.get("aliases", {})
    if not isinstance(table, dict):
        raise UserError(f"{path}: [aliases] must be a table of genre = [tags]")
    for genre, tags in table.items():
        if genre not in GENRES:
            raise UserError(f"{path}: [aliases] names unknown genre {genre!r}; use one of {GENRES}")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise UserError(f"{path}: aliases.{genre} must be a list of strings")
        for tag in tags:
            aliases[normalise_tag(tag)] = genre
    unmapped = data.get("unmapped", {}).get("tags", [])
    if not isinstance(unmapped, list) or not all(isinstance(t, str) for t in unmapped):
        raise UserError(f"{path}: unmapped.tags must be a list of strings")
    return aliases, {normalise_tag(t) for t in unmapped}


class GenreMapper:
    """Raw genre tag -> genre id (or None), counting every tag it could not map.

    ``override`` is a user alias file in the default's layout; ``extra`` adds aliases in
    code (tag -> genre). Both replace default entries for the same tag.
    """

    def __init__(
        self,
        override: str | Path | None = None,
        extra: Mapping[str, str] | None = None,
        defaults: str | Path = DEFAULT_ALIASES_PATH,
    ) -> None:
        self.aliases, _ = load_alias_file(defaults)
        if override is not None:
            added, removed = load_alias_file(override)
            for tag in removed:
                self.aliases.pop(tag, None)
            self.aliases.update(added)
        for tag, genre in (extra or {}).items():
            if genre not in GENRES:
                raise UserError(f"genre alias {tag!r} -> {genre!r}: not one of {GENRES}")
            self.aliases[normalise_tag(tag)] = genre
        self._compact = {tag.replace(" ", ""): g for tag, g in self.aliases.items()}
        self.mapped: Counter[str] = Counter()
        self.unmapped: Counter[str] = Counter()
        self.missing = 0

    def _lookup(self, value: str) -> str | None:
        tag = normalise_tag(value)
        if not tag:
            return None
        genre = self.aliases.get(tag) or self._compact.get(tag.replace(" ", ""))
        if genre:
            return genre
        words = tag.split(" ")
        for word in reversed(words):  # "indie rock" -> rock, "folk rock" -> rock
            if word in self.aliases:
                return self.aliases[word]
        return None

    def map_all(self, raw: str | None) -> list[str]:
        """Every distinct genre a (multi-valued) tag maps to, in tag order; counts misses."""
        if raw is None or not str(raw).strip():
            self.missing += 1
            return []
        found: list[str] = []
        for value in split_tag(str(raw)):
            genre = self._lookup(value)
            if genre is None:
                continue
            if genre not in found:
                found.append(genre)
        if found:
            self.mapped[found[0]] += 1
        else:
            self.unmapped[normalise_tag(str(raw)) or str(raw)] += 1
        return found

    def map(self, raw: str | None) -> str | None:
        """The genre of a tag (the first value that maps), or None (counted as unmapped)."""
        found = self.map_all(raw)
        return found[0] if found else None

    @property
    def unmapped_total(self) -> int:
        return sum(self.unmapped.values())

    def report(self, limit: int = 10) -> str:
        """One line for logs: how many tags mapped, which did not (most common first)."""
        total = sum(self.mapped.values())
        parts = [f"genres: {total} tags mapped"]
        if self.unmapped:
            top = ", ".join(f"{tag!r} x{n}" for tag, n in self.unmapped.most_common(limit))
            more = len(self.unmapped) - min(limit, len(self.unmapped))
            parts.append(
                f"{self.unmapped_total} unmapped ({top}{f', +{more} more' if more else ''})"
            )
        if self.missing:
            parts.append(f"{self.missing} empty")
        return "; ".join(parts)
