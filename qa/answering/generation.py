"""Generative answers: a language model writes the answer from numbered passages,
and every quote it writes is checked before the reader sees it (quotes.py).

The model is told to answer only from the passages, to put each claim's support
in a direct quote followed by the passage number, and to say when the passages
don't answer. What it writes streams out token by token; quotes become citations
once they are found in the passages, and quotes that are found nowhere are cut.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from ..config import Settings
from ..store import Snapshot
from ..types import Answer, Citation, Passage
from .answerer import Selection
from .presenting import compose, refusal_text, verbatim
from .quotes import (
    QUOTE_PATTERN,
    CheckedAnswer,
    check_quotes,
    citation_at,
    cited_numbers,
    find_quote,
    is_checked,
    quote_parts,
)

SYSTEM_PROMPT = """You answer questions about a collection of articles, using ONLY the numbered passages the user gives you.
Rules:
1. Support each claim with a direct quote copied word for word from a passage, in double quotes, followed by the passage number in square brackets. Example: The ministry said the talks would "resume in the spring" [2].
2. Do not use facts that are not in the passages. Do not change the words inside quotes.
3. If the passages do not answer the question, reply exactly: NOT IN THE ARTICLES
4. Answer in one to three short sentences."""

_SAYS_UNANSWERED = re.compile(
    r"not in the articles|passages? (?:do(?:es)? not|don't|doesn't) (?:answer|say|mention|contain|provide)|"
    r"no (?:information|answer) (?:in|from) the (?:passages|articles)",
    re.I,
)


@dataclass
class Prompted:
    """The passages shown to the model, numbered from 1, and the documents they come from."""

    passages: list[Passage]
    documents: dict[int, str]


class GroundedGenerator:
    """One component: (question, passages) → streamed text → checked answer."""

    def __init__(self, model, max_passage_chars: int = 1200):
        self.model = model
        self.max_passage_chars = max_passage_chars

    def messages(self, question: str, passages: list[Passage]) -> list[BaseMessage]:
        blocks = []
        for n, p in enumerate(passages, 1):
            text = p.text if len(p.text) <= self.max_passage_chars else p.text[: self.max_passage_chars] + " …"
            blocks.append(f"[{n}] ({p.title})\n{text}")
        user = "Passages:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"
        return [SystemMessage(SYSTEM_PROMPT), HumanMessage(user)]

    def stream(self, question: str, prompted: Prompted) -> Iterator[str | Citation]:
        """Yield the model's text piece by piece, and each quote as a `Citation` once it checks out.

        The citations yielded here are provisional (numbered in order of discovery);
        `finish()` gives the final, renumbered answer.
        """
        text = ""
        announced: set[tuple[int, int]] = set()
        settled: set[int] = set()  # start of each complete quote already looked up
        for chunk in self.model.stream(self.messages(question, prompted.passages)):
            piece = str(chunk.text) if hasattr(chunk, "text") else str(chunk)
            if not piece:
                continue
            text += piece
            yield piece
            for m in QUOTE_PATTERN.finditer(text):
                # A quote is complete once its passage number is closed, or other text follows it.
                body, ref = quote_parts(m)
                after = text[m.end() :].lstrip()
                if m.start() in settled or (not ref and (not after or after.startswith(("[", "(")))):
                    continue
                settled.add(m.start())
                if not is_checked(body, ref):  # the final check leaves it as prose: nothing to announce
                    continue
                cited = cited_numbers(ref)
                found = find_quote(body, cited, prompted.passages, prompted.documents)
                if found is None or found[:2] in announced:
                    continue
                announced.add(found[:2])
                moved = bool(cited) and found[0] not in cited
                yield citation_at(prompted.passages, prompted.documents, found, len(announced), moved)

    def finish(self, text: str, prompted: Prompted) -> tuple[CheckedAnswer, bool]:
        """The checked answer, and whether the model said the passages don't answer."""
        checked = check_quotes(text, prompted.passages, prompted.documents)
        return checked, bool(_SAYS_UNANSWERED.search(text))


def written_answer(
    llm,
    settings: Settings,
    snapshot: Snapshot,
    question: str,
    rewritten: str | None,
    passages: list[Passage],
    selection: Selection,
    extractive: list[Citation],
    timings: dict,
    t0: float,
) -> Iterator[str | Citation | Answer]:
    """A written answer, streamed: the model's text as it comes, each verified quote, then the
    `Answer` (written, refused by the model, or qa's own quotes when nothing it wrote checks out)."""
    shown = passages[: settings.llm_passages]
    prompted = Prompted(shown, {p.doc_id: snapshot.document_text(p.doc_id) for p in shown})
    generator = GroundedGenerator(llm)
    t_start = time.perf_counter()
    first_token = None
    text = ""
    for event in generator.stream(rewritten or question, prompted):
        if isinstance(event, str):
            text += event
            first_token = first_token or time.perf_counter()
        yield event
    checked, said_unanswered = generator.finish(text, prompted)
    t_end = time.perf_counter()
    timings["first_token_ms"] = ((first_token or t_end) - t_start) * 1000
    timings["generate_ms"] = (t_end - t_start) * 1000
    timings["total_ms"] = (t_end - t0) * 1000
    counts = checked.counts()
    sound = bool(checked.citations) and all(verbatim(snapshot, c) for c in checked.citations)
    if sound:
        yield Answer(
            question, checked.text, False, checked.citations, timings, selection.confidence,
            rewritten, "generative", counts,
        )  # fmt: skip
    elif said_unanswered and settings.llm_may_refuse:
        text = refusal_text(snapshot.counts["documents"])
        yield Answer(question, text, True, [], timings, selection.confidence, rewritten, "generative", counts)
    else:
        # Nothing the model wrote could be checked (or it found no answer where qa's
        # calibrated scores found one): show the sentences that answer instead.
        counts["model_found_no_answer"] = int(said_unanswered)
        yield Answer(
            question, compose(extractive), False, extractive, timings, selection.confidence,
            rewritten, "fallback", counts,
        )  # fmt: skip
