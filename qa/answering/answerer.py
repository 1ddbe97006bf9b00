"""Pick the sentences that answer a question, quote them verbatim, or refuse.

Each sentence of the retrieved passages is scored on these signals:
- `cosine`: its late-chunked embedding against the question's;
- `coverage`: the IDF-weighted share of the question's content words it contains
  (names and numbers matter more than common words);
- `context`: the same share, counting also the words of its document's title and
  first two sentences: a news sentence rarely repeats the subject the article
  opened with ("The Wasps wing said referee Jonathan Kaplan…" answers a question
  about Josh Lewsey);
- `passage`: the dense similarity of the passage it sits in;
- `fits`: 1 when the sentence holds the kind of thing the question asks for
  (a date for "when", a number for "how many"), else 0;
- `reader`: the reader's probability that the sentence answers (qa/reader/), for
  the best `reader_candidates` sentences by the signals above.
A linear score ranks sentences; a logistic model over the best sentence's
signals gives the probability that it answers at all, calibrated on SQuAD 2.0
and our own question sets (docs/evaluation.md). Below the threshold, qa refuses.
Each set of weights and thresholds is a `Scoring`: `WITH_READER` by default,
`PLAIN` when the reader is off.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..config import Settings
from ..store import Snapshot
from ..types import Citation, Passage
from ..words import content_words, normalise, spellings, stems, words
from .reader import Reader
from .verification import Verdict, Verifier, verified_probability

FEATURES = ("cosine", "coverage", "context", "passage", "fits")
READER_FEATURES = (*FEATURES, "reader")


@dataclass(frozen=True)
class Scoring:
    """How sentences are ranked and how sure qa is that the best one answers, with the
    thresholds that go with them: fitted together by bench/calibrate.py (docs/evaluation.md)."""

    weights: dict[str, float]
    """Of the sentence score that ranks candidates."""
    answerable: dict[str, float]
    """Logistic model of P(the best sentence answers), with its bias."""
    threshold: float
    """Refuse below this probability (`Settings.answer_threshold` overrides)."""
    caveat: float
    """Answer with a caveat below this one (`Settings.caveat_threshold` overrides)."""
    margin: float
    """Cite a further sentence only if its score is within this of the best (`Settings.citation_margin`)."""

    def score(self, s: ScoredSentence) -> float:
        return sum(w * getattr(s, name) for name, w in self.weights.items())

    def probability(self, s: ScoredSentence) -> float:
        return sigmoid(sum(w * (1.0 if name == "bias" else getattr(s, name)) for name, w in self.answerable.items()))


PLAIN = Scoring(
    weights={"cosine": 0.55, "coverage": 0.2, "context": 0.25, "passage": 0.0, "fits": 0.05},
    answerable={"bias": -5.64, "cosine": 10.40, "coverage": 0.10, "context": 1.93, "passage": -4.64, "fits": 0.40},
    threshold=0.18,
    caveat=0.34,
    margin=0.12,
)
"""Without a reader (`reader: none`): qa's own signals only."""
WITH_READER = Scoring(
    weights={"cosine": 0.40, "coverage": 0.0, "context": 0.16, "passage": 0.24, "fits": 0.0, "reader": 0.2},
    answerable={
        "bias": -4.487,
        "cosine": 7.412,
        "coverage": -0.227,
        "context": 0.607,
        "passage": -2.672,
        "fits": -0.312,
        "reader": 2.747,
    },
    threshold=0.22,
    caveat=0.38,
    margin=0.14,
)
"""With the shipped reader (qa-reader-minilm-l6-v2, reading 16 candidates): its score joins qa's
signals. Fitted by `bench/calibrate.py` on SQuAD 2.0 dev half B's last two articles and our
development questions (docs/evaluation.md)."""

_DANGLING_START = re.compile(
    r"^(?:it|its|this|that|these|those|they|their|them|he|his|she|her|such|there|then|but|and|so|"
    r"however|also|yet|thus|therefore|meanwhile|instead|still)\b",
    re.I,
)


@dataclass
class ScoredSentence:
    doc_id: int
    idx: int
    start: int
    end: int
    text: str
    source: str
    title: str
    cosine: float
    coverage: float
    passage: float
    fits: float = 1.0
    score: float = 0.0
    context: float = 0.0
    reader: float = 0.0
    """The reader's probability that the sentence answers (0 when no reader ran)."""
    span: tuple[int, int, float] | None = None
    """The reader's short answer in the sentence: document offsets and confidence (None: no span head)."""


@dataclass
class Selection:
    """What the answerer decided, before it becomes an `Answer`."""

    citations: list[Citation] = field(default_factory=list)
    confidence: float = 0.0
    best: ScoredSentence | None = None
    uncertain: bool = False
    """Answered, but with a probability below `caveat_threshold`: the quotes may not answer."""
    verdict: Verdict | None = None
    """The language model's verdict, when answers are verified (`Settings.verify`)."""
    short: tuple[str, int, int, float] | None = None
    """The reader's short answer in the best sentence (source, start, end, confidence), when the
    answer quotes; whether it stands (inside the first quote) and is shown is decided later
    (presenting.short_answer, `short_answer_threshold`)."""


class Answerer:
    def __init__(
        self, snapshot: Snapshot, settings: Settings, verifier: Verifier | None = None, reader: Reader | None = None
    ):
        self.snapshot = snapshot
        self.settings = settings
        self.verifier = verifier
        self.reader = reader
        self.scoring = scoring = WITH_READER if reader is not None else PLAIN
        # A setting left unset (None) takes the value calibrated for the scoring in use.
        self.threshold = scoring.threshold if settings.answer_threshold is None else settings.answer_threshold
        self.caveat = scoring.caveat if settings.caveat_threshold is None else settings.caveat_threshold
        self.margin = scoring.margin if settings.citation_margin is None else settings.citation_margin

    def select(self, question: str, query_vector: np.ndarray, passages: list[Passage]) -> Selection:
        s = self.settings
        sentences = self.score_sentences(question, query_vector, passages)
        if not sentences:
            return Selection()
        best = sentences[0]
        selection = Selection(confidence=self.scoring.probability(best), best=best)
        threshold, caveat = self.threshold, self.caveat
        if self.verifier is not None:
            selection.verdict = self.verifier.run(question, distinct_texts(sentences, self.verifier.sentences))
            if selection.verdict.counted:  # else qa decides alone, as without a model
                selection.confidence = verified_probability(selection.confidence, selection.verdict)
                threshold, caveat = s.verified_threshold, s.verified_caveat_threshold
        if selection.confidence < threshold:
            return selection
        selection.citations = self._cite(sentences, question)
        selection.uncertain = selection.confidence < caveat
        if best.span is not None and selection.citations:
            selection.short = (best.source, *best.span)  # presenting.short_answer checks it against the quote
        return selection

    # -- scoring -----------------------------------------------------------

    def score_sentences(self, question: str, query_vector: np.ndarray, passages: list[Passage]) -> list[ScoredSentence]:
        needs = answer_kind(question)
        weights = self._idf_weights(question)

        seen: dict[tuple[int, int], ScoredSentence] = {}
        leads: dict[int, set[str]] = {}
        asks_for_more = not _YES_NO.match(question)
        asked = word_stems(question)
        for passage in passages:
            row = self.snapshot.chunks([passage.chunk_id]).get(passage.chunk_id)
            if row is None:
                continue
            if row.doc_id not in leads:
                leads[row.doc_id] = self._lead_stems(row.doc_id, row.title)
            for sent in self.snapshot.sentences(row.doc_id, row.first_sentence, row.last_sentence):
                key = (sent.doc_id, sent.idx)
                pscore = passage.dense_score or 0.0
                if key in seen:
                    seen[key].passage = max(seen[key].passage, pscore)
                    continue
                sent_stems = word_stems(sent.text)
                if asks_for_more and adds_nothing(sent_stems, asked):
                    continue
                coverage = share(weights, sent_stems)
                context = share(weights, sent_stems | leads[row.doc_id])
                seen[key] = ScoredSentence(
                    doc_id=sent.doc_id,
                    idx=sent.idx,
                    start=sent.start,
                    end=sent.end,
                    text=sent.text,
                    source=row.source,
                    title=row.title,
                    cosine=float(sent.vector @ query_vector),
                    coverage=coverage,
                    context=context,
                    passage=pscore,
                    fits=1.0 if needs is None or needs.search(sent.text) else 0.0,
                )
        scored = list(seen.values())
        for s in scored:
            s.score = PLAIN.score(s)
        scored.sort(key=lambda s: -s.score)
        if self.reader is not None and scored:
            scored = self._read(question, scored[: self.settings.reader_candidates])
        return scored

    def _read(self, question: str, candidates: list[ScoredSentence]) -> list[ScoredSentence]:
        """Have the reader score qa's best candidates and rank them again with its score.

        Only the best `reader_candidates` are read: the reader costs ~3 ms a sentence, and
        those below rarely answer (docs/evaluation.md)."""
        texts = list(dict.fromkeys(c.text for c in candidates))  # near-duplicate articles repeat sentences
        reading = self.reader.read(question, texts)
        at = {t: i for i, t in enumerate(texts)}
        for c in candidates:
            i = at[c.text]
            c.reader = sigmoid(float(reading.logits[i]))
            span = reading.spans[i]
            if span is not None and span.end > span.start:
                c.span = (c.start + span.start, c.start + span.end, span.confidence)
            c.score = self.scoring.score(c)
        candidates.sort(key=lambda c: -c.score)
        return candidates

    def _lead_stems(self, doc_id: int, title: str) -> set[str]:
        """Words of the document's title and first two sentences: the subject every sentence shares."""
        lead = " ".join([title, *(s.text for s in self.snapshot.sentences(doc_id, 0, 1))])
        return word_stems(lead)

    def _idf_weights(self, question: str) -> dict[str, float]:
        """Each question word's stem with its share of the question's total IDF (the shares sum to 1).

        The words are normalised; the index counts each spelling of a word apart, so they add up."""
        q_words = list(dict.fromkeys(normalise(w) for w in content_words(question)))
        n = max(1, self.snapshot.counts["chunks"])
        forms = {stem: stems(list(spellings(w))) for w, stem in zip(q_words, stems(q_words), strict=True)}
        counted = self.snapshot.doc_freq([f for fs in forms.values() for f in fs])
        df = {stem: min(n, sum(counted.get(f, 0) for f in fs)) for stem, fs in forms.items()}
        # Words the index has never seen still count: a question about something
        # absent should find low coverage, not a perfect score over fewer words.
        idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in df}
        total = sum(idf.values())
        return {t: w / total for t, w in idf.items()} if total else {}

    # -- quoting -----------------------------------------------------------

    def _cite(self, sentences: list[ScoredSentence], question: str = "") -> list[Citation]:
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
        for quote_sentences in quotes:
            text = self.snapshot.document_text(quote_sentences[0].doc_id)
            start, end = self._quote_span(quote_sentences, text, question)
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
                    score=self.scoring.probability(lead),
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

    def _quote_span(self, quote: list[ScoredSentence], text: str, question: str = "") -> tuple[int, int]:
        """The sentences, with the one before when the first can't stand alone; never over the limit.

        `text` is their document's text."""
        limit = self.settings.max_quote_chars
        first, last = quote[0], quote[-1]
        start, end = first.start, last.end
        if end - start > limit:
            return self._window(text, start, end, question)
        needs_context = len(first.text) < 60 or _DANGLING_START.match(first.text)
        if needs_context and first.idx > 0:
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
        weights = self._idf_weights(question)
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


_WORD_IN_TEXT = re.compile(r"\w+", re.UNICODE)
_NON_WORD = re.compile(r"\W+", re.UNICODE)
_YES_NO = re.compile(
    r"^\W*(?:(?:is|are|was|were|am|do|does|did|has|have|had|can|could|will|would|shall|should|may|might|must)"
    r"(?:n['’]t)?|(?:wo|sha|ai)n['’]t)\b",
    re.I,
)


def sigmoid(z: float) -> float:
    """Logit to probability, without overflow for any logit."""
    z = min(max(z, -30.0), 30.0)
    return 1.0 / (1.0 + math.exp(-z))


def features(s: ScoredSentence, names: tuple[str, ...] = FEATURES) -> tuple[float, ...]:
    return tuple(getattr(s, name) for name in names)


def adds_nothing(said: set[str], asked: set[str]) -> bool:
    """Whether a sentence says nothing but the question's words (`said`, `asked`: their
    stems, `word_stems`): a headline such as "Harbour treaty signed" repeats "Where was the
    harbour treaty signed?" and cannot answer it, where "She signed the harbour treaty
    there" and "Smith was older than Jones" can. (A yes/no question is the exception: a
    restatement confirms it.)"""
    return said <= asked


def word_stems(text: str) -> set[str]:
    """The stems of `text`'s words, each written one way (see `lexical.normalise`)."""
    return set(stems([normalise(w) for w in words(text)]))


def share(weights: dict[str, float], present: set[str]) -> float:
    """IDF-weighted share of the question's stems that are `present` (`weights` sum to 1)."""
    return sum(w for t, w in weights.items() if t in present)


_NUMBER = r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|trillion|dozen|half|percent|several|many|few)\b"
_MONTH = r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
_TIME = re.compile(
    rf"{_NUMBER}|{_MONTH}|\b(?:century|centuries|decade|year|years|ago|today|yesterday|tomorrow|week|month|since|until|before|after|during|era|age|period|war|spring|summer|autumn|fall|winter)\b",
    re.I,
)
_QUANTITY = re.compile(_NUMBER, re.I)
_ASKS_TIME = re.compile(
    r"^\s*(?:when\b|(?:in |on |by |since )?(?:what|which) (?:year|years|date|day|month|century|decade|time|period)\b)",
    re.I,
)
_ASKS_QUANTITY = re.compile(
    r"\bhow (?:many|much|long|far|old|big|large|high|tall|often)\b|\b(?:what|which) (?:percentage|percent|proportion|number|amount|share)\b",
    re.I,
)


def answer_kind(question: str) -> re.Pattern | None:
    """What an answering sentence must contain, judged from the question's wording."""
    if _ASKS_TIME.search(question):
        return _TIME
    if _ASKS_QUANTITY.search(question):
        return _QUANTITY
    return None


def distinct_texts(sentences: list[ScoredSentence], limit: int) -> list[str]:
    """The first `limit` different sentence texts (near-duplicate articles repeat sentences)."""
    out: list[str] = []
    for sent in sentences:
        if sent.text not in out:
            out.append(sent.text)
            if len(out) == limit:
                break
    return out


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
