"""Pick the sentences that answer a question, quote them verbatim, or refuse.

The `Answerer` scores every sentence of the retrieved passages on qa's own signals
(scoring.py), has the reader read the best `reader_candidates` of them, ranks them
again, and decides: below the calibrated threshold it refuses; below the caveat it
answers with a caveat; otherwise it answers. The quotes themselves are cut by citing.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..config import Settings
from ..store import Snapshot
from ..types import Citation, Passage
from .citing import Quoter
from .reader import Reader
from .scoring import (
    _YES_NO,
    PLAIN,
    WITH_READER,
    ScoredSentence,
    adds_nothing,
    answer_kind,
    distinct_texts,
    idf_weights,
    share,
    sigmoid,
    word_stems,
)
from .verification import Verdict, Verifier, verified_probability


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
        # "Is the vaccine safe?" is answered by the quote, not by a span of it ("five"); "Is it
        # abstract or concrete?" names its answers, and a span can be one.
        yes_no = _YES_NO.match(question) and not re.search(r"\bor\b", question, re.I)
        if best.span is not None and selection.citations and not yes_no:
            selection.short = (best.source, *best.span)  # presenting.short_answer checks it against the quote
        return selection

    # -- scoring -----------------------------------------------------------

    def score_sentences(self, question: str, query_vector: np.ndarray, passages: list[Passage]) -> list[ScoredSentence]:
        needs = answer_kind(question)
        weights = idf_weights(self.snapshot, question)

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
            if span is not None and span.gap is not None:
                c.span_gap = sigmoid(span.gap)
            c.score = self.scoring.score(c)
        candidates.sort(key=lambda c: -c.score)
        return candidates

    def _lead_stems(self, doc_id: int, title: str) -> set[str]:
        """Words of the document's title and first two sentences: the subject every sentence shares."""
        lead = " ".join([title, *(s.text for s in self.snapshot.sentences(doc_id, 0, 1))])
        return word_stems(lead)

    def _cite(self, sentences: list[ScoredSentence], question: str = "") -> list[Citation]:
        return Quoter(self.snapshot, self.settings, self.margin, self.scoring.probability).cite(sentences, question)
