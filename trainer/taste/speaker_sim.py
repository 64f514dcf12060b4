"""``taste simulate-speaker``: a month of speaker use by people with planted tastes.

Beside ``taste simulate`` (posts and the plays around them), this simulates what the speaker
journals. Each person has planted preferences ``P*[e, g]`` (0-10, ``simulate.planted_tastes``)
and a mood mix; they listen in sessions spread over ``days`` (a session: one true mood, 3 to
12 tracks, now and then a change of mood halfway). The camera reports each listen's mood
through the FER model's 4-mood confusion on its validation split (``P(seen | true)``, the
manifest's ``mood_confusion``), with a smoothed confidence from 0.55 (the speaker's
``switch_confidence``) up, higher on average when it is right; a few sessions have the mood
set by hand (an override: the true mood, confidence 1.0). Offers are near uniform over
genres (each person's library has its own genre mix, Dirichlet(50)). A track is heard to
the end with probability ``P*[true mood, genre] / 10`` and skipped by the listener within
3-25 s otherwise; a change of mood ends the playing track (``ended_by`` mood), and a few
listens end by shutdown or error: no evidence, as on the speaker.

Written as the speaker's own ``journal.sqlite3`` (table ``listens``, the journal's columns)
plus ``truth.npz``, so ``taste build --listens journal.sqlite3`` reads it as it would a
real journal. ``evaluate`` scores builds against ``P*`` (Spearman per person and mood).
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.shared.genres import GENRES
from device.shared.listens import JOURNAL_COLUMNS
from device.shared.moods import MOODS

from .records import Listen

SWITCH_CONFIDENCE = 0.55  # the speaker's [mood] switch_confidence default


@dataclass(frozen=True)
class SpeakerSimulation:
    listens: list[Listen]
    users: tuple[str, ...]
    truth: np.ndarray  # (U, E, G) planted, 0-10
    true_moods: tuple[str, ...]  # per listen, for diagnosis only


def seen_given_true(confusion) -> np.ndarray:
    """Rows normalised: P(seen | true) from counts (rows true, columns predicted)."""
    matrix = np.asarray(confusion, dtype=np.float64)
    return matrix / matrix.sum(axis=1, keepdims=True)


def simulate_speaker(
    truth: np.ndarray,
    users: tuple[str, ...],
    confusion: np.ndarray | None,
    listens_per_user: int = 330,
    days: float = 30.0,
    seed: int = 0,
    override_share: float = 0.03,
    tracks_per_genre: int = 40,
) -> SpeakerSimulation:
    """Speaker listens for people with planted ``truth``; ``confusion`` None: a perfect
    camera."""
    rng = np.random.default_rng(seed)
    n_moods, n_genres = len(MOODS), len(GENRES)
    camera = np.eye(n_moods) if confusion is None else seen_given_true(confusion)
    durations = rng.uniform(150, 330, size=(n_genres, tracks_per_genre))
    t0 = 1_760_000_000.0
    out: list[Listen] = []
    true_moods: list[str] = []
    for ui, user in enumerate(users):
        mix = rng.dirichlet(np.ones(n_moods) * 2)
        library = rng.dirichlet(np.ones(n_genres) * 50)
        device = f"speaker-{ui % 7}"
        made = 0
        while made < listens_per_user:
            clock = t0 + rng.uniform(0, days * 86400)
            mood = int(rng.choice(n_moods, p=mix))
            override = rng.random() < override_share
            length = int(rng.integers(3, 13))
            change_at = int(rng.integers(1, length)) if rng.random() < 0.15 else -1
            for k in range(length):
                if k == change_at:
                    mood = int(rng.choice(n_moods, p=mix))
                seen, conf = _camera(rng, camera, mood, override)
                g = int(rng.choice(n_genres, p=library))
                t = int(rng.integers(tracks_per_genre))
                dur = float(durations[g, t])
                reason, by, heard = _ending(rng, truth[ui, mood, g], dur,
                                            switch=(k + 1 == change_at))  # fmt: skip
                out.append(Listen(
                    user, f"{GENRES[g]}/{t:03d}.mp3", GENRES[g], clock, clock + heard, dur,
                    mood=MOODS[seen], mood_confidence=round(conf, 3), end_reason=reason,
                    ended_by=by, heard_s=heard, device=device,
                ))  # fmt: skip
                true_moods.append(MOODS[mood])
                clock += heard + float(rng.uniform(1, 4))
                made += 1
    return SpeakerSimulation(out, tuple(users), truth.astype(np.float32), tuple(true_moods))


def _camera(rng: np.random.Generator, camera: np.ndarray, mood: int,
            override: bool) -> tuple[int, float]:  # fmt: skip
    """The mood the music followed and its smoothed confidence (1.0 for an override)."""
    if override:
        return mood, 1.0
    seen = int(rng.choice(len(MOODS), p=camera[mood]))
    shape = (4.0, 2.0) if seen == mood else (2.0, 3.0)
    return seen, SWITCH_CONFIDENCE + (1 - SWITCH_CONFIDENCE) * float(rng.beta(*shape))


def _ending(rng: np.random.Generator, taste: float, duration: float,
            switch: bool) -> tuple[str, str, float]:  # fmt: skip
    """(end_reason, ended_by, seconds heard) for one listen."""
    if switch:  # the camera's mood changed: the speaker moves on
        return "skipped", "mood", float(rng.uniform(5, duration))
    roll = rng.random()
    if roll < 0.02:
        return "stopped", "shutdown", float(rng.uniform(1, duration))
    if roll < 0.03:
        return "error", "end", float(rng.uniform(0, 5))
    if rng.random() < taste / 10.0:
        return "completed", "end", duration
    return "skipped", "user", float(rng.uniform(3, 25))


def write_journal(listens: list[Listen], path: Path, old: bool = False) -> Path:
    """The listens as the speaker's ``journal.sqlite3`` (``old``: without the columns
    added later: ``ended_by``, ``start_offset_s``, ``sync_seq``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    drop = {"ended_by", "start_offset_s", "sync_seq"} if old else set()
    columns = [c for c in JOURNAL_COLUMNS if c not in drop]
    db = sqlite3.connect(path)
    try:
        db.execute(f"CREATE TABLE listens ({', '.join(columns)})")
        rows = []
        for i, x in enumerate(listens):
            row = {
                "event_id": str(uuid.UUID(int=i + 1)), "user": x.user, "track_id": x.track_id,
                "path": f"/music/{x.track_id}", "genre": x.genre, "mood": x.mood,
                "mood_confidence": x.mood_confidence, "started_at": x.started_at,
                "ended_at": x.ended_at, "position_s": x.heard_s or 0.0,
                "duration_s": x.duration_s, "end_reason": x.end_reason, "synced": 0,
                "start_offset_s": 0.0, "explanation": None, "error": None,
                "ended_by": x.ended_by, "sync_seq": i + 1,
            }  # fmt: skip
            rows.append(tuple(row[c] for c in columns))
        marks = ",".join("?" * len(columns))
        db.executemany(f"INSERT INTO listens VALUES ({marks})", rows)
        db.commit()
    finally:
        db.close()
    return path


def write_simulation(sim: SpeakerSimulation, out: Path) -> None:
    out = Path(out)
    write_journal(sim.listens, out / "journal.sqlite3")
    np.savez_compressed(out / "truth.npz", users=np.array(sim.users), truth=sim.truth,
                        listen_moods=np.array(sim.true_moods, dtype=str))  # fmt: skip


def completion_counts(listens: list[Listen], users: tuple[str, ...]) -> np.ndarray:
    """The baseline: completions per (person, mood seen, genre), nothing else."""
    pos = {u: i for i, u in enumerate(users)}
    counts = np.zeros((len(users), len(MOODS), len(GENRES)))
    for x in listens:
        if (x.user in pos and x.mood in MOODS and x.genre and x.end_reason == "completed"):
            counts[pos[x.user], MOODS.index(x.mood), GENRES.index(x.genre)] += 1
    return counts
