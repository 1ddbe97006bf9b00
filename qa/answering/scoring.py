"""How qa scores a candidate sentence and how sure it is that the best one answers.

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
- `reader`: the reader's probability that the sentence answers (reader/), for
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
from dataclasses import dataclass

from ..store import Snapshot
from ..words import content_words, normalise, spellings, stems, words

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
    weights={"cosine": 0.56, "coverage": 0.0, "context": 0.24, "passage": 0.0, "fits": 0.0, "reader": 0.2},
    answerable={
        "bias": -4.693,
        "cosine": 3.785,
        "coverage": -0.812,
        "context": 0.835,
        "passage": -1.025,
        "fits": 0.748,
        "reader": 3.288,
    },
    threshold=0.14,
    caveat=0.48,
    margin=0.14,
)
"""With the shipped reader (qa-reader-minilm-l6-v2, reading 16 candidates): its score joins qa's
signals. Fitted by `bench/calibrate.py` on SQuAD 2.0 dev half B's last two articles and our
development questions, bbc-written-dev's 300 in-domain ones among them (docs/evaluation.md,
eighteenth session)."""


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
    span_gap: float = 0.0
    """For a span head trained with "no answer": the probability it finds an answer in the
    sentence at all, σ(its best span's logits over the [CLS] piece's); 0 otherwise."""


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
    """The stems of `text`'s words, each written one way (see `words.normalise`)."""
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


def idf_weights(snapshot: Snapshot, question: str) -> dict[str, float]:
    """Each question word's stem with its share of the question's total IDF (the shares sum to 1).

    The words are normalised; the index counts each spelling of a word apart, so they add up."""
    q_words = list(dict.fromkeys(normalise(w) for w in content_words(question)))
    n = max(1, snapshot.counts["chunks"])
    forms = {stem: stems(list(spellings(w))) for w, stem in zip(q_words, stems(q_words), strict=True)}
    counted = snapshot.doc_freq([f for fs in forms.values() for f in fs])
    df = {stem: min(n, sum(counted.get(f, 0) for f in fs)) for stem, fs in forms.items()}
    # Words the index has never seen still count: a question about something
    # absent should find low coverage, not a perfect score over fewer words.
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in df}
    total = sum(idf.values())
    return {t: w / total for t, w in idf.items()} if total else {}
