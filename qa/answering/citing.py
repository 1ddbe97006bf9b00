"""From ranked sentences to verbatim quotes: which sentences are cited (those within the
margin of the best, at most `max_citations`), which neighbours join a quote, where a
quote starts and ends (the sentence before when the first cannot stand alone; a window
around the question's words when a sentence is longer than `max_quote_chars`). Each quote
is cut from the document's own text at its offsets, and each sentence in it is checked to
lie inside it: nothing here writes a word of its own."""

from __future__ import annotations

import re
from collections.abc import Callable

from ..config import Settings
from ..store import Snapshot
from ..types import Citation
from ..words import normalise, stems, words
from .scoring import ScoredSentence, idf_weights

_DANGLING_START = re.compile(
    r"^(?:it|its|this|that|these|those|they|their|them|he|his|she|her|such|there|then|but|and|so|"
    r"however|also|yet|thus|therefore|meanwhile|instead|still)\b",
    re.I,
)
# Combining marks belong to their word: in decomposed (NFD) text "é" is "e" + U+0301, and
# `\w` alone would start a quote inside "réformés".
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_WORD_IN_TEXT = re.compile(rf"[\w{_MARKS}]+", re.UNICODE)
_NON_WORD = re.compile(rf"[^\w{_MARKS}]+", re.UNICODE)


class Quoter:
    """Quotes for one question's ranked sentences, cut from `snapshot`'s documents;
    `probability` is the calibrated P(answers) each citation reports as its score."""

    def __init__(
        self,
        snapshot: Snapshot,
        settings: Settings,
        margin: float,
        probability: Callable[[ScoredSentence], float],
    ):
        self.snapshot = snapshot
        self.settings = settings
        self.margin = margin
        self.probability = probability

    def cite(self, sentences: list[ScoredSentence], question: str = "") -> list[Citation]:
        s = self.settings
        best = sentences[0].score
        quotes: list[list[ScoredSentence]] = []  # each: consecutive sentences of one document
        for sent in sentences:
            if len(quotes) >= s.max_citations or sent.score < best - self.margin:
                break
            if any(sent.text == other.text for quote in quotes for other in quote):
                continue  # the same words in a near-duplicate article would only repeat a quote
            beside = next((q for q in quotes if _touching(q, [sent])), None)
            if beside is None:
                quotes.append([sent])
            elif self._fits_with(beside, sent):
                # A neighbour that also scores well joins its quote instead of being dropped:
                # the answer is often the sentence after the one that names the subject.
                beside.append(sent)
                beside.sort(key=lambda x: x.idx)
                # It may now touch another quote: two quotes side by side read as one.
                other = next((q for q in quotes if q is not beside and _touching(q, beside)), None)
                if other is not None and self._fits_with(beside, *other):
                    beside.extend(other)
                    beside.sort(key=lambda x: x.idx)
                    quotes.remove(other)

        citations = []
        quoted = {(x.doc_id, x.idx) for quote in quotes for x in quote}
        for quote_sentences in quotes:
            text = self.snapshot.document_text(quote_sentences[0].doc_id)
            start, end = self._quote_span(quote_sentences, text, question, quoted)
            quote = text[start:end]
            # Each sentence as SQLite cut it must sit inside the quote Python cut:
            # a cross-check of the stored offsets, not just of one slice.
            if not quote.strip() or not all(
                x.text in quote
                or (x.start <= start and end <= x.end and x.text[start - x.start : end - x.start] == quote)
                for x in quote_sentences
            ):
                continue
            lead = max(quote_sentences, key=lambda x: x.score)
            citations.append(
                Citation(
                    n=len(citations) + 1,
                    quote=quote,
                    source=lead.source,
                    title=lead.title,
                    start=start,
                    end=end,
                    score=self.probability(lead),
                    cut_start=start > quote_sentences[0].start,
                    cut_end=end < quote_sentences[-1].end,
                )
            )
        return citations

    def _fits_with(self, quote: list[ScoredSentence], *more: ScoredSentence) -> bool:
        """Whether `more` can join `quote`: at most three sentences and `max_quote_chars`."""
        if len(quote) + len(more) > 3:
            return False
        start = min(x.start for x in (*quote, *more))
        end = max(x.end for x in (*quote, *more))
        return end - start <= self.settings.max_quote_chars

    def _quote_span(
        self, quote: list[ScoredSentence], text: str, question: str = "", quoted: set[tuple[int, int]] = frozenset()
    ) -> tuple[int, int]:
        """The sentences, with the one before when the first can't stand alone; never over the limit.

        `text` is their document's text; `quoted`: (document, sentence) of every sentence some
        quote of the answer holds, none of which is borrowed as context (it would be read twice)."""
        limit = self.settings.max_quote_chars
        first, last = quote[0], quote[-1]
        start, end = first.start, last.end
        if end - start > limit:
            return self._window(text, start, end, question)
        needs_context = len(first.text) < 60 or _DANGLING_START.match(first.text)
        if needs_context and first.idx > 0 and (first.doc_id, first.idx - 1) not in quoted:
            prev = self.snapshot.sentences(first.doc_id, first.idx - 1, first.idx - 1)
            if prev:
                p = prev[0]
                between = text[p.end : start]
                if "\n\n" not in between and end - p.start <= limit:
                    start = p.start
        return start, end

    def _window(self, text: str, start: int, end: int, question: str) -> tuple[int, int]:
        """The `max_quote_chars` of a longer sentence that matter: around the question's
        words, with more room after them than before (the answer usually follows the words
        that name its subject), from a word's start to a word's end."""
        limit = self.settings.max_quote_chars
        weights = idf_weights(self.snapshot, question)
        hits: list[tuple[int, int, str, float]] = []  # the question's words in the sentence
        for m in _WORD_IN_TEXT.finditer(text, start, end):
            folded = words(m.group(0))  # lowercased, accents folded: as the index reads words
            stem = stems([normalise(folded[0])])[0] if folded else ""
            if weights.get(stem):
                hits.append((m.start(), m.end(), stem, weights[stem]))
                if len(hits) == 500:  # a run-on "sentence" of a whole file stays cheap
                    break
        left = start
        if hits:

            def held(opening: int) -> float:
                return sum({stem: w for a, b, stem, w in hits if opening <= a and b <= opening + limit}.values())

            first = max((a for a, *_ in hits), key=lambda o: (held(o), -o))
            last = max(b for a, b, *_ in hits if first <= a and b <= first + limit)
            left = max(start, min(first - (limit - (last - first)) // 3, end - limit))
        if start < left:  # begin at a word: the next one when `left` falls inside one, or between two
            inside = _WORD_IN_TEXT.match(text, left - 1) and _WORD_IN_TEXT.match(text, left)
            gap = _NON_WORD.search(text, left, min(end, left + 40)) if inside else None
            word = _WORD_IN_TEXT.search(text, gap.end() if gap else left, min(end, left + 40))
            left = word.start() if word else left
        return left, end if left + limit >= end else _cut_at_word(text, left, left + limit)


def _touching(a: list[ScoredSentence], b: list[ScoredSentence]) -> bool:
    """Two quotes of consecutive sentences that meet end to start."""
    return a[0].doc_id == b[0].doc_id and (a[-1].idx + 1 == b[0].idx or b[-1].idx + 1 == a[0].idx)


def _cut_at_word(text: str, start: int, limit_end: int) -> int:
    """End of the last whole word before `limit_end`, so a long quote stays readable."""
    cut = max(text.rfind(" ", start, limit_end), text.rfind("\n", start, limit_end))
    end = cut if cut > start + (limit_end - start) // 2 else limit_end
    while end > start and text[end - 1] in " ,;:-–—":
        end -= 1
    return end
