"""Derive the compact lexicon files shipped in ``mood/data`` from the original lexicons.

Run once by a maintainer (``moodspeaker-train taste lexicon``); the package then works
offline without the originals. Only the word, the mood it signals and its intensity are kept.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from device.errors import UserError

DATA_DIR = Path(__file__).parent / "data"

# DUTIR fine categories -> our moods (乐/好 -> happy; 哀/惧 -> sad; 怒/恶 -> angry; 惊 dropped).
DUTIR_TO_MOOD: dict[str, str] = {
    "PA": "happy", "PE": "happy", "PB": "happy", "PH": "happy", "PK": "happy",
    "PD": "happy", "PG": "happy",
    "NB": "sad", "NJ": "sad", "NH": "sad", "PF": "sad", "NI": "sad", "NC": "sad", "NG": "sad",
    "NA": "angry", "ND": "angry", "NN": "angry", "NE": "angry", "NK": "angry", "NL": "angry",
}  # fmt: skip

# NRC EmoLex categories -> our moods; the word's mood is the one with most categories.
NRC_TO_MOOD: dict[str, str] = {
    "joy": "happy", "sadness": "sad", "fear": "sad", "anger": "angry", "disgust": "angry",
}  # fmt: skip


def derive_dutir(src: Path, out: Path) -> int:
    """``word,category,intensity`` rows (categories that map to a mood) from DUTIR's CSV."""
    import pandas as pd

    try:
        table = pd.read_csv(src, keep_default_na=False, dtype=str)
    except (OSError, ValueError) as exc:
        raise UserError(f"{src}: cannot read DUTIR lexicon: {exc}") from None
    rows: dict[str, tuple[str, int]] = {}  # word -> (category, intensity)
    for word, cat, strength in zip(table["词语"], table["情感分类"], table["强度"], strict=True):
        cat, word = cat.strip(), word.strip()
        if cat not in DUTIR_TO_MOOD or not word:
            continue
        try:
            level = int(float(strength))
        except ValueError:
            continue
        if word not in rows or rows[word][1] < level:
            rows[word] = (cat, level)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["word", "category", "intensity"])
        for word in sorted(rows):
            writer.writerow([word, *rows[word]])
    return len(rows)


def derive_nrc(src: Path, out: Path) -> int:
    """``word,mood`` rows from the NRC word-level lexicon (word<TAB>category<TAB>0/1)."""
    votes: dict[str, Counter[str]] = {}
    try:
        with open(src, encoding="utf-8") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3 and parts[2] == "1" and parts[1] in NRC_TO_MOOD:
                    votes.setdefault(parts[0], Counter())[NRC_TO_MOOD[parts[1]]] += 1
    except OSError as exc:
        raise UserError(f"{src}: cannot read NRC lexicon: {exc}") from None
    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["word", "mood"])
        count = 0
        for word in sorted(votes):
            (mood, n), *rest = votes[word].most_common()
            if rest and rest[0][1] == n:
                continue  # ambiguous between two moods: not a clear signal
            writer.writerow([word, mood])
            count += 1
    return count
