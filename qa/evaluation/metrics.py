"""SQuAD's short-answer measures: exact match and token F1 after its normalisation
(lower case, no punctuation, no articles, single spaces), as the official script does."""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalise_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(found: str, gold: list[str]) -> float:
    """1.0 when `found` equals any gold answer after normalisation."""
    return float(any(normalise_answer(found) == normalise_answer(g) for g in gold))


def answer_f1(found: str, gold: list[str]) -> float:
    """The best token F1 of `found` against the gold answers."""
    best = 0.0
    words = normalise_answer(found).split()
    for g in gold:
        gw = normalise_answer(g).split()
        common = sum((Counter(words) & Counter(gw)).values())
        if not words or not gw:
            best = max(best, float(words == gw))
        elif common:
            p, r = common / len(words), common / len(gw)
            best = max(best, 2 * p * r / (p + r))
    return best
