"""Pick the confidence at which qa shows the reader's short answer (`short_answer_threshold`).

    .venv/bin/python bench/calibrate_short.py                 # with the shipped reader
    .venv/bin/python bench/calibrate_short.py --reader build/reader/model

Development data only, as bench/calibrate.py: the last two Wikipedia articles of SQuAD 2.0
dev half B (kept out of the reader's training) in the index bench/calibrate.py builds in
bench/results/eval. Every answerable question is asked with the threshold at 0, so each
answer carries the span head's pick in its first quote with its confidence; the table
shows, per threshold, how many answers would show a short answer and how good those are
(SQuAD exact match and token F1). The rule: the lowest threshold at which the short
answers shown score F1 >= 0.80, so a bold answer is right far more often than not.
Run it after the answerer's weights for the reader are in qa/answering/scoring.py.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import QA  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.evaluation.metrics import answer_f1, exact_match  # noqa: E402
from qa.evaluation.questions import squad_to_corpus  # noqa: E402
from qa.indexing.indexer import Indexer  # noqa: E402

RULE_F1 = 0.80
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--squad", type=Path, default=ROOT.parent / "shared/data/squad2-dev-b.json")
    ap.add_argument("--squad-articles", type=int, default=2)
    ap.add_argument("--work", type=Path, default=ROOT / "bench/results/eval")
    ap.add_argument("--reader", default=Settings().reader)
    args = ap.parse_args()

    settings = Settings(reader=args.reader, short_answer_threshold=0.0)
    corpus, index = args.work / "squad-dev-b-corpus", args.work / "indexes" / "squad-dev-b-index"
    questions = [q for q in squad_to_corpus(args.squad, corpus, last_articles=args.squad_articles) if q.answerable]
    Indexer(settings.replace(corpus_dir=corpus, index_dir=index)).build(corpus, index)
    qa = QA.load(index, settings=settings)
    random.Random(0).shuffle(questions)

    rows = []  # (confidence, EM, F1) of each answer that has a span in its first quote
    answered = 0
    for q in questions:
        a = qa.ask(q.question)
        answered += not a.refused
        if a.span_guess is not None and not a.uncertain:
            rows.append(
                (
                    a.span_guess.confidence,
                    exact_match(a.span_guess.text, q.short),
                    answer_f1(a.span_guess.text, q.short),
                )
            )
    print(f"{len(questions)} answerable questions, {answered} answered, {len(rows)} with a span and no caveat")
    print("threshold  shown(of answerable)  EM(shown)  F1(shown)")
    table, chosen = [], None
    for t in THRESHOLDS:
        shown = [r for r in rows if r[0] >= t]
        em = sum(r[1] for r in shown) / len(shown) if shown else float("nan")
        f1 = sum(r[2] for r in shown) / len(shown) if shown else float("nan")
        table.append({"threshold": t, "shown": len(shown) / len(questions), "em": em, "f1": f1})
        print(f"  {t:.1f}  {len(shown) / len(questions):.3f}  {em:.3f}  {f1:.3f}")
        if chosen is None and shown and f1 >= RULE_F1:
            chosen = t
    out = {"reader": args.reader, "short_answer_threshold": chosen, "rule_f1": RULE_F1, "table": table}
    (args.work / "calibration-short.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({k: v for k, v in out.items() if k != "table"}))


if __name__ == "__main__":
    main()
