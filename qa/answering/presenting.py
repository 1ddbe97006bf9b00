"""How an answer reads: quotes with their numbers, the caveat, refusals, notes; and the
last check that every quote is the article's own text before anything is shown."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..store import Snapshot
from ..types import Answer, Citation, ShortAnswer

if TYPE_CHECKING:
    from .answerer import Selection


def verbatim(snapshot: Snapshot, c: Citation) -> bool:
    found = snapshot.document_by_source(c.source)
    return found is not None and 0 <= c.start < c.end <= len(found[2]) and found[2][c.start : c.end] == c.quote


def verified(snapshot: Snapshot, citations: list[Citation]) -> list[Citation]:
    """Only citations whose quote is exactly `document.text[start:end]`, renumbered."""
    out = []
    for c in citations:
        if verbatim(snapshot, c):
            c.n = len(out) + 1
            out.append(c)
    return out


def short_answer(selection: Selection, first: Citation) -> ShortAnswer | None:
    """The reader's short answer as the article's own characters inside the first quote, or
    None when there is none or it lies outside that quote. `first` has passed `verified`, so
    its quote is the article's text at its offsets, and a slice of it is too."""
    if selection.short is None:
        return None
    source, start, end, confidence = selection.short
    if source != first.source or not (first.start <= start < end <= first.end):
        return None
    text = first.quote[start - first.start : end - first.start]
    # The span head points at word pieces; trim what a reader would not call part of the answer.
    # A full stop the sentence goes on after ("Jane Doe Jr. who moved", "Smith & Co. in
    # Leeds") belongs to an abbreviation, and stays.
    after = first.quote[end - first.start :].lstrip()
    while text and (text[-1] in " ,;:" or (text[-1] == "." and not after[:1].islower())):
        text, end = text[:-1], end - 1
    while text and text[0] in " ,;:":
        text, start = text[1:], start + 1
    if not text.strip():
        return None
    return ShortAnswer(text, start, end, confidence, first.n)


def compose(citations: list[Citation]) -> str:
    return "\n".join(f"“{c.marked}” [{c.n}]" for c in citations)


CAVEAT = "The articles may not answer this directly; the closest they come:"


def with_caveat(answer: Answer, uncertain: bool) -> Answer:
    """Mark a low-confidence answer, in its text too, so every shell (CLI, JSON, chat) shows it."""
    if uncertain:
        answer.uncertain = True
        answer.answer = f"{CAVEAT}\n{answer.answer}"
    return answer


def fallback_note(answer: Answer) -> str | None:
    """Why a generative answer shows qa's own quotes instead of the model's text (None if it doesn't)."""
    if answer.mode != "fallback":
        return None
    if (answer.quotes or {}).get("model_found_no_answer"):
        return "The language model found no answer in the passages; these are the sentences qa judged to answer."
    return "The model's answer could not be checked against the articles; these are qa's own quotes instead."


def refusal_text(documents: int) -> str:
    if documents == 0:
        return (
            "The articles don't say: the index holds no articles yet. Add some to the corpus folder and run `qa index`."
        )
    return f"The articles don't say. Nothing in the {plural(documents, 'indexed article')} answers this question."


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def as_plain_text(answer: Answer) -> str:
    """An answer as a person reads it in plain text (`qa ask`, the OpenAI-compatible door):
    the short answer first when there is one, the numbered quotes, the sources under them,
    and any note on how the answer was checked."""
    lines = []
    if answer.short_answer is not None:
        lines.append(f"Answer: {answer.short_answer.text}")
    lines.append(answer.answer)
    if answer.citations:
        lines.append("")
        for c in answer.citations:
            moved = "  (re-attributed: the model named another passage)" if c.reattributed else ""
            lines.append(f"[{c.n}] {c.title} — {c.source}, characters {c.start}–{c.end}{moved}")
    note = fallback_note(answer)
    if note:
        lines.append(f"({note})")
    if answer.quotes and answer.quotes.get("removed"):
        lines.append(f"({answer.quotes['removed']} quote(s) removed: not found in the articles)")
    return "\n".join(lines)


def extractive_answer(
    snapshot: Snapshot,
    question: str,
    selection: Selection,
    citations: list[Citation],
    timings: dict,
    t0: float,
    short_threshold: float,
) -> Answer:
    """The answer quoting `citations` (or the refusal when there are none), with the short
    answer when it stands inside the first quote and is sure enough, and the caveat."""
    timings["total_ms"] = (time.perf_counter() - t0) * 1000
    if not citations:
        text = refusal_text(snapshot.counts["documents"])
        return Answer(question, text, True, [], timings, selection.confidence)
    answer = Answer(question, compose(citations), False, citations, timings, selection.confidence)
    answer.span_guess = guess = short_answer(selection, citations[0])
    if guess is not None and not selection.uncertain and guess.confidence >= short_threshold:
        answer.short_answer = guess
    return with_caveat(answer, selection.uncertain)


def surrounding(snap: Snapshot, source: str, start: int, end: int, sentences: int = 2) -> tuple[str, str, str]:
    """(before, quote, after): the span `start:end` of `source` with `sentences` whole
    sentences either side, for showing a quote in its context."""
    found = snap.document_by_source(source)
    if found is None:
        raise ValueError(f"no article {source!r} in the index")
    doc_id, _, text = found
    if not 0 <= start <= end <= len(text):
        raise ValueError(f"{start}:{end} is not a span of {source!r}, which has {len(text):,} characters")
    rows = snap.sentences(doc_id, 0, 2**31 - 1)  # any store: the document's sentences, in order
    hit = [r.idx for r in rows if r.start < end and r.end > start]
    first, last = (min(hit), max(hit)) if hit else (0, 0)
    around = [r for r in rows if first - sentences <= r.idx <= last + sentences]
    lo, hi = min([start] + [r.start for r in around]), max([end] + [r.end for r in around])
    return text[lo:start], text[start:end], text[end:hi]
