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
    parser = _TextParser()
    parser.feed(_BREAK.sub("\n", text))
    parser.close()
    return "".join(parser.parts).strip()


class _TextParser(HTMLParser):
    """Keeps the text between the tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
