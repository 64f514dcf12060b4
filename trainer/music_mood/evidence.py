"""Which kind of music (valence x arousal) do people in each mood like? Emotify and MUMR.

This chooses the picker's day-one target per listener mood (``device.music_fit``), from
two public data sets in which people in a known mood rated music:

Emotify (Aljanaki et al. 2015): 8,407 annotations of 400 clips; the listener's mood before
  the game (1 very bad .. 5 very good; 1-2 sad, 3 neutral, 4-5 happy, as the taste prior
  maps it) and whether they liked (+1) or disliked (-1) the clip. A clip's valence and
  arousal come from what *all* its listeners felt (nine GEMS flags placed on Russell's
  plane, ``GEMS_VA``), so they do not depend on our audio model.
MUMR field study (Li et al.): 897 listens rated 1-5, the listener's valence and arousal
  before listening (mapped to moods as the taste prior does) and each track's Spotify
  valence and energy (rescaled to -1..1 as the track's valence and arousal).

For each mood and each quadrant of the track's plane the report gives the mean score
(Emotify: liked - disliked; MUMR: rating minus that user's mean rating) and its count.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device.errors import UserError
from device.moods import MOODS

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


def mumr_mood(valence: float, arousal: float, t: float = 0.2) -> str:
    """The taste prior's mapping of a MUMR listener's state to our moods."""
    if valence >= t:
        return "happy"
    if valence <= -t:
        return "angry" if arousal > 0 else "sad"
    return "neutral"


@dataclass
class Table:
    """mood -> quadrant -> (mean score, count)."""

    source: str
    score: str
    cells: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    def add(self, mood: np.ndarray, quadrant: np.ndarray, score: np.ndarray) -> None:
        for m in MOODS:
            row = []
            for q in range(4):
                sel = (mood == m) & (quadrant == q)
                n = int(sel.sum())
                row.append((float(score[sel].mean()) if n else float("nan"), n))
            self.cells[m] = row

    def best(self, mood: str, min_n: int = 20) -> int | None:
        row = [(s if n >= min_n else -np.inf) for s, n in self.cells.get(mood, [])]
        return int(np.argmax(row)) if row and np.isfinite(max(row)) else None

    def markdown(self) -> str:
        head = "| listener's mood | " + " | ".join(QUADRANT_NAMES) + " | best |"
        lines = [f"{self.source}: mean {self.score} per track quadrant (n)", head,
                 "|---" * 6 + "|"]
        for m, row in self.cells.items():
            cells = " | ".join(f"{s:+.3f} ({n})" if n else "- (0)" for s, n in row)
            b = self.best(m)
            lines.append(f"| {m} | {cells} | {QUADRANT_NAMES[b] if b is not None else '-'} |")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {m: {QUADRANT_NAMES[q]: {"mean": round(s, 4), "n": n}
                    for q, (s, n) in enumerate(row)} for m, row in self.cells.items()}


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
    # Centre each clip's axes on the clip median so that "high" and "low" split the set.
    v, a = v - np.median(list(x[0] for x in va.values())), a - np.median(
        list(x[1] for x in va.values()))
    mood = np.array([EMOTIFY_MOODS[int(r["mood"])] for r in rows])
    score = np.array([int(r["liked"]) - int(r["disliked"]) for r in rows], dtype=float)
    table = Table("Emotify (8,407 annotations, 400 clips)", "liked - disliked")
    table.add(mood, quadrant_of(v, a), score)
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
    table = Table("MUMR field study (897 listens)", "rating - user's mean")
    table.add(np.array(moods), quadrant_of(np.array(v), np.array(a)), centred)
    return table


def study(emotify_dir: Path, mumr_dir: Path) -> dict[str, Table]:
    return {"emotify": emotify(emotify_dir), "mumr": mumr(mumr_dir)}
