"""Post readers: Mastodon outbox, X/Twitter tweets.js, the Weibo crawler CSV, and the
project's own ``user,time,text`` CSV/JSONL.

Reposts and boosts are other people's words, not the person's mood: they are counted and
left out unless ``include_reposts``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

from ..records import Post, SourceReport
from .context import ReadContext
from .text import clean_text
from .times import parse_time

BEIJING = ZoneInfo("Asia/Shanghai")
_DAY_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def decode(data: bytes, where: str, src: SourceReport) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        src.skip(where, f"not UTF-8 text ({exc.reason} at byte {exc.start})", "not UTF-8")
        return None


def table_rows(text: str, jsonl: bool, where: str, src: SourceReport) -> Iterator[tuple[int, dict]]:
    """(line, row) from a CSV with a header or from JSON lines; bad lines are skipped."""
    if jsonl:
        for line, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as exc:
                src.skip(f"{where}:{line}", f"invalid JSON: {exc.msg}", "invalid JSON")
                continue
            if not isinstance(row, dict):
                src.skip(f"{where}:{line}", "not a JSON object")
                continue
            yield line, row
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        src.skip(f"{where}:{reader.line_num}", f"unreadable CSV: {exc}", "unreadable CSV")


def _is_jsonl(text: str) -> bool:
    return text.lstrip().startswith("{")


def posts_table(data: bytes, where: str, src: SourceReport, ctx: ReadContext) -> Iterator[Post]:
    text = decode(data, where, src)
    if text is None:
        return
    for line, row in table_rows(text, _is_jsonl(text), where, src):
        place = f"{where}:{line}"
        try:
            name, body = str(row["user"] or "").strip(), clean_text(str(row["text"] or ""))
            when = parse_time(row["time"])
        except KeyError as exc:
            src.skip(place, f"missing column {exc}", "missing column")
            continue
        except (TypeError, ValueError) as exc:
            src.skip(place, str(exc), "bad time")
            continue
        if not name and not ctx.owner:
            src.skip(place, "empty user", "empty user")
            continue
        if name:
            src.names_in_file.add(name)
        yield Post(ctx.owner or name, when, body)


def _load_json(data: bytes, where: str, src: SourceReport, js: bool = False) -> object | None:
    text = decode(data, where, src)
    if text is None:
        return None
    if js:  # "window.YTD.tweets.part0 = [...]"
        text = text[text.index("=") + 1 :]
    try:
        return json.loads(text)
    except ValueError as exc:
        src.skip(where, f"cannot read as JSON: {exc}", "not JSON")
        return None


def mastodon(data: bytes, where: str, src: SourceReport, ctx: ReadContext) -> Iterator[Post]:
    """``outbox.json`` (ActivityStreams): ``Create`` of a Note is the person's own status,
    ``Announce`` is a boost (only a link to someone else's status)."""
    owner = ctx.person(where, "Mastodon archive")
    doc = _load_json(data, where, src)
    items = doc.get("orderedItems") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        if doc is not None:
            src.skip(where, "no orderedItems list", "not an outbox")
        return
    for i, item in enumerate(items):
        place = f"{where}: orderedItems[{i}]"
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "Announce":
            src.reposts += 1  # the boosted text is not in the archive, so nothing to keep
            continue
        obj = item.get("object") if kind == "Create" else None
        if not isinstance(obj, dict):
            src.skip(place, f"not a status (type {kind!r})", "not a status")
            continue
        try:
            when = parse_time(obj.get("published") or item["published"])
        except (KeyError, ValueError) as exc:
            src.skip(place, f"bad time: {exc}", "bad time")
            continue
        body = clean_text(str(obj.get("content") or ""))
        if not body:
            src.skip(place, "no text (media only)", "no text")
            continue
        yield Post(owner, when, body)


def tweets(data: bytes, where: str, src: SourceReport, ctx: ReadContext) -> Iterator[Post]:
    """``tweets.js`` / ``tweet.js`` / ``tweets-part1.js``: retweets start ``RT @name:``."""
    owner = ctx.person(where, "X/Twitter archive")
    doc = _load_json(data, where, src, js=True)
    if not isinstance(doc, list):
        if doc is not None:
            src.skip(where, "expected a list of tweets", "not tweets")
        return
    for i, item in enumerate(doc):
        place = f"{where}: [{i}]"
        tweet = item.get("tweet", item) if isinstance(item, dict) else None
        if not isinstance(tweet, dict):
            src.skip(place, "not a tweet", "not a tweet")
            continue
        try:
            when = parse_time(tweet["created_at"])
        except (KeyError, ValueError) as exc:
            src.skip(place, f"bad time: {exc}", "bad time")
            continue
        body = clean_text(str(tweet.get("full_text") or tweet.get("text") or ""))
        if body.startswith("RT @"):
            src.reposts += 1
            if not ctx.include_reposts:
                continue
        yield Post(owner, when, body)


def weibo(data: bytes, where: str, src: SourceReport, ctx: ReadContext) -> Iterator[Post]:
    """dataabc/weibo-crawler CSV: ``正文`` text, ``完整日期`` (or ``日期``) in Beijing time
    without an offset; with reposts crawled, ``是否原创`` is False for a repost."""
    owner = ctx.person(where, "Weibo crawler CSV")
    tz = ctx.timezone or BEIJING
    text = decode(data, where, src)
    if text is None:
        return
    for line, row in table_rows(text, False, where, src):
        place = f"{where}:{line}"
        stamp = (row.get("完整日期") or row.get("日期") or "").strip()
        if _DAY_ONLY.match(stamp):  # "2024-03-15": older crawls have the day only
            src.skip(place, f"date without a time of day: {stamp!r}", "no time of day")
            continue
        try:
            when = parse_time(stamp, tz)
        except ValueError as exc:
            src.skip(place, str(exc), "bad time")
            continue
        original = str(row.get("是否原创") or "true").strip().lower()
        if original in ("false", "0", "否"):
            src.reposts += 1
            if not ctx.include_reposts:
                continue
        body = clean_text(str(row.get("正文") or ""))
        if not body:
            src.skip(place, "no text", "no text")
            continue
        yield Post(owner, when, body)


PostReader = Callable[[bytes, str, SourceReport, ReadContext], Iterator[Post]]
READERS: dict[str, PostReader] = {
    "posts_table": posts_table, "mastodon": mastodon, "x": tweets, "weibo": weibo,
}
