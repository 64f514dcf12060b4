"""``taste prior``: a population prior (4 moods x 7 genres, 0-10) learned from public data.

The shipped default ``models/taste.npz`` has no users: every listener is "new", so the
prior *is* the speaker's taste model until someone runs ``taste build``. It is learned from
three real data sets in ``../shared/data`` in which people rated music while in a known
mood; moods and genres are mapped onto ours as follows (genres through the speaker's own
alias table, :class:`device.shared.genres.GenreMapper`, so trainer and speaker agree):

InCarMusic (Baltrunas et al. 2011): ratings 0-5 (x2 -> 0-10) of 139 tracks in 10 genres;
  406 rows carry a mood. Moods: happy -> happy, sad -> sad, active -> happy (aroused,
  positive), lazy -> neutral (low arousal, no valence). Genres (alias table): Blues -> jazz,
  Classical -> classical, Country -> folk, Disco -> pop, Hip Hop -> rap, Jazz -> jazz,
  Metal -> rock, Pop -> pop, Reggae -> pop, Rock -> rock. The 3,606 rows without a mood only
  inform the genre main effect and the users' means.
Emotify (Aljanaki et al. 2015): 8,407 annotations of 60-s clips of classical, electronic
  (alias table: pop), pop, rock; the listener's mood before the game, 1 (very bad) to 5
  (very good) -> 1-2 sad, 3 neutral, 4-5 happy; the score is ``5 + 5 (liked - disliked)``
  (10 liked, 0 disliked, 5 neither). No listener id: centred on the data set's mean.
MUMR field study (Li et al.): 897 listens rated 1-5 (-> 0-10 as ``2.5 (r - 1)``) with the
  mood *before* listening as valence / arousal in [-1, 1] (Russell's circumplex):
  valence >= 0.2 happy; valence <= -0.2 with arousal > 0 angry, else sad; otherwise
  neutral. Genres from ``music_info.csv`` ``general_genre`` through the alias table
  (rock, indie, alternative, metal -> rock; pop, rnb, electronic, reggae -> pop;
  hip-hop -> rap; jazz -> jazz; country -> folk; new age -> light; "other" is unmapped and
  counted).

Model (evidence-weighted shrinkage on user-centred scores): every row becomes a residual
``r = score - mean of that user`` (Emotify: minus the data set mean), so a harsh rater or a
data set's scale does not leak into the genre contrasts. Then, with pseudo-count ``k``,

    genre effect   a_g  = sum_g r / (n_g + k)                       (all rows, any mood)
    mood effect    b_e  = sum_e (r - a_g) / (n_e + k)                (rows with a mood)
    interaction    c_eg = sum_eg (r - a_g - b_e) / (n_eg + k)
    prior[e, g]    = level + a_g + c_eg

The mood main effect ``b_e`` (people in a bad mood rate *everything* lower) is removed, not
shipped: the speaker only needs the ranking of genres within a mood, and the equation-1
preferences that later replace the prior are normalised per (user, mood) anyway.
``level`` is the row-weighted mean score of all rows on 0-10. A cell without data falls
back to ``level + a_g`` (mood-blind), a genre without data to ``level``. Evidence counts per
cell and source, and a standard error per cell, are kept beside the values.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.shared.errors import UserError
from device.shared.genres import GENRES, GenreMapper
from device.shared.moods import MOODS

from .export import TasteArtifact

SOURCES = ("incarmusic", "emotify", "mumr")
INCAR_MOODS = {"happy": "happy", "sad": "sad", "active": "happy", "lazy": "neutral"}
EMOTIFY_MOODS = {1: "sad", 2: "sad", 3: "neutral", 4: "happy", 5: "happy"}


@dataclass(frozen=True)
class Rows:
    """Ratings from one source on 0-10; ``mood`` is -1 where the row has none."""

    source: str
    user: np.ndarray  # (R,) str; "" = no listener id
    mood: np.ndarray  # (R,) int
    genre: np.ndarray  # (R,) int
    score: np.ndarray  # (R,) float, 0-10
    unmapped: dict[str, int]


def _genre_codes(raw: list[str], mapper: GenreMapper) -> np.ndarray:
    return np.array([GENRES.index(g) if (g := mapper.map(t)) else -1 for t in raw])


def mumr_mood(valence: float, arousal: float, t: float = 0.2) -> str:
    """A MUMR listener's valence/arousal before listening, as one of our moods."""
    if valence >= t:
        return "happy"
    if valence <= -t:
        return "angry" if arousal > 0 else "sad"
    return "neutral"


def _finish(source, user, mood, genre, score, raw_genres) -> Rows:
    genre = np.asarray(genre)
    bad = genre < 0
    unmapped: dict[str, int] = {}
    for tag in np.asarray(raw_genres, dtype=str)[bad]:
        unmapped[str(tag)] = unmapped.get(str(tag), 0) + 1
    keep = ~bad
    return Rows(
        source, np.asarray(user, dtype=str)[keep], np.asarray(mood)[keep], genre[keep],
        np.asarray(score, dtype=float)[keep], unmapped,
    )  # fmt: skip


def _need(path: Path) -> Path:
    if not path.exists():
        raise UserError(f"{path}: not found (expected the shared data layout)")
    return path


def read_incarmusic(folder: Path, mapper: GenreMapper) -> Rows:
    with open(_need(folder / "Music_Category.csv"), encoding="utf-8") as fh:
        category = {r[0].strip(): r[1].strip() for r in csv.reader(fh) if len(r) >= 2}
    with open(_need(folder / "Music_Track.csv"), encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, skipinitialspace=True))
    track_genre = {r["id"].strip(): category.get(r["category_id"].strip(), "") for r in rows}
    user, mood, raw, score = [], [], [], []
    with open(_need(folder / "ContextualRating.csv"), encoding="utf-8") as fh:
        reader = csv.DictReader(fh, skipinitialspace=True)
        reader.fieldnames = [f.strip() for f in reader.fieldnames or []]
        for r in reader:
            tag = track_genre.get(r["ItemID"].strip(), "")
            user.append("incar:" + r["UserID"].strip())
            m = INCAR_MOODS.get(r["mood"].strip())
            mood.append(MOODS.index(m) if m else -1)
            raw.append(tag.replace(" music", ""))
            score.append(2.0 * float(r["Rating"]))
    return _finish("incarmusic", user, mood, _genre_codes(raw, mapper), score, raw)


def read_emotify(folder: Path, mapper: GenreMapper) -> Rows:
    mood, raw, score = [], [], []
    with open(_need(folder / "annotations.csv"), encoding="utf-8") as fh:
        for r in csv.DictReader(fh, skipinitialspace=True):
            r = {k.strip(): v.strip() for k, v in r.items()}
            mood.append(MOODS.index(EMOTIFY_MOODS[int(r["mood"])]))
            raw.append(r["genre"])
            score.append(5.0 + 5.0 * (int(r["liked"]) - int(r["disliked"])))
    user = [""] * len(score)
    return _finish("emotify", user, mood, _genre_codes(raw, mapper), score, raw)


def read_mumr(folder: Path, mapper: GenreMapper) -> Rows:
    study, meta = folder / "field_study", folder / "music_metadata"
    inter = json.loads(_need(study / "interaction.json").read_text())
    label = json.loads(_need(study / "label.json").read_text())
    with open(_need(meta / "music_info.csv"), encoding="utf-8") as fh:
        tags = {str(int(float(r["i_id_c"]))): r["general_genre"] for r in csv.DictReader(fh)}
    user, mood, raw, score = [], [], [], []
    for rid, (uid, mid) in inter.items():
        rating, valence, arousal = label[rid][:3]
        user.append(f"mumr:{uid}")
        mood.append(MOODS.index(mumr_mood(valence, arousal)))
        raw.append(tags.get(str(int(mid)), ""))
        score.append(2.5 * (float(rating) - 1.0))
    return _finish("mumr", user, mood, _genre_codes(raw, mapper), score, raw)


READERS = {
    "incarmusic": ("incarmusic", read_incarmusic),
    "emotify": ("emotify_sample", read_emotify),
    "mumr": ("mumr_field_study", read_mumr),
}


def read_sources(data: Path, mapper: GenreMapper | None = None) -> list[Rows]:
    mapper = mapper or GenreMapper()
    return [read(Path(data) / folder, mapper) for folder, read in READERS.values()]


@dataclass(frozen=True)
class Prior:
    values: np.ndarray  # (E, G) 0-10
    evidence: np.ndarray  # (E, G) rows behind each cell (all sources)
    evidence_by_source: dict[str, np.ndarray]  # source -> (E, G)
    genre_evidence: np.ndarray  # (G,) rows behind each genre effect (incl. mood-less rows)
    stderr: np.ndarray  # (E, G) standard error of each value
    genre_effect: np.ndarray  # (G,) a_g, the mood-blind part
    level: float
    k: float
    unmapped: dict[str, dict[str, int]]

    def info(self) -> dict:
        def grid(a: np.ndarray) -> dict:
            return {
                m: dict(zip(GENRES, row.astype(int).tolist(), strict=True))
                for m, row in zip(MOODS, a, strict=True)
            }

        return {
            "source": "moodspeaker-train taste prior (population prior only, no users)",
            "users": 0,
            "prior_data": {
                "incarmusic": "Baltrunas et al. 2011, InCarMusic (mood rows + genre means)",
                "emotify": "Aljanaki et al. 2015, Emotify annotations (prior mood, liked)",
                "mumr": "Li et al., MUMR field study (valence/arousal before, rating)",
            },
            "prior_level": round(self.level, 3),
            "prior_k": self.k,
            "prior_evidence": grid(self.evidence),
            "prior_genre_evidence": {
                g: int(n) for g, n in zip(GENRES, self.genre_evidence, strict=True)
            },
            "prior_unmapped_genres": self.unmapped,
        }

    def details(self) -> dict:
        """The manifest info plus per-source evidence and standard errors (for reports)."""
        grid = self.info()
        return {
            **grid,
            "prior": {m: dict(zip(GENRES, np.round(row, 3).tolist(), strict=True))
                      for m, row in zip(MOODS, self.values, strict=True)},
            "prior_stderr": {m: dict(zip(GENRES, np.round(row, 3).tolist(), strict=True))
                             for m, row in zip(MOODS, self.stderr, strict=True)},
            "prior_evidence_by_source": {
                s: {m: dict(zip(GENRES, row.astype(int).tolist(), strict=True))
                    for m, row in zip(MOODS, a, strict=True)}
                for s, a in self.evidence_by_source.items()
            },
            "genre_effect": dict(zip(GENRES, np.round(self.genre_effect, 3).tolist(), strict=True)),
        }  # fmt: skip


def fit_prior(sources: list[Rows], k: float = 20.0) -> Prior:
    """Evidence-weighted shrinkage (module docstring) over user-centred scores."""
    E, G = len(MOODS), len(GENRES)
    resid, moods, genres, src = [], [], [], []
    level_sum = level_n = 0.0
    for rows in sources:
        score = rows.score
        _, inv = np.unique(rows.user, return_inverse=True)
        means = np.bincount(inv, weights=score) / np.bincount(inv)
        centred = score - means[inv]
        resid.append(centred)
        moods.append(rows.mood)
        genres.append(rows.genre)
        src.append(np.full(len(score), rows.source))
        level_sum += score.sum()
        level_n += len(score)
    r, e, g, s = (np.concatenate(x) for x in (resid, moods, genres, src))
    if r.size == 0:
        raise UserError("no ratings read: cannot learn a population prior")
    level = level_sum / level_n
    n_g = np.bincount(g, minlength=G).astype(float)
    a = np.bincount(g, weights=r, minlength=G) / (n_g + k)
    has = e >= 0
    r1 = r[has] - a[g[has]]
    e1, g1 = e[has], g[has]
    n_e = np.bincount(e1, minlength=E).astype(float)
    b = np.bincount(e1, weights=r1, minlength=E) / (n_e + k)
    r2 = r1 - b[e1]
    cell = e1 * G + g1
    n_eg = np.bincount(cell, minlength=E * G).astype(float).reshape(E, G)
    c = (np.bincount(cell, weights=r2, minlength=E * G).reshape(E, G)) / (n_eg + k)
    values = np.clip(level + a[None, :] + c, 0.0, 10.0)
    # Standard error of a_g + c_eg: residual spread over the effective count (shrinkage only
    # lowers it, so this is conservative for well-observed cells).
    sd = float(np.sqrt(np.mean(r2**2))) if r2.size else 0.0
    stderr = sd * np.sqrt(1.0 / (n_g[None, :] + k) + 1.0 / (n_eg + k))
    by_source = {}
    for name in dict.fromkeys(s.tolist()):
        mine = s[has] == name
        by_source[name] = np.bincount(cell[mine], minlength=E * G).reshape(E, G)
    return Prior(
        values=values.astype(np.float32), evidence=n_eg.astype(np.float32),
        evidence_by_source=by_source, genre_evidence=n_g, stderr=stderr.astype(np.float32),
        genre_effect=a, level=float(level), k=k, unmapped={x.source: x.unmapped for x in sources},
    )  # fmt: skip


def prior_artifact(prior: Prior):
    """A users-free taste artifact: the prior is every listener's table."""
    E, G = len(MOODS), len(GENRES)
    arrays = {
        "users": np.array([], dtype=str),
        "preferences": np.zeros((0, E, G), dtype=np.float32),
        "evidence": np.zeros((0, E, G), dtype=np.float32),
        "prior": prior.values,
        "prior_evidence": prior.evidence,
        "prior_stderr": prior.stderr,
    }
    return TasteArtifact(arrays, prior.info())


def table(prior: Prior) -> str:
    """Markdown: value (evidence) per cell, then the standard errors."""
    head = "| mood | " + " | ".join(GENRES) + " |\n|---|" + "---|" * len(GENRES) + "\n"
    lines = [
        f"| {m} | "
        + " | ".join(
            f"{prior.values[i, j]:.2f} ({int(prior.evidence[i, j])})" for j in range(len(GENRES))
        )
        + " |"
        for i, m in enumerate(MOODS)
    ]
    genre = "| genre rows (any mood) | " + " | ".join(str(int(n)) for n in prior.genre_evidence)
    return head + "\n".join(lines) + "\n" + genre + " |\n"


def _subset(rows: Rows, keep: np.ndarray) -> Rows:
    return Rows(rows.source, rows.user[keep], rows.mood[keep], rows.genre[keep],
                rows.score[keep], rows.unmapped)  # fmt: skip


def cross_validate(sources: list[Rows], k: float = 20.0, folds: int = 5, seed: int = 0) -> dict:
    """Is there signal? Held-out MSE on the rows with a mood (k-fold over rows, fixed seed)
    of: the user's (or data set's) mean alone; + the genre effect (mood-blind); + the mood x
    genre interaction (the shipped prior). Per source and pooled."""
    rng = np.random.default_rng(seed)
    parts = [rng.permutation(len(x.score)) % folds for x in sources]
    names = ("user_mean", "genre", "mood_x_genre")
    sq = {x.source: dict.fromkeys(names, 0.0) for x in sources}
    count = dict.fromkeys((x.source for x in sources), 0)
    for f in range(folds):
        prior = fit_prior([_subset(x, p != f) for x, p in zip(sources, parts, strict=True)], k)
        for x, p in zip(sources, parts, strict=True):
            train, test = p != f, (p == f) & (x.mood >= 0)
            users, inv = np.unique(x.user[train], return_inverse=True)
            means = np.bincount(inv, weights=x.score[train]) / np.bincount(inv)
            mean = dict(zip(users.tolist(), means.tolist(), strict=True))
            base = np.array([mean.get(u, prior.level) for u in x.user[test].tolist()])
            y, e, g = x.score[test], x.mood[test], x.genre[test]
            preds = {
                "user_mean": base,
                "genre": base + prior.genre_effect[g],
                "mood_x_genre": base + prior.values[e, g] - prior.level,
            }
            for name, pred in preds.items():
                sq[x.source][name] += float(((y - np.clip(pred, 0, 10)) ** 2).sum())
            count[x.source] += int(test.sum())
    out = {
        s: {**{n: round(v / max(count[s], 1), 4) for n, v in d.items()}, "rows": count[s]}
        for s, d in sq.items()
    }
    total = sum(count.values())
    pooled = {n: round(sum(sq[s][n] for s in sq) / max(total, 1), 4) for n in names}
    out["pooled"] = {**pooled, "rows": total}
    return {"k": k, "folds": folds, "seed": seed, "mse": out}


def plot(prior: Prior, path: Path) -> None:
    """Heat map of the prior, each cell annotated with its value and evidence."""
    import matplotlib  # heavy (matplotlib, ~0.3 s): only the plots need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg"): no display

    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    im = ax.imshow(prior.values, cmap="viridis", vmin=4, vmax=7.5)
    ax.set_xticks(range(len(GENRES)), GENRES)
    ax.set_yticks(range(len(MOODS)), MOODS)
    for i in range(len(MOODS)):
        for j in range(len(GENRES)):
            ax.text(j, i, f"{prior.values[i, j]:.2f}\nn={int(prior.evidence[i, j])}",
                    ha="center", va="center", fontsize=7, color="w")  # fmt: skip
    fig.colorbar(im, ax=ax, label="prior (0-10)")
    ax.set_title("Population prior (InCarMusic + Emotify + MUMR), n = rows in the cell")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
