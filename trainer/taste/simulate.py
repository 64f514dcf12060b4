"""``taste simulate``: users with planted mood x genre tastes, real posts, real timing.

Each simulated user has a planted preference table ``P*[e, g]`` (0-10): a population
pattern plus a low-rank personal deviation. They publish real Weibo posts the post-mood
classifier was never fitted on (``--posts-from``: NLPCC 2014's odd rows, or SMP2020-EWECT's
usual and virus test splits) whose (mapped) label is their current mood and, around most
posts, listen to a session whose genres are drawn with probability rising steeply with
``P*[mood]`` and whose tracks are heard longer when liked. Gaps between plays are
resampled from real Last.fm-1K sessions. The pipeline's output can then be scored against
``P*`` (Spearman per user and mood).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.shared.errors import UserError
from device.shared.genres import GENRES
from device.shared.moods import MOODS

from .importers import parse_time
from .mood.corpora import LabelledPost, read_corpus
from .records import Listen, Post


@dataclass(frozen=True)
class Simulation:
    posts: list[Post]
    listens: list[Listen]
    users: tuple[str, ...]
    truth: np.ndarray  # (U, E, G) planted preferences, 0-10
    post_moods: tuple[str, ...] = ()  # the true (labelled) mood of each post, for diagnosis only


# --posts-from -> (corpus, splits): held-out test posts; smp-eval for choosing settings.
POST_SPLITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "nlpcc": ("nlpcc", ("test",)),
    "smp": ("smp", ("usual_test", "virus_test")),
    "smp-eval": ("smp", ("usual_eval", "virus_eval")),
}


def held_out_posts(posts_from: str, path: Path) -> list[LabelledPost]:
    """Labelled posts the shipped classifier was not fitted on (``POST_SPLITS``)."""
    if posts_from not in POST_SPLITS:
        raise UserError(f"--posts-from must be one of {', '.join(POST_SPLITS)}, not {posts_from!r}")
    corpus, splits = POST_SPLITS[posts_from]
    return [p for split in splits for p in read_corpus(corpus, path, split)]


def session_gaps(lastfm_dir: Path) -> np.ndarray:
    """Seconds between consecutive plays within sessions (gap < 30 min) in Last.fm-1K."""
    times: dict[str, list[float]] = {}
    for path in sorted(Path(lastfm_dir).glob("userid-timestamp-*.tsv")):
        with open(path, encoding="utf-8", errors="replace") as fh:
            for row in csv.reader(fh, delimiter="\t"):
                if len(row) >= 2 and row[0].startswith("user_"):
                    try:
                        times.setdefault(row[0], []).append(parse_time(row[1]))
                    except ValueError:
                        continue
    gaps = np.concatenate([np.diff(sorted(t)) for t in times.values() if len(t) > 1]
                          or [np.zeros(0)])
    gaps = gaps[(gaps > 30) & (gaps < 1800)]
    if gaps.size == 0:
        raise UserError(f"{lastfm_dir}: no Last.fm-1K listening sessions found")
    return gaps


def planted_tastes(
    n_users: int, rng: np.random.Generator, rank: int = 3, mood_share: float = 0.5
) -> np.ndarray:
    """Population pattern per (mood, genre) plus a rank-``rank`` personal deviation.

    The deviation mixes a mood-independent taste (``a_u . B``: a rock fan stays one) with a
    mood-specific one (``u_u . C_e``), ``mood_share`` of its variance being mood-specific;
    ``mood_share=1`` makes a person's tastes in different moods unrelated.
    """
    base = rng.uniform(2, 8, size=(len(MOODS), len(GENRES)))
    shared = rng.standard_normal((n_users, rank)) @ rng.standard_normal((rank, len(GENRES)))
    u = rng.standard_normal((n_users, rank))
    em = rng.standard_normal((len(MOODS), rank, len(GENRES)))
    specific = np.einsum("ur,erg->ueg", u, em)
    dev = np.sqrt(1 - mood_share) * shared[:, None, :] + np.sqrt(mood_share) * specific
    return np.clip(base[None] + 1.5 * dev, 0.0, 10.0)


def simulate(
    source: Path,
    lastfm: Path,
    n_users: int = 200,
    posts_per_user: int = 60,
    tracks_per_genre: int = 40,
    seed: int = 0,
    mood_share: float = 0.5,
    posts_from: str = "nlpcc",
) -> Simulation:
    """``source``: NLPCC 2014's CSV (or folder), or the SMP2020-EWECT folder (``posts_from``)."""
    rng = np.random.default_rng(seed)
    corpus = held_out_posts(posts_from, Path(source))
    by_mood = {m: [p.text for p in corpus if p.mood == m] for m in MOODS}
    gaps = session_gaps(lastfm)
    truth = planted_tastes(n_users, rng, mood_share=mood_share)
    durations = rng.uniform(150, 330, size=(len(GENRES), tracks_per_genre))
    users = tuple(f"sim{i:06d}" for i in range(n_users))
    posts: list[Post] = []
    moods: list[str] = []
    listens: list[Listen] = []
    t0 = 1_700_000_000.0
    for ui, user in enumerate(users):
        mood_mix = rng.dirichlet(np.ones(len(MOODS)) * 2)
        clock = t0 + rng.uniform(0, 86400)
        for _ in range(posts_per_user):
            clock += rng.exponential(6 * 3600)
            mood = int(rng.choice(len(MOODS), p=mood_mix))
            texts = by_mood[MOODS[mood]]
            posts.append(Post(user, clock, texts[int(rng.integers(len(texts)))]))
            moods.append(MOODS[mood])
            if rng.random() > 0.8:
                continue  # not every post has music around it
            pref = truth[ui, mood]
            probs = np.exp(pref / 1.2)
            probs /= probs.sum()
            start = clock + rng.uniform(-25, 10) * 60
            for _ in range(int(rng.integers(2, 9))):
                g = int(rng.choice(len(GENRES), p=probs))
                t = int(rng.integers(tracks_per_genre))
                dur = float(durations[g, t])
                heard = dur * float(np.clip(rng.beta(1 + pref[g], 1 + (10 - pref[g]) / 2), 0.05, 1))
                listens.append(
                    Listen(user, f"{GENRES[g]}-{t:03d}", GENRES[g], start, start + heard, dur)
                )
                start += heard + float(rng.choice(gaps)) * 0.2
    return Simulation(posts, listens, users, truth.astype(np.float32), tuple(moods))


def write_simulation(sim: Simulation, out: Path) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "posts.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["user", "time", "text"])
        writer.writerows((p.user, f"{p.time:.0f}", p.text) for p in sim.posts)
    with open(out / "listens.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["user", "track_id", "genre", "started_at", "ended_at", "duration_s"])
        writer.writerows(
            (x.user, x.track_id, x.genre, f"{x.started_at:.1f}", f"{x.ended_at:.1f}",
             f"{x.duration_s:.1f}")
            for x in sim.listens
        )  # fmt: skip
    np.savez_compressed(
        out / "truth.npz", users=np.array(sim.users), truth=sim.truth,
        post_moods=np.array(sim.post_moods, dtype=str),
    )  # fmt: skip
