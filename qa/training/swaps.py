"""Near-misses made from answerable questions by swapping one name (`qa reader train --swaps`).

The near-misses qa still passes as answers look like this: "When will tickets for the Queen
tour go on sale?" against "Tickets for the V festival go on sale on Friday 11 March." The
sentence holds everything the question asks for, of the right kind, but about something
else. The training data holds few such pairs: some of SQuAD 2.0's unanswerable questions
swap an entity, but most restating negatives lack an answer of any kind. Swapping makes
them from any answerable group: a name (a run of capitalised words) or a number that the question shares
with its answering sentence is replaced by another name or number of the same kind taken
from the group's other sentences (the same story: a near-miss a reader would write), and
the answering sentence becomes a negative of the new question. Sentences that hold the
name swapped in are dropped from the new group: one of them might answer it.
"""

from __future__ import annotations

import random
import re

from .data import Group

# A name: capitalised words, joined by the small words names contain ("Bank of England").
_NAME = re.compile(r"\b[A-Z][\w'’&.-]*(?:\s+(?:(?:of|the|de|and|for)\s+)?[A-Z][\w'’&.-]*)*")
_NUMBER = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b")
_NOT_NAMES = {"I", "Mr", "Mrs", "Ms", "Dr"}


def _names(text: str) -> list[str]:
    """The names and numbers in `text`. A lone capitalised word that opens the text, a quote
    or a clause is left out: it may be capitalised only because it opens it ("Tickets …",
    '"We needed …')."""
    names = []
    for m in _NAME.finditer(text):
        name = re.sub(r"^(?:The|A|An)\s+", "", m.group(0).rstrip("."))  # "The Queen" is "Queen" after "the"
        before = text[: m.start()].rstrip()[-1:]
        opens = not before or not (before.isalnum() or before in ",;(")
        if name not in _NOT_NAMES and not (opens and " " not in name):
            names.append(name)
    return names + [m.group(0) for m in _NUMBER.finditer(text)]


def _kind(name: str) -> str:
    """A year only for a year, a number for a number, a name for a name."""
    return "year" if re.fullmatch(r"1[5-9]\d\d|20\d\d", name) else "number" if name[0].isdigit() else "name"


def swapped(group: Group, rng: random.Random) -> Group | None:
    """The near-miss made from one answerable group, or None when it has no name to swap."""
    if not group.labels or group.labels[0] != 1:
        return None
    positive, others = group.sentences[0], group.sentences[1:]
    shared = [n for n in _names(group.question) if n in positive and (group.answer is None or n not in group.answer)]
    if not shared:
        return None
    old = rng.choice(shared)
    kind = _kind(old)
    pool = sorted(
        {
            n
            for s in others
            for n in _names(s)
            if _kind(n) == kind and n not in positive and n not in group.question and old not in n and n not in old
        }
    )
    if not pool:
        return None
    new = rng.choice(pool)
    question = group.question.replace(old, new, 1)
    kept = [s for s in others if new not in s]
    sentences = [positive, *kept]
    return Group(question, sentences, [0] * len(sentences), group.origin + "-swapped")


def swapped_groups(groups: list[Group], share: float, seed: int) -> list[Group]:
    """Near-misses from a `share` of the answerable groups (those with a name to swap)."""
    rng = random.Random(seed)
    made = []
    for g in groups:
        if rng.random() < share and (s := swapped(g, rng)) is not None:
            made.append(s)
    return made
