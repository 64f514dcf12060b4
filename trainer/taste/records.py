"""Plain records flowing through the taste pipeline, and the import report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone


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
    # The classifier's P(mood | text) in MOODS order: relabelling's likelihood of each true
    # mood. None: the mood is certain (true moods in a simulation's oracle).
    probabilities: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Listen:
    """One play. The speaker's journal (and the ingest store) also say what the camera saw
    and how the listen ended; other services' plays (Spotify, Last.fm, listens tables)
    leave those None and count only through the posts around them."""

    user: str
    track_id: str
    genre: str | None  # one of device.shared.genres.GENRES, or None when unmapped
    started_at: float  # epoch seconds
    ended_at: float
    duration_s: float  # full length of the track
    mood: str | None = None  # the mood the speaker followed when it started (MOODS/"unknown")
    mood_confidence: float | None = None  # the camera's confidence in it (1.0: an override)
    end_reason: str | None = None  # completed/skipped/stopped/error/interrupted
    ended_by: str | None = None  # end/user/mood/shutdown/crash; None in journals before it
    heard_s: float | None = None  # seconds heard (position minus resume offset)
    device: str | None = None  # the speaker it came from (ingest store)

    @property
    def from_speaker(self) -> bool:
        """A speaker listen: it carries the mood seen and how it ended."""
        return self.mood is not None and self.end_reason is not None

    @property
    def heard(self) -> float:
        """Fraction of the track heard, 0-1 (the journal's position when it has one)."""
        seconds = self.heard_s if self.heard_s is not None else self.ended_at - self.started_at
        return min(1.0, max(0.0, seconds / self.duration_s)) if self.duration_s > 0 else 0.0


@dataclass
class SourceReport:
    """What one file gave: rows read per person, rows skipped by reason, reposts, span."""

    source: str  # the file, inside its archive: "export.zip:outbox.json"
    kind: str  # "Mastodon outbox"
    role: str  # "posts" | "listens"
    read: Counter[str] = field(default_factory=Counter)  # person -> rows
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)  # person -> first, last
    reposts: int = 0
    kept_reposts: bool = False
    reasons: Counter[str] = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)  # "where: why", the first 1000
    names_in_file: set[str] = field(default_factory=set)  # user names the rows carried

    def add(self, person: str, when: float) -> None:
        self.read[person] += 1
        first, last = self.spans.get(person, (when, when))
        self.spans[person] = (min(first, when), max(last, when))

    def skip(self, where: str, why: str, reason: str | None = None) -> None:
        """``reason`` groups rows for the summary ("bad time"); ``why`` is the detail."""
        self.reasons[reason or why] += 1
        if len(self.details) < 1000:
            self.details.append(f"{where}: {why}")

    def span(self, person: str | None = None) -> str:
        spans = [self.spans[person]] if person else list(self.spans.values())
        if not spans:
            return "-"

        return f"{day(min(a for a, _ in spans))} to {day(max(b for _, b in spans))}"

    def notes(self) -> str:
        """Reposts, skipped rows by reason, and user names overridden by the owner."""
        text = ""
        if self.reposts:
            what = "kept (--include-reposts)" if self.kept_reposts else "left out"
            text += f", {self.reposts} reposts/boosts {what}"
        if self.reasons:
            why = ", ".join(f"{n} {r}" for r, n in self.reasons.most_common(4))
            text += f", {sum(self.reasons.values())} skipped ({why})"
        others = sorted(self.names_in_file - set(self.read))
        if others:
            text += f"; the file's user names ({', '.join(others[:5])}) taken as the owner's"
        return text


@dataclass
class ImportReport:
    """Rows read, rows skipped with where and why: bad input is reported, never hidden."""

    rows: Counter[str] = field(default_factory=Counter)  # "posts" / "listens" -> rows kept
    sources: list[SourceReport] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)  # input -> files of no use
    duplicates: Counter[str] = field(default_factory=Counter)  # role -> rows read twice
    matched: int = 0  # streamed plays whose track was found (genre and length)
    unmatched: Counter[str] = field(default_factory=Counter)  # "artist - title" -> plays
    seen_events: set[str] = field(default_factory=set)  # journal event ids read so far
    _loose: SourceReport = field(default_factory=lambda: SourceReport("", "", ""))

    def source(self, source: str, kind: str, role: str) -> SourceReport:
        report = SourceReport(source, kind, role)
        self.sources.append(report)
        return report

    def skip(self, where: str, why: str) -> None:
        """A whole file that could not be read."""
        self._loose.skip(where, why)

    @property
    def skipped(self) -> list[str]:
        return [d for s in (*self.sources, self._loose) for d in s.details]

    def people(self) -> list[str]:
        return sorted({p for s in self.sources for p in s.read})

    def summary(self, limit: int = 10, people_shown: int = 20) -> str:
        """Per person and source: rows read, skipped and why, reposts, time span (a file
        shared by several people gets its own line); then the genre matching of streamed
        plays and the first bad rows by place."""
        lines = []
        people = self.people()
        per_person = len(people) <= people_shown
        own = [s for s in self.sources if len(s.read) == 1 and per_person]
        if per_person:
            for person in people:
                lines.append(f"{person}:")
                for s in (s for s in self.sources if s.read[person]):
                    notes = s.notes() if s in own else ""
                    lines.append(f"  {s.role:7s} {s.source} ({s.kind}): {s.read[person]} read, "
                                 f"{s.span(person)}{notes}")  # fmt: skip
        else:
            lines.append(f"{len(people)} people; per file:")
        for s in (s for s in self.sources if s not in own):
            total = sum(s.read.values())
            who = f" for {len(s.read)} people" if len(s.read) > 1 else ""
            lines.append(f"  {s.role:7s} {s.source} ({s.kind}): {total} read{who}, "
                         f"{s.span()}{s.notes()}")  # fmt: skip
        for name, n in self.ignored.items():
            lines.append(f"{name}: {n} other files, not posts or listens (ignored)")
        for role, n in self.duplicates.items():
            lines.append(f"{n} {role} read twice (same person, time and content): counted once")
        if self.matched or self.unmatched:
            total = self.matched + sum(self.unmatched.values())
            lines.append(f"genres: {self.matched} of {total} streamed plays matched a track "
                         f"(--tracks / library index); {sum(self.unmatched.values())} plays "
                         f"of {len(self.unmatched)} tracks unmatched, not used")  # fmt: skip
            if self.unmatched:
                top = ", ".join(f"{name} ({n})" for name, n in self.unmatched.most_common(10))
                lines.append(f"  most played unmatched (add them to --tracks): {top}")
        bad = self.skipped
        if bad:
            lines.append(f"skipped {len(bad)} rows/files, first ones:")
            lines += [f"  {d}" for d in bad[:limit]]
        read = ", ".join(f"{n} {kind}" for kind, n in sorted(self.rows.items())) or "nothing"
        skipped = sum(sum(s.reasons.values()) for s in (*self.sources, self._loose))
        lines.append(f"read {read}; skipped {skipped} bad rows/files")
        return "\n".join(lines)


def listener(user: str, device: str | None) -> str:
    """Who a row of the ingest store is: the user on that speaker (``ann@kitchen``). The
    same name on two speakers is two people unless the people file merges them
    (``listeners = ["ann@kitchen", "ann@bedroom"]``); a journal (one speaker) has no
    device, and its names are the household's own."""
    return f"{user}@{device}" if device else user


def day(epoch: float) -> str:
    """``2024-03-05`` (UTC), for spans in the import report."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d")
