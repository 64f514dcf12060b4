"""Which kind of music (valence x arousal) do people in each mood like? Emotify and MUMR.

This chooses the picker's day-one target per listener mood (``device.music.music_fit``), from
two public data sets in which people in a known mood rated music:

Emotify (Aljanaki et al. 2015): 8,407 annotations of 400 clips; the listener's mood before
  the game (1 very bad .. 5 very good; 1-2 sad, 3 neutral, 4-5 happy, as the taste prior
  maps it) and whether they liked (+1) or disliked (-1) the clip. A clip's valence and
  arousal come from what *all* its listeners felt (nine GEMS flags placed on Russell's
  plane, ``GEMS_VA``), so they do not depend on our audio model.
MUMR field study (Li et al.): 897 listens rated 1-5, the listener's valence and arousal
  before listening (mapped to moods as the taste prior does) and each track's Spotify
  valence and energy (rescaled to -1..1 as the track's valence and arousal).

For each listener mood the report gives (1) the mean score (Emotify: liked - disliked;
MUMR: rating minus that user's mean rating) per quadrant of the track's plane, with its
count, and (2) the least-squares slopes of the score on the track's standardised valence
and arousal, with bootstrap 95 % intervals: which direction on the plane people in that
mood liked more.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device.shared.errors import UserError
from device.shared.moods import MOODS
from trainer.taste.prior import mumr_mood

#: GEMS emotions on Russell's plane (valence, arousal), after Zentner et al. 2008 and the
#: Emotify paper's own grouping: vitality (joyful activation, power), unease (tension,
#: sadness) and sublimity (wonder, transcendence, tenderness, nostalgia, peacefulness).
GEMS_VA: dict[str, tuple[float, float]] = {
    "amazement": (0.5, 0.5),
    "solemnity": (0.0, -0.3),
    "tenderness": (0.6, -0.5),
    "nostalgia": (0.0, -0.5),
    "calmness": (0.5, -0.8),
    "power": (0.3, 0.8),
    "joyful_activation": (0.8, 0.6),
    "tension": (-0.7, 0.6),
    "sadness": (-0.7, -0.5),
}
EMOTIFY_MOODS = {1: "sad", 2: "sad", 3: "neutral", 4: "happy", 5: "happy"}
QUADRANT_NAMES = ("excited", "tense", "sad", "calm")  # +v+a, -v+a, -v-a, +v-a


def quadrant_of(valence: np.ndarray, arousal: np.ndarray) -> np.ndarray:
    v, a = np.asarray(valence) >= 0, np.asarray(arousal) >= 0
    return np.where(a, np.where(v, 0, 1), np.where(v, 3, 2))


def _slopes(v: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = np.column_stack([np.ones(len(y)), v, a])
    return np.linalg.lstsq(x, y, rcond=None)[0][1:]


@dataclass
class Table:
    """mood -> quadrant -> (mean score, count), and mood -> slopes with intervals."""

    source: str
    score: str
    cells: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    slopes: dict[str, tuple[np.ndarray, np.ndarray, int]] = field(default_factory=dict)

    def add(self, mood: np.ndarray, valence: np.ndarray, arousal: np.ndarray,
            score: np.ndarray, *, boots: int = 1000, seed: int = 0) -> None:
        quadrant = quadrant_of(valence, arousal)
        zv = (valence - valence.mean()) / valence.std()
        za = (arousal - arousal.mean()) / arousal.std()
        rng = np.random.default_rng(seed)
        for m in MOODS:
            row = []
            for q in range(4):
                sel = (mood == m) & (quadrant == q)
                n = int(sel.sum())
                row.append((float(score[sel].mean()) if n else float("nan"), n))
            self.cells[m] = row
            idx = np.flatnonzero(mood == m)
            if len(idx) >= 20:
                fit = _slopes(zv[idx], za[idx], score[idx])
                draws = [_slopes(zv[b], za[b], score[b])
                         for b in (rng.choice(idx, len(idx)) for _ in range(boots))]
                self.slopes[m] = (fit, np.percentile(draws, [2.5, 97.5], axis=0), len(idx))

    def markdown(self) -> str:
        head = "| listener's mood | " + " | ".join(QUADRANT_NAMES) + " |"
        lines = [f"{self.source}: mean {self.score} per track quadrant (n)", head,
                 "|---" * 5 + "|"]
        for m, row in self.cells.items():
            cells = " | ".join(f"{s:+.3f} ({n})" if n else "- (0)" for s, n in row)
            lines.append(f"| {m} | {cells} |")
        lines += ["", f"{self.source}: slope of {self.score} per standard deviation of the"
                  " track's valence / arousal [95 % bootstrap interval]",
                  "| listener's mood | n | valence | arousal |", "|---|---|---|---|"]
        for m, (fit, ci, n) in self.slopes.items():
            lines.append(f"| {m} | {n} | {fit[0]:+.3f} [{ci[0, 0]:+.3f}, {ci[1, 0]:+.3f}] |"
                         f" {fit[1]:+.3f} [{ci[0, 1]:+.3f}, {ci[1, 1]:+.3f}] |")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {
            "quadrants": {m: {QUADRANT_NAMES[q]: {"mean": round(s, 4), "n": n}
                              for q, (s, n) in enumerate(row)}
                          for m, row in self.cells.items()},
            "slopes": {m: {"n": n, "valence": round(float(f[0]), 4),
                           "arousal": round(float(f[1]), 4),
                           "valence_ci": [round(float(x), 4) for x in ci[:, 0]],
                           "arousal_ci": [round(float(x), 4) for x in ci[:, 1]]}
                       for m, (f, ci, n) in self.slopes.items()},
        }


def emotify(folder: Path) -> Table:
    path = folder / "annotations.csv"
    try:
        with open(path, encoding="utf-8") as fh:
            rows = [{k.strip(): v.strip() for k, v in r.items()}
                    for r in csv.DictReader(fh, skipinitialspace=True)]
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    tracks = np.array([r["track id"] for r in rows])
    flags = np.array([[float(r[g]) for g in GEMS_VA] for r in rows])
    place = np.array(list(GEMS_VA.values()))
    # A clip's felt (valence, arousal): the mean placement of everything its listeners felt.
    va = {}
    for t in np.unique(tracks):
        f = flags[tracks == t].sum(axis=0)
        va[t] = (f @ place) / max(f.sum(), 1.0)
    v = np.array([va[t][0] for t in tracks])
    a = np.array([va[t][1] for t in tracks])
    # Centre each axis on the clips' median so that "high" and "low" split the set.
    v = v - np.median([x[0] for x in va.values()])
    a = a - np.median([x[1] for x in va.values()])
    mood = np.array([EMOTIFY_MOODS[int(r["mood"])] for r in rows])
    score = np.array([int(r["liked"]) - int(r["disliked"]) for r in rows], dtype=float)
    table = Table("Emotify (8,407 annotations, 400 clips)", "liked - disliked")
    table.add(mood, v, a, score)
    return table


def mumr(folder: Path) -> Table:
    study, meta = folder / "field_study", folder / "music_metadata"
    try:
        inter = json.loads((study / "interaction.json").read_text())
        label = json.loads((study / "label.json").read_text())
        with open(meta / "music_info.csv", encoding="utf-8") as fh:
            info = {str(int(float(r["i_id_c"]))): (float(r["valence"]), float(r["energy"]))
                    for r in csv.DictReader(fh) if r["valence"] and r["energy"]}
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"{folder}: cannot read the MUMR field study: {exc}") from None
    users, moods, v, a, rating = [], [], [], [], []
    for rid, (uid, mid) in inter.items():
        key = str(int(mid))
        if key not in info:
            continue
        r, pre_v, pre_a = label[rid][:3]
        users.append(uid)
        moods.append(mumr_mood(pre_v, pre_a))
        v.append(2 * info[key][0] - 1)
        a.append(2 * info[key][1] - 1)
        rating.append(float(r))
    users_a, rating_a = np.array(users), np.array(rating)
    centred = rating_a.copy()
    for u in np.unique(users_a):
        centred[users_a == u] -= rating_a[users_a == u].mean()
    table = Table(f"MUMR field study ({len(rating)} listens)", "rating - user's mean")
    table.add(np.array(moods), np.array(v), np.array(a), centred)
    return table


def study(emotify_dir: Path, mumr_dir: Path) -> dict[str, Table]:
    return {"emotify": emotify(emotify_dir), "mumr": mumr(mumr_dir)}
