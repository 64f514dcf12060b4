"""Read the labelled post corpora and map each one's labels to the four moods.

One table per corpus (``*_TO_MOOD``). A post whose labels name two or more *different*
emotional moods is left out (it has no single mood); labels that map to neutral (surprise,
no emotion) give way to an emotional one beside them. Malformed rows (a bad label, a
missing column) are recorded in ``Skipped`` with the file and line, and skipped.

Splits (``read_corpus``): NLPCC 2014 ``fit`` = even rows, ``test`` = odd rows; SMP2020
``train`` / ``usual_eval`` / ``virus_eval`` / ``usual_test`` / ``virus_test``; NLPCC 2018
code-switching ``train`` / ``dev`` (evaluation only: never fitted or tuned on); GoEmotions
``train`` / ``dev`` / ``test``.
"""

from __future__ import annotations

import csv
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from device.shared.errors import UserError

NLPCC_TO_MOOD: dict[str, str] = {
    "like": "happy", "happiness": "happy", "sadness": "sad", "fear": "sad",
    "anger": "angry", "disgust": "angry", "none": "neutral", "surprise": "neutral",
}  # fmt: skip
SMP_TO_MOOD: dict[str, str] = {
    "happy": "happy", "sad": "sad", "fear": "sad", "angry": "angry",
    "neutral": "neutral", "surprise": "neutral",
}  # fmt: skip
# The code-switching set flags five emotions per post; none set means no emotion.
CODESWITCH_TO_MOOD: dict[str, str] = {
    "Happiness": "happy", "Sadness": "sad", "Fear": "sad", "Anger": "angry",
    "Surprise": "neutral",
}  # fmt: skip
GOEMOTIONS_TO_MOOD: dict[str, str] = {
    **dict.fromkeys(("admiration", "amusement", "approval", "caring", "desire", "excitement",
                     "gratitude", "joy", "love", "optimism", "pride", "relief"), "happy"),
    **dict.fromkeys(("sadness", "grief", "disappointment", "remorse", "fear",
                     "nervousness", "embarrassment"), "sad"),
    **dict.fromkeys(("anger", "annoyance", "disgust", "disapproval"), "angry"),
    **dict.fromkeys(("neutral", "surprise", "realization", "curiosity", "confusion"),
                    "neutral"),
}  # fmt: skip
CORPORA: dict[str, tuple[str, ...]] = {
    "nlpcc": ("fit", "test"),
    "smp": ("train", "usual_eval", "virus_eval", "usual_test", "virus_test"),
    "nlpcc2018": ("train", "dev"),
    "goemotions": ("train", "dev", "test"),
}
#: Each corpus's folder in the shared data folder.
ROOTS = {"nlpcc": "nlpcc2014_weibo_emotion", "smp": "smp2020_ewect",
         "nlpcc2018": "nlpcc2018_codeswitch", "goemotions": "goemotions"}  # fmt: skip
_HAN_SPACE = re.compile(r"(?<=[^\x00-\x7f]) +(?=[^\x00-\x7f])")


@dataclass(frozen=True)
class LabelledPost:
    id: str
    text: str
    mood: str


@dataclass
class Skipped:
    """Rows left out while reading: ``file:line: why`` for malformed ones, a count for
    posts whose labels span several moods."""

    malformed: list[str] = field(default_factory=list)
    mixed: int = 0

    def bad(self, path: Path, line: int, why: str) -> None:
        self.malformed.append(f"{path}:{line}: {why}")


def merge_moods(moods: list[str]) -> str | None:
    """One mood from a post's mapped labels; None when two emotional moods disagree."""
    emotional = {m for m in moods if m != "neutral"}
    if len(emotional) > 1:
        return None
    return emotional.pop() if emotional else "neutral"


def _open_rows(path: Path, what: str, **kw) -> list[tuple[int, dict[str, str]]]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return list(enumerate(csv.DictReader(fh, **kw), start=2))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read {what}: {exc}") from None


def read_nlpcc(path: Path, skipped: Skipped | None = None) -> list[LabelledPost]:
    """NLPCC 2014 ``id,text,primary,secondary`` (file or its directory); by ``primary``."""
    path = Path(path)
    if path.is_dir():
        path = path / "weibo_emotion.csv"
    skipped = skipped if skipped is not None else Skipped()
    posts = []
    for line, row in _open_rows(path, "NLPCC 2014 posts"):
        label = (row.get("primary") or "").strip()
        if label not in NLPCC_TO_MOOD or row.get("text") is None:
            skipped.bad(path, line, f"unknown NLPCC label {label!r}")
            continue
        posts.append(LabelledPost(row.get("id") or str(line), row["text"], NLPCC_TO_MOOD[label]))
    return posts


def read_smp(path: Path, skipped: Skipped | None = None) -> list[LabelledPost]:
    """SMP2020-EWECT ``text,label[,subset]`` or ``id,text,label``."""
    skipped = skipped if skipped is not None else Skipped()
    posts = []
    for line, row in _open_rows(Path(path), "SMP2020-EWECT posts"):
        label = (row.get("label") or "").strip()
        if label not in SMP_TO_MOOD or row.get("text") is None:
            skipped.bad(Path(path), line, f"unknown SMP2020 label {label!r}")
            continue
        posts.append(LabelledPost(row.get("id") or str(line), row["text"], SMP_TO_MOOD[label]))
    return posts


_TWEET = re.compile(r"<Tweet id=\"([^\"]*)\">(.*?)</Tweet>", re.S)
_FIELD = re.compile(r"<(\w+)>\s*(.*?)\s*</\1>", re.S)


def unsegment(text: str) -> str:
    """Undo the code-switching set's word segmentation: no spaces between Chinese
    characters or full-width punctuation (real posts have none); entities decoded."""
    text = html.unescape(text.replace("& # ", "&#").replace(" ;", ";"))
    return _HAN_SPACE.sub("", " ".join(text.split()))


def read_codeswitch(path: Path, skipped: Skipped | None = None) -> list[LabelledPost]:
    """NLPCC 2018 ``<Tweet id>`` blocks with T/F emotion flags and ``<Content>``."""
    path = Path(path)
    skipped = skipped if skipped is not None else Skipped()
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read NLPCC 2018 posts: {exc}") from None
    posts, line, at = [], 1, 0
    for match in _TWEET.finditer(raw):
        line, at = line + raw.count("\n", at, match.start()), match.start()
        fields = dict(_FIELD.findall(match.group(2)))
        flags = {k: fields.get(k) for k in CODESWITCH_TO_MOOD}
        if "Content" not in fields or any(v not in ("T", "F") for v in flags.values()):
            skipped.bad(path, line, "a tweet without T/F flags for "
                        f"{', '.join(CODESWITCH_TO_MOOD)} or without <Content>")  # fmt: skip
            continue
        mood = merge_moods([CODESWITCH_TO_MOOD[k] for k, v in flags.items() if v == "T"])
        if mood is None:
            skipped.mixed += 1
            continue
        posts.append(LabelledPost(match.group(1), unsegment(fields["Content"]), mood))
    return posts


def goemotions_labels(path: Path) -> list[str]:
    names = (Path(path).parent / "labels.txt").read_text(encoding="utf-8").split()
    if set(names) != set(GOEMOTIONS_TO_MOOD):
        raise UserError(f"{Path(path).parent / 'labels.txt'}: not the 28 GoEmotions labels")
    return names


def read_goemotions(path: Path, skipped: Skipped | None = None) -> list[LabelledPost]:
    """GoEmotions ``text<TAB>label ids<TAB>comment id``; names from ``labels.txt``."""
    path = Path(path)
    skipped = skipped if skipped is not None else Skipped()
    try:
        names = goemotions_labels(path)
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read GoEmotions comments: {exc}") from None
    posts = []
    for line, raw in enumerate(lines, start=1):
        parts = raw.split("\t")
        try:
            ids = [int(i) for i in parts[1].split(",")] if len(parts) == 3 else []
            moods = [GOEMOTIONS_TO_MOOD[names[i]] for i in ids]
        except (ValueError, IndexError):
            moods = []
        if not moods:
            skipped.bad(path, line, "expected text<TAB>label ids<TAB>id with ids 0-27")
            continue
        mood = merge_moods(moods)
        if mood is None:
            skipped.mixed += 1
            continue
        posts.append(LabelledPost(parts[2], parts[0], mood))
    return posts


EMOINT_TO_MOOD: dict[str, str] = {"joy": "happy", "sadness": "sad", "anger": "angry"}
#: EmoInt tweets below this intensity are left out: the set has no neutral label, and a
#: tweet from the anger file rated 0.2 ("IT'S GAME DAY!!!!") shows no clear mood.
EMOINT_MIN_INTENSITY = 0.5


def read_emoint(root: Path, split: str, skipped: Skipped | None = None) -> list[LabelledPost]:
    """WASSA-2017 EmoInt tweets (``id<TAB>text<TAB>emotion<TAB>intensity``, one file per
    emotion and split: ``train``, ``dev``, ``test``): the emotion's mood for tweets rated
    at least ``EMOINT_MIN_INTENSITY``; a text in two emotions' files is left out (mixed).
    English tweets with anger, joy and sadness only: no neutral posts."""
    skipped = skipped if skipped is not None else Skipped()
    rows: dict[str, tuple[str, set[str]]] = {}
    for emotion, mood in EMOINT_TO_MOOD.items():
        name = f"{emotion}-ratings-0to1.{split}{'' if split == 'train' else '.gold'}.txt"
        path = Path(root) / name
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: cannot read EmoInt tweets: {exc}") from None
        for line, raw in enumerate(lines, start=1):
            parts = raw.split("\t")
            try:
                intensity = float(parts[3])
            except (IndexError, ValueError):
                skipped.bad(path, line, "expected id<TAB>text<TAB>emotion<TAB>intensity")
                continue
            if intensity >= EMOINT_MIN_INTENSITY:
                rows.setdefault(parts[1], (parts[0], set()))[1].add(mood)
    posts = []
    for text, (tid, moods) in rows.items():
        if len(moods) > 1:
            skipped.mixed += 1
            continue
        posts.append(LabelledPost(tid, text, moods.pop()))
    return posts


def _file(corpus: str, root: Path, split: str) -> Path:
    if corpus == "nlpcc":
        return root if root.is_file() else root / "weibo_emotion.csv"
    return root / {"smp": f"{split}.csv", "nlpcc2018": f"{split}.xml",
                   "goemotions": f"{split}.tsv"}[corpus]  # fmt: skip


def read_corpus(
    corpus: str, root: Path, split: str, skipped: Skipped | None = None
) -> list[LabelledPost]:
    """One split of one corpus from its directory (NLPCC 2014: its CSV or directory)."""
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; one of {', '.join(CORPORA)}")
    if split not in CORPORA[corpus] and not (corpus == "nlpcc" and split == "all"):
        raise ValueError(f"unknown {corpus} split {split!r}; one of {', '.join(CORPORA[corpus])}")
    path = _file(corpus, Path(root), split)
    if corpus == "nlpcc":
        posts = read_nlpcc(path, skipped)
        return {"fit": posts[0::2], "test": posts[1::2], "all": posts}[split]
    reader = {"smp": read_smp, "nlpcc2018": read_codeswitch, "goemotions": read_goemotions}
    return reader[corpus](path, skipped)


def read_split(path: Path, split: str) -> list[LabelledPost]:
    """NLPCC 2014: ``fit`` (even rows), ``test`` (odd rows, held out) or ``all``."""
    if split not in ("fit", "test", "all"):
        raise ValueError(f"unknown NLPCC split {split!r}")
    return read_corpus("nlpcc", Path(path), split)
