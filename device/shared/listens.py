"""The listen row: one play, as the journal stores it, MQTT carries it and the trainer reads it.

``Listen``'s fields are the journal's columns; ``LISTEN_COLUMNS`` are the ones a row carries
to the trainer (all but the speaker's own sync bookkeeping). A new column is added here and
nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

#: how a listen ended (the journal's CHECK constraint spells the same list)
END_REASONS = ("completed", "skipped", "stopped", "error", "interrupted")
#: who or what ended it: the track's end, the listener, a mood switch, a shutdown, a crash
ENDED_BY = ("end", "user", "mood", "shutdown", "crash")


@dataclass(frozen=True)
class Listen:
    event_id: str
    user: str
    track_id: str
    path: str
    genre: str | None
    mood: str  # the mood the music followed when it started (or "unknown")
    mood_confidence: float
    started_at: float  # epoch seconds
    ended_at: float | None  # None while playing
    position_s: float
    duration_s: float | None
    end_reason: str | None
    synced: bool
    start_offset_s: float = 0.0
    explanation: str | None = None
    error: str | None = None
    ended_by: str | None = None
    sync_seq: int | None = None


#: every column of the journal's ``listens`` table, in ``Listen``'s order
JOURNAL_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Listen))
#: what a listen row carries to the trainer (plus its ``seq``)
LISTEN_COLUMNS: tuple[str, ...] = tuple(
    c for c in JOURNAL_COLUMNS if c not in ("synced", "sync_seq")
)
