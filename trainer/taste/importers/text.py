"""Post text as the person wrote it: HTML tags dropped, entities (``&amp;``) unescaped."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BREAK = re.compile(r"<br\s*/?>|</p>", re.IGNORECASE)
_TAG = re.compile(r"<[a-zA-Z/!][^<>]*>")


def clean_text(text: str) -> str:
    """Plain text from a status: tags removed when there are any, entities unescaped."""
    if not _TAG.search(text):
        return html.unescape(text).strip()
    parts: list[str] = []
    parser = HTMLParser(convert_charrefs=True)
    parser.handle_data = parts.append  # type: ignore[method-assign]
    parser.feed(_BREAK.sub("\n", text))
    parser.close()
    return "".join(parts).strip()
