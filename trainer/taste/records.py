"""Plain records flowing through the taste pipeline, and the bad-input tally."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Post:
    user: str
    time: float  # epoch seconds
    text: str


@dataclass(frozen=True)
class MoodPost:
    user: str
    time: float
    mood: str
    weight: float = 1.0  # confidence in the mood; scales the post's plays in equation 1


@dataclass(frozen=True)
class Listen:
    user: str
    track_id: str
    genre: str | None  # one of device.genres.GENRES, or None when unmapped
    started_at: float  # epoch seconds
    ended_at: float
    duration_s: float  # full length of the track


@dataclass
class ImportReport:
    """Rows read, rows skipped with where and why: bad input is reported, never hidden."""

    rows: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)

    def skip(self, where: str, why: str) -> None:
        self.skipped.append(f"{where}: {why}")

    def summary(self, limit: int = 10) -> str:
        read = ", ".join(f"{n} {kind}" for kind, n in sorted(self.rows.items())) or "nothing"
        text = f"read {read}; skipped {len(self.skipped)} bad rows/files"
        if self.skipped:
            shown = "\n  ".join(self.skipped[:limit])
            more = len(self.skipped) - min(limit, len(self.skipped))
            text += f":\n  {shown}" + (f"\n  ... and {more} more" if more else "")
        return text
