"""Measure retrieval, answer-sentence selection and refusal on labelled questions
(questions.py) and print the table `qa eval` shows."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .metrics import answer_f1, exact_match
from .questions import LabelledQuestion, Suite, twin_sources


@dataclass
class Outcome:
    q: LabelledQuestion
    retrieved_sources: list[str]
    refused: bool
    quotes: list[tuple[str, int, int, str]]  # source, start, end, quote
    confidence: float
    ms: float
    mode: str = "extractive"
    quote_counts: dict[str, int] | None = None
    """Generative mode: the model's quotes verified / re-attributed / removed."""
    uncertain: bool = False
    """Answered with the caveat that the articles may not answer."""
    short: str | None = None
    """The short answer shown (None: none shown)."""
    span_guess: str | None = None
    """The reader's best short answer in the first quote, shown or not."""
    twins: frozenset[str] = frozenset()
    """Other articles with the same text as the question's source: retrieving one is a hit."""

    def hit(self, n: int) -> bool:
        """The article that answers (or an identical copy of it) is among the first `n` passages."""
        return any(s == self.q.source or s in self.twins for s in self.retrieved_sources[:n])

    def answer_found(self, within: int = 3) -> bool:
        """A cited quote (of the first `within`) contains a gold answer or overlaps the evidence."""
        for source, _, _, quote in self.quotes[:within]:
            for gold in self.q.answers:
                if len(gold) > 60 and (gold in quote or quote in gold or _overlap(quote, gold) > 0.5):
                    return True  # an evidence sentence: the same words in a duplicate article count too
                if source == self.q.source and gold in quote:
                    return True  # a short SQuAD answer: only in its own paragraph
        return False


def _overlap(a: str, b: str) -> float:
    wa, wb = set(a.lower().split()), set(b.lower().split())
    return len(wa & wb) / max(1, len(wb))


def run(
    qa,
    questions: list[LabelledQuestion],
    source_prefix: str = "",
    progress: bool = True,
    mode: str | None = None,
    twins: dict[str, frozenset[str]] | None = None,
) -> list[Outcome]:
    from tqdm.auto import tqdm

    outcomes = []
    for q in tqdm(questions, desc="Questions", unit="q", disable=not progress):
        passages = qa.search(q.question, k=5)  # for hit@k only: not timed, as a user's question has no such step
        t0 = time.perf_counter()
        answer = qa.ask(q.question, mode=mode)
        ms = (time.perf_counter() - t0) * 1000
        strip = len(source_prefix)
        outcomes.append(
            Outcome(
                q=q,
                retrieved_sources=[
                    p.source[strip:] if p.source.startswith(source_prefix) else p.source for p in passages
                ],
                refused=answer.refused,
                quotes=[
                    (c.source[strip:] if c.source.startswith(source_prefix) else c.source, c.start, c.end, c.quote)
                    for c in answer.citations
                ],
                confidence=answer.confidence,
                ms=ms,
                mode=answer.mode,
                quote_counts=answer.quotes,
                uncertain=answer.uncertain,
                short=answer.short_answer.text if answer.short_answer else None,
                span_guess=answer.span_guess.text if answer.span_guess else None,
                twins=(twins or {}).get(q.source or "", frozenset()),
            )
        )
    return outcomes


def metrics(outcomes: list[Outcome]) -> dict:
    answerable = [o for o in outcomes if o.q.answerable]
    impossible = [o for o in outcomes if not o.q.answerable]

    m: dict = {"questions": len(outcomes), "answerable": len(answerable), "unanswerable": len(impossible)}
    if answerable:
        n = len(answerable)
        m["retrieval_hit@1"] = sum(o.hit(1) for o in answerable) / n
        m["retrieval_hit@3"] = sum(o.hit(3) for o in answerable) / n
        m["retrieval_hit@5"] = sum(o.hit(5) for o in answerable) / n
        m["answer_top1"] = sum(o.answer_found(1) for o in answerable) / n
        m["answer_top3"] = sum(o.answer_found(3) for o in answerable) / n
        m["false_refusal_rate"] = sum(o.refused for o in answerable) / n
        m["caveat_rate"] = sum(o.uncertain for o in answerable) / n
    with_short = [o for o in answerable if o.q.short]
    if with_short and any(o.span_guess is not None for o in outcomes):
        # As SQuAD measures: every answerable question counts, an empty prediction scores 0.
        n = len(with_short)
        m["short_em"] = sum(exact_match(o.span_guess or "", o.q.short) for o in with_short) / n
        m["short_f1"] = sum(answer_f1(o.span_guess or "", o.q.short) for o in with_short) / n
        shown = [o for o in with_short if o.short is not None]
        m["short_shown"] = len(shown) / n
        if shown:
            m["short_shown_em"] = sum(exact_match(o.short, o.q.short) for o in shown) / len(shown)
            m["short_shown_f1"] = sum(answer_f1(o.short, o.q.short) for o in shown) / len(shown)
    refused = [o for o in outcomes if o.refused]
    if impossible:
        m["refusal_recall"] = sum(o.refused for o in impossible) / len(impossible)
        # A caveat is a softer "the articles may not say": counted apart, never as a refusal.
        m["refused_or_caveat"] = sum(o.refused or o.uncertain for o in impossible) / len(impossible)
        # Apart: near-misses (about an article's own story, a detail it does not give) are
        # the hard kind; questions about news no article covers are the easy one.
        for key, kind in (("refused_near_miss", True), ("refused_off_topic", False)):
            group = [o for o in impossible if bool(o.q.source) == kind]
            if group:
                m[key] = sum(o.refused for o in group) / len(group)
    if refused:
        m["refusal_precision"] = sum(not o.q.answerable for o in refused) / len(refused)
    answered = [o for o in outcomes if not o.refused]
    if answered:
        m["quotes_per_answer"] = sum(len(o.quotes) for o in answered) / len(answered)
    if any(o.quote_counts is not None for o in outcomes) and answered:
        # Faithfulness of the generative mode: how often the written answer stood (every
        # shown quote checked) rather than falling back, and how many of the model's
        # quotes were found in the articles at all.
        m["written_share"] = sum(o.mode == "generative" for o in answered) / len(answered)
        totals = {"verified": 0, "reattributed": 0, "removed": 0, "copied": 0}
        for o in outcomes:
            for key in totals:
                totals[key] += (o.quote_counts or {}).get(key, 0)
        written = totals["verified"] + totals["reattributed"] + totals["removed"]  # in quote marks
        m["model_quotes"] = totals
        if written:
            m["quotes_verified"] = (totals["verified"] + totals["reattributed"]) / written
    m["latency_ms_p50"] = percentile([o.ms for o in outcomes], 50)
    m["latency_ms_p95"] = percentile([o.ms for o in outcomes], 95)
    return m


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    k = (len(values) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def evaluate(
    suite: Suite,
    work: Path,
    settings,
    embedder=None,
    limit: int | None = None,
    progress: bool = True,
    llm=None,
) -> dict:
    """Index the suite's corpus (incrementally, cached under `work`) and measure it.

    With `llm` (a model spec or a LangChain chat model), answers are generative; with
    `settings.verify` too, they are qa's own quotes checked by that model.
    """
    import random

    from ..engine import QA
    from ..indexing.indexer import Indexer

    index = work / f"{suite.index_name or suite.name}-index"
    indexer = Indexer(settings, embedder)
    indexer.build(suite.corpus, index, progress=progress)
    if isinstance(llm, str):
        settings, llm = settings.replace(llm=llm), None
    qa = QA.load(index, settings=settings, embedder=indexer.embedder, llm=llm)
    questions = suite.questions
    if limit is not None and limit < len(questions):
        questions = random.Random(0).sample(questions, limit)
    # Verified answers are measured as quotes picked by qa: the verdict's effect, not the writing's.
    mode = "generative" if qa.generative and not settings.verify else "extractive"
    twins = twin_sources(suite.corpus, {q.source for q in questions if q.source}, suite.source_prefix)
    outcomes = run(qa, questions, suite.source_prefix, progress=progress, mode=mode, twins=twins)
    name = suite.name + (" (generative)" if mode == "generative" else "") + (" (verified)" if settings.verify else "")
    reader = "none" if settings.verify else settings.reader  # a verified answer is read without it
    result = {"suite": name, "reader": reader, **metrics(outcomes)}
    result["misses"] = [
        o.q.question
        for o in outcomes
        if (o.q.answerable and not o.answer_found(3)) or (not o.q.answerable and not o.refused)
    ][:50]
    return result


TABLE_COLUMNS = [
    ("questions", "questions", "{:d}"),
    ("retrieval_hit@1", "hit@1", "{:.3f}"),
    ("retrieval_hit@3", "hit@3", "{:.3f}"),
    ("retrieval_hit@5", "hit@5", "{:.3f}"),
    ("answer_top1", "answer@1", "{:.3f}"),
    ("answer_top3", "answer@3", "{:.3f}"),
    ("false_refusal_rate", "false refusals", "{:.3f}"),
    ("refusal_recall", "refusal recall", "{:.3f}"),
    ("refused_near_miss", "near-misses refused", "{:.3f}"),
    ("refused_off_topic", "off-topic refused", "{:.3f}"),
    ("refusal_precision", "refusal precision", "{:.3f}"),
    ("caveat_rate", "caveat", "{:.3f}"),
    ("short_em", "short EM", "{:.3f}"),
    ("short_f1", "short F1", "{:.3f}"),
    ("short_shown", "short shown", "{:.3f}"),
    ("short_shown_em", "shown EM", "{:.3f}"),
    ("refused_or_caveat", "refused or caveat", "{:.3f}"),
    ("written_share", "written", "{:.3f}"),
    ("quotes_verified", "quotes verified", "{:.3f}"),
    ("latency_ms_p50", "p50 ms", "{:.1f}"),
    ("latency_ms_p95", "p95 ms", "{:.1f}"),
]


def format_table(results: list[dict]) -> str:
    header = ["suite"] + [label for _, label, _ in TABLE_COLUMNS]
    rows = [header]
    for r in results:
        rows.append([r["suite"]] + [fmt.format(r[key]) if key in r else "–" for key, _, fmt in TABLE_COLUMNS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
