"""The plain objects that flow between the pipeline stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Document:
    """One article: its full text and where it came from.

    Every offset in qa (sentences, chunks, citations) indexes into `text`.
    """

    source: str
    """Path relative to the corpus root, with forward slashes."""
    title: str
    text: str
    sha256: str
    """Hash of the file's bytes plus its metadata sidecar: decides re-embedding."""
    meta: dict = field(default_factory=dict)
    stat: str | None = None
    """The file's (and sidecar's) size, inode and times when it was read (`corpus.file_stat`):
    while they stay the same, `qa index` knows the file is unchanged without reading it."""


@dataclass(frozen=True)
class Span:
    """A stretch of a document's text: `doc.text[start:end]`."""

    start: int
    end: int

    def text_of(self, text: str) -> str:
        return text[self.start : self.end]


@dataclass(frozen=True)
class Chunk:
    """Consecutive sentences embedded together; the unit of retrieval."""

    start: int
    end: int
    first_sentence: int
    last_sentence: int
    """Indices (inclusive) into the document's sentence list."""


@dataclass
class Passage:
    """A retrieved chunk with its scores."""

    chunk_id: int
    doc_id: int
    source: str
    title: str
    start: int
    end: int
    text: str
    score: float
    dense_score: float | None = None
    lexical_rank: int | None = None
    dense_rank: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Citation:
    """A verbatim quote: `document.text[start:end] == quote`, checked before return."""

    n: int
    quote: str
    source: str
    title: str
    start: int
    end: int
    score: float
    reattributed: bool = False
    """Generative mode: the model cited another passage; qa found the words here instead."""
    cut_start: bool = False
    """The quote begins inside a sentence too long to quote whole (`max_quote_chars`)."""
    cut_end: bool = False
    """The quote ends inside such a sentence."""

    def to_dict(self) -> dict:
        out = {
            "n": self.n,
            "quote": self.quote,
            "source": self.source,
            "title": self.title,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
        }
        if self.reattributed:
            out["reattributed"] = True
        if self.cut_start or self.cut_end:
            out["cut"] = "both" if self.cut_start and self.cut_end else "start" if self.cut_start else "end"
        return out

    @property
    def marked(self) -> str:
        """The quote as shown: an ellipsis where it cuts into a sentence."""
        return f"{'…' if self.cut_start else ''}{self.quote}{'…' if self.cut_end else ''}"


@dataclass
class ShortAnswer:
    """The few words that answer, inside the first quote: `document.text[start:end] == text`,
    checked before return, and `citation.start <= start < end <= citation.end`."""

    text: str
    start: int
    end: int
    confidence: float
    """The reader's span head: P(first word) * P(last word)."""
    n: int = 1
    """The citation it sits in."""

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "confidence": round(self.confidence, 4),
            "n": self.n,
        }


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    """Milliseconds per stage (embed, search, answer, total)."""
    confidence: float = 0.0
    standalone_question: str | None = None
    """A follow-up rewritten to stand alone (what was actually searched); None if unchanged."""
    mode: str = "extractive"
    """`extractive` (quotes picked by qa) or `generative` (written by a language model, quotes checked)."""
    quotes: dict[str, int] | None = None
    """Generative mode: how many of the model's quotes were verified, re-attributed, removed."""
    uncertain: bool = False
    """Answered with a caveat: qa is unsure the quotes answer (confidence below `caveat_threshold`)."""
    verdict: dict | None = None
    """With `Settings.verify`: the language model's verdict (P(none), P(sentence 1), its choice,
    whether it counted); `confidence` is then the combined probability."""
    short_answer: ShortAnswer | None = None
    """The short answer inside the first quote, when the reader is confident of it."""
    span_guess: ShortAnswer | None = None
    """The reader's best short answer in the first quote whether or not it is shown
    (how `qa eval` measures the span head as SQuAD does); never serialised."""

    def to_dict(self) -> dict:
        out = {
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
        }
        # Extra keys only when they carry news, so the extractive JSON keeps its documented shape.
        if self.short_answer is not None:
            out["short_answer"] = self.short_answer.to_dict()
        if self.standalone_question:
            out["standalone_question"] = self.standalone_question
        if self.uncertain:
            out["uncertain"] = True
        if self.verdict is not None:
            out["verdict"] = self.verdict
        if self.mode != "extractive":
            out["mode"] = self.mode
            out["quotes"] = self.quotes or {}
        return out


class InvalidQuestion(ValueError):
    """A question qa will not look for: empty, too long, no words, or a conversation without one."""
