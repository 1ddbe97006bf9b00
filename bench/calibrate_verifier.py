"""Fit how a language model's verdict joins qa's probability, and the thresholds of verified answers.

    .venv/bin/python bench/calibrate_verifier.py --llm models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf

For each question (a SQuAD sample and our own development questions, the same sets as
bench/calibrate.py, never the second held-out round) qa scores the sentences as usual,
then the model is asked which of the best ones answers (qa/answering/verification.py). A logistic
model over logit(qa's probability), logit(P(none)) and logit(P(sentence 1)) predicts
whether the best sentence answers; the thresholds follow bench/calibrate.py's rules.
Verdicts are cached in --work (a few seconds each), so a refit is instant.
The chosen numbers go into qa/answering/verification.py and qa/config.py by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from calibrate import answers, candidates, fit_logistic, question_sets, thresholds  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from qa.answering.answerer import Answerer  # noqa: E402
from qa.answering.llm import chat_model  # noqa: E402
from qa.answering.scoring import PLAIN, distinct_texts  # noqa: E402
from qa.answering.verification import Verifier, _logit  # noqa: E402
from qa.config import Settings  # noqa: E402

NAMES = ("bias", "confidence", "none", "first")


def collect(qa, questions, prefix, verifier, cache: dict, label: str) -> list[dict]:
    rows = []
    answerer = Answerer(qa.snapshot, qa.settings)
    for q in tqdm(questions, desc=label, unit="q"):
        key = f"{label}\t{q.qid}\t{q.question}"
        if key not in cache:
            sentences = candidates(qa, answerer, q.question)
            row = {"answerable": q.answerable, "confidence": 0.0, "good": False, "none": 1.0, "first": 0.0}
            if sentences:
                best = sentences[0]
                verdict = verifier.run(q.question, distinct_texts(sentences, verifier.sentences))
                row.update(
                    confidence=PLAIN.probability(best),
                    good=answers(q, best, prefix),  # the best sentence holds the answer
                    none=verdict.none,
                    first=verdict.first,
                    choice=verdict.choice,
                )
            cache[key] = row
        rows.append(cache[key])
    return rows


def features(rows) -> np.ndarray:
    return np.array([[_logit(r["confidence"]), _logit(r["none"]), _logit(r["first"])] for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--llm", required=True, help="the model to calibrate for (.gguf file or spec, as --llm)")
    ap.add_argument("--squad", type=Path, default=ROOT.parent / "shared/data/squad2-dev-a.json")
    ap.add_argument("--work", type=Path, default=ROOT / "bench/results/calibration")
    ap.add_argument("--bbc", type=Path, default=ROOT.parent / "shared/data/bbc", help="the full BBC set")
    ap.add_argument("--squad-questions", type=int, default=300, help="SQuAD questions to ask the model")
    args = ap.parse_args()

    settings = Settings()
    verifier = Verifier(chat_model(args.llm, settings), settings.verify_sentences)
    cache_file = args.work / f"verdicts-{Path(args.llm).stem}.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    squad_qa, questions, dev_sets = question_sets(args.squad, args.work, args.bbc)
    try:
        squad_rows = collect(squad_qa, questions[: args.squad_questions], "", verifier, cache, "squad")
        dev_rows = [
            row
            for n, (qa, qs, prefix, _) in enumerate(dev_sets)
            for row in collect(qa, qs, prefix, verifier, cache, f"dev{n}")
        ]
    finally:
        cache_file.write_text(json.dumps(cache))

    def labels(rows):
        return np.array([float(r["good"]) for r in rows]), np.array([r["answerable"] for r in rows])

    weight = max(1, round(len(squad_rows) / len(dev_rows)))  # our questions weigh as much as SQuAD's
    X, (y, _) = features(squad_rows + dev_rows * weight), labels(squad_rows + dev_rows * weight)
    coef = fit_logistic(X, y)
    print("verified model: " + " ".join(f"{n}={v:.3f}" for n, v in zip(NAMES, coef, strict=True)))

    def probability(rows):
        return 1 / (1 + np.exp(-(coef[0] + features(rows) @ coef[1:])))

    # Five folds (refit on four, measured on the fifth) say how much of the gain is fitted noise.
    rows = squad_rows + dev_rows
    order = np.random.default_rng(0).permutation(len(rows))
    held = np.zeros(len(rows))
    for fold in range(5):
        test = order[fold::5]
        train = np.setdiff1d(order, test)
        fit = [rows[i] for i in train]
        c = fit_logistic(features(fit), labels(fit)[0])
        held[test] = 1 / (1 + np.exp(-(c[0] + features([rows[i] for i in test]) @ c[1:])))

    for name, part in (("SQuAD", slice(0, len(squad_rows))), ("own dev", slice(len(squad_rows), len(rows)))):
        _, ans = labels(rows[part])
        base = np.array([r["confidence"] for r in rows[part]])
        print(f"\n{name} ({ans.sum()} answerable, {(~ans).sum()} unanswerable): refused unanswerable / answerable")
        print("  threshold   qa alone   verified (5-fold held out)")
        for t in (0.1, 0.15, 0.18, 0.2, 0.25, 0.3, 0.35, 0.4):
            print(
                f"  {t:.2f}  {(base[~ans] < t).sum():4d} / {(base[ans] < t).sum():3d}"
                f"    {(held[part][~ans] < t).sum():4d} / {(held[part][ans] < t).sum():3d}"
            )

    y_dev, ans = labels(dev_rows)
    p_dev = probability(dev_rows)
    threshold, caveat = thresholds(p_dev, y_dev, ans)
    out = {
        "llm": args.llm,
        "verified_model": dict(zip(NAMES, map(float, coef), strict=True)),
        "verified_threshold": round(float(threshold), 2),
        "verified_caveat_threshold": round(float(caveat), 2),
    }
    (args.work / f"verifier-{Path(args.llm).stem}.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
