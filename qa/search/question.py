"""A question as it arrives, made into what qa searches for, or refused with a sentence
saying why (`InvalidQuestion`): the engine, the API and the CLI all refuse alike."""

from __future__ import annotations

import operator
import unicodedata

from ..types import InvalidQuestion


def checked_question(question: object, limit: int) -> str:
    """`question` cleaned (`cleaned_question`), after checking it is text of at most `limit`
    characters. The limit is on the question as sent, so a client knows it before sending
    (the API's schema says it)."""
    if not isinstance(question, str):
        raise InvalidQuestion("the question must be text")
    if len(question) > limit:
        raise InvalidQuestion(f"the question is too long ({len(question):,} characters; the limit is {limit:,})")
    return cleaned_question(question)


def cleaned_question(question: str) -> str:
    """`question` as qa searches for it: control characters (and lone surrogates) gone,
    whitespace collapsed; `InvalidQuestion` if no word is left."""
    # Control characters carry no meaning in a question and confuse tokenisers. Invisible
    # format characters (a soft hyphen, a zero-width space) sit inside words: they go
    # without a trace, or "mu\u00adseum" would be searched as "mu seum".
    out = []
    for ch in question:
        kind = unicodedata.category(ch)
        out.append("" if kind == "Cf" else " " if kind[0] == "C" and ch not in "\t\n" else ch)
    cleaned = " ".join("".join(out).split())
    if not cleaned:
        raise InvalidQuestion("the question is empty")
    if not any(ch.isalnum() for ch in cleaned):
        raise InvalidQuestion("the question has no words to look for: ask in words")
    return cleaned


def check_k(k) -> None:
    """k, the passages to read: None (the setting) or a whole number of at least 1."""
    if k is None:
        return
    try:
        whole = operator.index(k) if not isinstance(k, bool) else None
    except TypeError:
        whole = None
    if whole is None or whole < 1:
        raise InvalidQuestion(f"k (passages to read) must be a whole number of at least 1, not {k!r}")
