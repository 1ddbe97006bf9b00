"""Markdown: YAML front matter's title, else the first heading; the text as written."""

from __future__ import annotations

import re

from .text import decode, headline, normalise_newlines

_FRONT_MATTER = re.compile(r"\A---[^\S\n]*\n(.*?)\n---[^\S\n]*(?:\n|\Z)", re.S)
_MD_HEADING = re.compile(r"^#[^\S\n]+(.+?)[^\S\n]*#*[^\S\n]*$", re.M)


def load(data: bytes, notes: list[str]) -> tuple[str, str | None]:
    text = normalise_newlines(decode(data, notes))
    title = None
    match = _FRONT_MATTER.match(text)
    if match:
        import yaml

        try:
            front = yaml.safe_load(match.group(1))
        except yaml.YAMLError:
            front = None
            notes.append("front matter is not valid YAML; ignored")
        if isinstance(front, dict) and front.get("title"):
            title = str(front["title"])
        text = text[match.end() :]
    if title is None:
        heading = _MD_HEADING.search(text)
        title = heading.group(1) if heading else headline(text)
    return text, title
