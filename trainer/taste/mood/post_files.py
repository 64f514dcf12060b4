"""``taste mood --posts FILE --json OUT``: posts in, one JSON line of mood per post out.

FILE is a CSV with a header or JSON lines, with a ``text`` field and an optional ``id``
(default: the post's line number); any other file ``taste build`` reads (a Mastodon
outbox, an X/Twitter archive, ...) goes through its importers, ids being the post's order.
A row without text is reported by file and line and skipped; output keeps input order.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from device.shared.errors import UserError

from ..importers import read_posts
from ..records import ImportReport
from .classify import PostMoodClassifier


@dataclass(frozen=True)
class PostText:
    id: str
    text: str


def _csv_rows(path: Path, problems: list[str]) -> list[PostText]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if "text" not in (reader.fieldnames or []):
                raise UserError(f"{path}:1: no 'text' column (found {reader.fieldnames})")
            out = []
            for line, row in enumerate(reader, start=2):
                text = row.get("text")
                if not text or not text.strip():
                    problems.append(f"{path}:{line}: no text")
                    continue
                out.append(PostText((row.get("id") or "").strip() or str(line), text))
            return out
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read posts: {exc}") from None


def _jsonl_rows(path: Path, problems: list[str]) -> list[PostText]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read posts: {exc}") from None
    out = []
    for line, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError:
            problems.append(f"{path}:{line}: not a JSON object")
            continue
        text = row.get("text") if isinstance(row, dict) else None
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{path}:{line}: no text")
            continue
        out.append(PostText(str(row.get("id") or line), text))
    return out


def read_post_texts(path: Path, problems: list[str]) -> list[PostText]:
    """Posts of one file in order; skipped rows are appended to ``problems``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv" and not _is_build_csv(path):
        return _csv_rows(path, problems)
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl_rows(path, problems)

    report = ImportReport()
    posts = read_posts([path], report, user="posts", include_reposts=True)  # one owner
    problems.extend(report.skipped)
    return [PostText(str(i), p.text) for i, p in enumerate(posts, start=1)]


def _is_build_csv(path: Path) -> bool:
    """A CSV without a ``text`` column may still be one ``taste build`` reads (a Weibo
    crawler export): leave those to its importers."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read posts: {exc}") from None
    return "text" not in [h.strip() for h in header]


def classify_file(classifier: PostMoodClassifier, path: Path, out: Path) -> tuple[int, list[str]]:
    """Write ``{"id", "mood", "probabilities", "language"}`` per post to ``out``."""
    problems: list[str] = []
    posts = read_post_texts(path, problems)
    results = classifier.classify_many([p.text for p in posts])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for post, r in zip(posts, results, strict=True):
            probs = {k: round(v, 4) for k, v in r.probabilities.items()}
            row = {"id": post.id, "mood": r.mood, "probabilities": probs, "language": r.language}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(posts), problems
