"""Check the quotes in a written answer against the passages they claim to come from.

A language model copies text imperfectly: it straightens or curls quote marks,
re-flows whitespace, adds a full stop, capitalises the first word, or invents the
quote outright. Every quote it writes is looked up here, first in the passage it
cites, then in the other passages it was given, after normalising only what does
not change the words (whitespace and quote marks, trailing punctuation, the case
of the first letter). A quote that is found becomes a citation whose text is the
document's own characters at exact offsets; one that is not found is dropped from
the answer and reported. No quote reaches the reader unchecked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..types import Citation, Passage

_REF = (
    r"""(?:\s*(?:\[\s*(?:passages?\s*)?\d+(?:\s*[,;–-]\s*(?:passages?\s*)?\d+)*\s*\]"""
    r"""|\(\s*(?:passages?\s*)?\d{1,2}(?:\s*[,;–-]\s*\d{1,2})*\s*\)))"""
)
"""A passage reference after a quote: [2], [1, 3], [1-2], [passage 2], (2), (passage 2)."""
# “…” first, whose body may hold straight quote marks (a model quoting a quote, or nesting an
# invented phrase inside a real one: the whole is checked); then "…", „…“, «…»; then ‘…’,
# whose closing mark is also the apostrophe, so it closes only where no letter follows.
QUOTE_PATTERN = re.compile(
    r"""“(?P<curly>[^“”\n]{2,}?)”(?P<curly_ref>""" + _REF + r""")?"""
    r"""|(?P<open>["„«”])(?P<body>[^"“”„«»\n]{2,}?)(?P<close>["“”»])(?P<ref>""" + _REF + r""")?"""
    r"""|‘(?P<single>(?:[^‘’\n]|’(?=\w)){2,}?)’(?!\w)(?P<single_ref>""" + _REF + r""")?""",
    re.I,
)


def quote_parts(m: re.Match) -> tuple[str, str | None]:
    """(the quote's words, its passage reference or None) of a `QUOTE_PATTERN` match."""
    for body, ref in (("curly", "curly_ref"), ("body", "ref"), ("single", "single_ref")):
        if m.group(body) is not None:
            return m.group(body), m.group(ref)
    raise ValueError("not a quote match")


def is_checked(body: str, ref: str | None) -> bool:
    """Whether a quote (`quote_parts`) is looked up: one with a passage number, or a long one.
    A short one with none reads as scare quotes or a title, and is shown as plain words."""
    return bool(ref) or len(body.split()) >= MIN_UNCITED_WORDS


_REF_NUMBER = re.compile(r"\d+")
_BARE_REF = re.compile(r"\s*\[\s*(?:passages?\s*)?\d+(?:\s*[,;–-]\s*(?:passages?\s*)?\d+)*\s*\]", re.I)
_QUOTE_MARKS = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'", "`": "'"})
_EDGE_PUNCTUATION = " .,;:!?…-–—'\""

MIN_COPIED_WORDS = 8
"""A sentence of the model's prose this long that appears word for word in a passage is a
quote without quote marks: it is shown and cited as one."""
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])(?=\s+[A-Z“\"])")

MIN_UNCITED_WORDS = 5
"""A quote with no passage number is checked only from this length on; shorter ones read as
scare quotes or titles ("the 'Kuril' question") and stay plain prose."""


@dataclass
class QuoteCheck:
    """What happened to one quote the model wrote."""

    written: str
    """The quote as the model wrote it."""
    cited: list[int]
    """Passage numbers the model gave (1-based, as in the prompt); empty if none."""
    status: str
    """`verified` (found in the cited passage), `reattributed` (found in another one),
    `removed` (found nowhere), `copied` (a sentence copied word for word without quote
    marks, now shown as a quote) or `uncited` (short, no passage number: left as prose)."""
    citation: Citation | None = None
    passage: int | None = None
    """The passage it was found in."""


@dataclass
class CheckedAnswer:
    """The model's text with every quote replaced by the document's own words and numbered."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    checks: list[QuoteCheck] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {"verified": 0, "reattributed": 0, "removed": 0, "copied": 0}
        for c in self.checks:
            if c.status in out:
                out[c.status] += 1
        return out


def normalise(text: str) -> tuple[str, list[int]]:
    """`text` with quote marks straightened and whitespace runs made one space, and for
    each character of the result the index it came from in `text`."""
    out: list[str] = []
    where: list[int] = []
    in_space = False
    for i, ch in enumerate(text):
        if ch.isspace():
            if not in_space and out:
                out.append(" ")
                where.append(i)
            in_space = True
            continue
        in_space = False
        out.append(ch.translate(_QUOTE_MARKS))
        where.append(i)
    if out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where


def locate(quote: str, text: str) -> tuple[int, int] | None:
    """(start, end) of `quote` in `text`, tolerant only of whitespace, quote marks, edge
    punctuation and the case of the first letter; None when the words are not there."""
    hay, where = normalise(text)
    needle, _ = normalise(quote)
    candidates = [needle, needle.strip(_EDGE_PUNCTUATION)]
    for cand in list(candidates):
        if cand[:1].isalpha():
            candidates.append(cand[:1].swapcase() + cand[1:])
    for cand in candidates:
        if len(cand) < 2:
            continue
        pos = hay.find(cand)
        while pos >= 0:
            # Whole words only: "safe for children" must not be found inside "unsafe for
            # children", nor "costs 1" inside "costs 150".
            cut_before = cand[0].isalnum() and pos > 0 and hay[pos - 1].isalnum()
            end = pos + len(cand)
            cut_after = cand[-1].isalnum() and end < len(hay) and hay[end].isalnum()
            if not cut_before and not cut_after:
                return where[pos], where[end - 1] + 1
            pos = hay.find(cand, pos + 1)
    return None


def check_quotes(text: str, passages: list[Passage], documents: dict[int, str]) -> CheckedAnswer:
    """Verify every quote in `text` (a model's answer over `passages`, numbered from 1).

    `documents` maps each passage's `doc_id` to its document text: citations carry
    offsets into the document, and `document[start:end] == quote` is checked here.
    Whole sentences the model copied without quote marks are found too, and shown as
    the quotes they are (small models often copy instead of quoting).
    """
    text = text.replace("\x00", "")  # reserved for qa's own markers below
    checks: list[QuoteCheck] = []
    numbers: dict[tuple[str, int], int] = {}  # (source, start) -> citation number, so a repeated quote keeps its number
    citations: list[Citation] = []

    def cite(written: str, cited: list[int], found: tuple[int, int, int], status: str) -> str:
        number, start, _ = found
        passage = passages[number - 1]
        if cited and number not in cited:
            status = "reattributed"
        key = (passage.source, start)
        if key not in numbers:
            numbers[key] = len(citations) + 1
            citations.append(citation_at(passages, documents, found, numbers[key], status == "reattributed"))
        citation = citations[numbers[key] - 1]
        checks.append(QuoteCheck(written, cited, status, citation, number))
        return f"“{citation.quote}” \x00{citation.n}\x00"

    def prose(piece: str) -> str:
        out = []
        for part in _SENTENCE_BREAK.split(piece):
            core = _BARE_REF.sub("", part).strip()
            if len(core.split()) >= MIN_COPIED_WORDS:
                cited = cited_numbers(" ".join(_BARE_REF.findall(part)))
                found = find_quote(core, cited, passages, documents)
                if found is not None:
                    lead = part[: len(part) - len(part.lstrip())]
                    trail = part[len(part.rstrip()) :]
                    part = lead + cite(core, cited, found, "copied") + trail
            out.append(part)
        return "".join(out)

    pieces: list[str] = []
    pos = 0
    for m in QUOTE_PATTERN.finditer(text):
        written, ref = quote_parts(m)
        cited = cited_numbers(ref)
        pieces.append(prose(text[pos : m.start()]))
        pos = m.end()
        if not is_checked(written, ref):
            # Quote marks only ever surround words qa checked: unchecked ones lose theirs.
            checks.append(QuoteCheck(written, cited, "uncited"))
            pieces.append(written)
            continue
        found = find_quote(written, cited, passages, documents)
        if found is None:
            checks.append(QuoteCheck(written, cited, "removed"))
            pieces.append("[quote removed: not found in the articles]")
            continue
        pieces.append(cite(written, cited, found, "verified"))
    pieces.append(prose(text[pos:]))
    # Passage numbers the model wrote without a quote point at nothing the reader can see;
    # qa's own citation markers wait behind a placeholder until those are gone.
    cleaned = _BARE_REF.sub("", "".join(pieces))
    cleaned = re.sub("\x00(\\d+)\x00", r"[\1]", cleaned)
    return CheckedAnswer(cleaned.strip(), citations, checks)


def find_quote(
    written: str, cited: list[int], passages: list[Passage], documents: dict[int, str]
) -> tuple[int, int, int] | None:
    """(passage number, document start, document end) of the quote, cited passages first."""
    order = [n for n in cited if 1 <= n <= len(passages)]
    order += [n for n in range(1, len(passages) + 1) if n not in order]
    for number in order:
        p = passages[number - 1]
        span = locate(written, p.text)
        if span is None:
            continue
        start, end = p.start + span[0], p.start + span[1]
        doc_text = documents.get(p.doc_id)
        # The passage's offsets are the document's: check, don't trust.
        if doc_text is not None and doc_text[start:end] == p.text[span[0] : span[1]]:
            return number, start, end
    return None


def cited_numbers(ref: str | None) -> list[int]:
    """The passage numbers in a reference the model wrote ("[2]", "[1, 3]", "(passage 2)")."""
    return [int(n) for n in _REF_NUMBER.findall(ref or "")]


def citation_at(
    passages: list[Passage], documents: dict[int, str], found: tuple[int, int, int], n: int, reattributed: bool
) -> Citation:
    """The citation for a quote `find_quote` located: the document's own characters at its offsets."""
    number, start, end = found
    p = passages[number - 1]
    return Citation(
        n=n,
        quote=documents[p.doc_id][start:end],
        source=p.source,
        title=p.title,
        start=start,
        end=end,
        score=p.dense_score if p.dense_score is not None else p.score,
        reattributed=reattributed,
    )
