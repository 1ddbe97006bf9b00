"""HTML: the visible text, one block per block-level element (scripts, styles and the
head dropped), with the page's title."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .text import decode

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
_DROP_TAGS = frozenset(
    ["script", "style", "noscript", "template", "head", "svg", "iframe", "object", "embed", "canvas"]
)


def load(data: bytes, notes: list[str]) -> tuple[str, str | None]:
    from bs4 import BeautifulSoup, Comment, NavigableString, Tag

    soup = BeautifulSoup(decode(data, notes), "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else None

    blocks: list[str] = []
    current: list[str] = []

    def flush() -> None:
        line = re.sub(r"\s+", " ", "".join(current)).strip()
        if line:
            blocks.append(line)
        current.clear()

    # An explicit stack, not recursion: HTML may leave every <p> or <li> open, and a page of
    # a thousand of them nests a thousand deep. None marks the end of a block element.
    stack: list[Iterator | None] = [iter((soup.body or soup).children)]
    while stack:
        top = stack[-1]
        if top is None:
            stack.pop()
            flush()
            continue
        child = next(top, None)
        if child is None:
            stack.pop()
        elif isinstance(child, Comment):
            continue
        elif isinstance(child, NavigableString):
            current.append(str(child))
        elif isinstance(child, Tag):
            name = child.name.lower()
            if name in _DROP_TAGS:
                continue
            if name in _BLOCK_TAGS:
                flush()
                stack.append(None)
            stack.append(iter(child.children))
    flush()
    return "\n\n".join(blocks), title
