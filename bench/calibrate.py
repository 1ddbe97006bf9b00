"""Fit the sentence-score weights and the answerability model on real questions.

    .venv/bin/python bench/calibrate.py [--squad ../shared/data/squad2-dev-a.json]

Builds (or reuses) an index of the SQuAD paragraphs and one of the seed article
with the BBC articles, collects the signals of every candidate sentence for every
question, then
1. grid-searches the sentence-score weights for answer-sentence accuracy (half on
   SQuAD, half on our own development questions), and
2. fits a logistic model P(the best sentence answers) on SQuAD (answerable
   vs. unanswerable) plus our own dev questions, prints the refusal trade-off at
   several thresholds and the threshold the documented rule picks: of those that
   refuse at most 5 % of the answerable dev questions, the one that refuses the most
   unanswerable ones net of false refusals (the lowest such), and
3. picks the caveat threshold: the highest at which at least two of three answers it
   flags (shown, but with "the articles may not answer this directly") are wrong.
The chosen numbers go into qa/answering.py and qa/config.py by hand.

Own development questions: tests/data/questions/*.json, the first held-out round
(bench/questions/{seed,bbc}_heldout.json) and bench/questions/bbc_dev.json. Never
the second held-out round (*_heldout2.json): that one stays unseen.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import QA  # noqa: E402
from qa.answering import FEATURES, Answerer, ScoredSentence, features  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.evaluation import own_questions, squad_to_corpus  # noqa: E402
from qa.indexing import Indexer  # noqa: E402
from qa.retrieval import Retriever  # noqa: E402


def candidates(qa: QA, answerer: Answerer, question: str) -> list[ScoredSentence]:
    """The sentences qa scores for `question`, best first, found as `QA.ask` finds them."""
    vec = qa.embedder.embed_queries([question])[0]
    passages = Retriever(qa.snapshot, None, qa.settings).search(question, qa.settings.k, query_vector=vec).passages
    return answerer.score_sentences(question, vec, passages)


def answers(q, sentence: ScoredSentence, prefix: str = "") -> bool:
    """The label: `sentence` holds `q`'s answer (a gold answer, or the evidence sentence) in the
    article that answers it."""
    src = sentence.source[len(prefix) :] if sentence.source.startswith(prefix) else sentence.source
    return bool(
        q.answerable
        and src == q.source
        and any(a in sentence.text or (len(a) > 60 and sentence.text in a) for a in q.answers)
    )


def collect(qa: QA, questions, prefix: str = ""):
    rows = []
    answerer = Answerer(qa.snapshot, qa.settings)
    for q in questions:
        cands = candidates(qa, answerer, q.question)
        feats = [features(c) for c in cands]
        good = [answers(q, c, prefix) for c in cands]
        rows.append(
            {
                "answerable": q.answerable,
                "feats": np.array(feats, dtype=np.float32).reshape(-1, len(FEATURES)),
                "good": np.array(good),
            }
        )
    return rows


def question_sets(squad_json: Path, work: Path, bbc_dir: Path):
    """The SQuAD index and its questions (shuffled with a fixed seed), and our own development
    question sets as (QA, questions, source prefix), building or updating the indexes in `work`.

    Own dev questions are the kind of question users ask. Over the full BBC set when it is at
    hand (the seed article indexed with it), else the fixtures; the seed questions also over
    the seed article alone: what `make run` indexes, where every word is rarer or commoner."""
    settings = Settings()
    corpus, index = work / "squad-corpus", work / "squad-index"
    questions = squad_to_corpus(squad_json, corpus)
    Indexer(settings.replace(corpus_dir=corpus, index_dir=index)).build(corpus, index)
    squad_qa = QA.load(index)
    random.Random(0).shuffle(questions)

    news = work / "news-corpus"
    bbc = bbc_dir if bbc_dir.exists() else ROOT / "tests/data/bbc"
    if not news.exists():
        shutil.copytree(ROOT / "corpus", news)
        shutil.copytree(bbc, news / "bbc")
    Indexer(settings).build(news, work / "news-index")
    news_qa = QA.load(work / "news-index", embedder=squad_qa.embedder)
    Indexer(settings).build(ROOT / "corpus", work / "seed-index")
    seed_qa = QA.load(work / "seed-index", embedder=squad_qa.embedder)
    seed_sets = [ROOT / "tests/data/questions/seed.json", ROOT / "bench/questions/seed_heldout.json"]
    bbc_sets = [ROOT / "tests/data/questions/bbc.json"]
    if bbc == bbc_dir:
        bbc_sets += [ROOT / "bench/questions/bbc_heldout.json", ROOT / "bench/questions/bbc_dev.json"]
    dev_sets = [(news_qa, own_questions(path), "") for path in seed_sets]
    dev_sets += [(seed_qa, own_questions(path), "") for path in seed_sets]
    dev_sets += [(news_qa, own_questions(path), "bbc/") for path in bbc_sets]
    return squad_qa, questions, dev_sets


def best_index(rows, w):
    return [int(np.argmax(r["feats"] @ w)) if len(r["feats"]) else -1 for r in rows]


class Candidates:
    """The answerable questions' candidate sentences in one matrix, so a grid point costs one product."""

    def __init__(self, rows):
        ans = [r for r in rows if r["answerable"]]
        full = [r for r in ans if len(r["feats"])]
        sizes = [len(r["feats"]) for r in full]
        self.starts = np.cumsum([0, *sizes[:-1]])
        self.segment = np.repeat(np.arange(len(full)), sizes)
        self.feats = np.vstack([r["feats"] for r in full])
        self.good = np.concatenate([r["good"] for r in full])
        self.questions = len(ans)

    def accuracy(self, w) -> float:
        """Share of answerable questions whose best-scored sentence answers (those without candidates miss)."""
        scores = self.feats @ w
        is_best = scores == np.maximum.reduceat(scores, self.starts)[self.segment]
        first_best = np.minimum.reduceat(np.where(is_best, np.arange(len(scores)), len(scores)), self.starts)
        return float(self.good[first_best].sum() / self.questions)


def fit_logistic(X, y, l2=1e-3, iters=50):
    X1 = np.hstack([np.ones((len(X), 1)), X])
    w = np.zeros(X1.shape[1])
    for _ in range(iters):  # Newton / IRLS
        p = 1 / (1 + np.exp(-X1 @ w))
        g = X1.T @ (p - y) + l2 * w
        H = (X1 * (p * (1 - p))[:, None]).T @ X1 + l2 * np.eye(len(w))
        w -= np.linalg.solve(H, g)
    return w


def refusal_threshold(p, answerable) -> float:
    """The rule: of the thresholds that refuse at most 5 % of the answerable questions, the one that
    refuses the most unanswerable ones net of false refusals (each counts one); the lowest on ties.
    (Until the seventh session: the most unanswerable refused, which could buy one more refusal
    with several false ones.)"""
    ans = np.asarray(answerable, dtype=bool)
    allowed = [t for t in np.arange(0.05, 0.5, 0.01) if (p[ans] < t).mean() <= 0.05]
    return float(min(allowed, key=lambda t: (-((p[~ans] < t).sum() - (p[ans] < t).sum()), t)))


def thresholds(p, y, answerable) -> tuple[float, float]:
    """The refusal threshold and the caveat threshold the rules pick, each printed with its counts."""
    ans = np.asarray(answerable, dtype=bool)
    threshold = refusal_threshold(p, ans)
    print(
        f"\nthreshold by the rule (most unanswerable refused net of false refusals, <= 5 % false): {threshold:.2f} "
        f"(refuses {(p[ans] < threshold).sum()}/{ans.sum()} answerable, "
        f"{(p[~ans] < threshold).sum()}/{(~ans).sum()} unanswerable)"
    )
    return threshold, caveat_threshold(p, y, ans, threshold)


def caveat_threshold(p, y, answerable, threshold: float) -> float:
    """The rule: the highest threshold at which at least two of three answers it flags are wrong.

    A shown answer whose probability is below it says the articles may not answer. Counted on
    the questions qa does not refuse; "wrong" means the best sentence does not answer (the
    question is unanswerable, or another sentence does). Prints the table it chose from."""
    ans = np.asarray(answerable, dtype=bool)
    shown = p >= threshold

    def flagged(t):
        band = shown & (p < t)
        return int((band & (y == 1)).sum()), int((band & (y == 0)).sum())

    print("\nanswered: caveat below  flagged right / wrong  unflagged right / wrong")
    for t in np.arange(threshold + 0.02, 0.61, 0.02):
        right, wrong = flagged(t)
        print(
            f"  {t:.2f}  {right} / {wrong}  {int((shown & (y == 1)).sum()) - right} / {int((shown & (y == 0)).sum()) - wrong}"
        )
    caveat = max((t for t in np.arange(threshold, 0.61, 0.01) if flagged(t)[1] >= 2 * flagged(t)[0]), default=threshold)
    right, wrong = flagged(caveat)
    band = shown & (p < caveat)
    print(
        f"caveat threshold by the rule (>= 2/3 of flagged answers wrong): {caveat:.2f} ({right} right, {wrong} wrong; "
        f"flags {(band & ans).sum()}/{ans.sum()} answerable, {(band & ~ans).sum()}/{(~ans).sum()} unanswerable)"
    )
    return float(caveat)


def _grid():
    """Weights in FEATURES order: cosine, coverage, context, passage (the rest to 1), fits."""
    for wc in np.arange(0.3, 0.81, 0.05):
        for wv in np.arange(0.0, 0.61, 0.05):
            for wx in np.arange(0.0, 0.61, 0.05):
                wp = 1 - wc - wv - wx
                if wp < -1e-9:
                    continue
                for wf in (0.0, 0.05, 0.1, 0.15, 0.2):
                    yield np.array([wc, wv, wx, max(wp, 0.0), wf])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--squad", type=Path, default=ROOT.parent / "shared/data/squad2-dev-a.json")
    ap.add_argument("--work", type=Path, default=ROOT / "bench/results/calibration")
    ap.add_argument("--bbc", type=Path, default=ROOT.parent / "shared/data/bbc", help="the full BBC set")
    ap.add_argument("--limit", type=int, default=None, help="SQuAD questions (quick runs)")
    args = ap.parse_args()

    squad_qa, questions, dev_sets = question_sets(args.squad, args.work, args.bbc)
    questions = questions[: args.limit] if args.limit else questions
    half = len(questions) // 2
    fit_q, test_q = questions[:half], questions[half:]
    print(f"SQuAD: {len(fit_q)} questions to fit, {len(test_q)} held out")
    fit_rows, test_rows = collect(squad_qa, fit_q), collect(squad_qa, test_q)
    dev_rows = [row for qa, qs, prefix in dev_sets for row in collect(qa, qs, prefix)]
    print(f"own dev questions: {len(dev_rows)} ({sum(r['answerable'] for r in dev_rows)} answerable)")

    # 1. sentence-score weights: SQuAD and our own questions count equally.
    fit_c, test_c, dev_c = Candidates(fit_rows), Candidates(test_rows), Candidates(dev_rows)

    def objective(w):
        return (fit_c.accuracy(w) + dev_c.accuracy(w)) / 2

    def report(label, w):
        print(
            f"{label}: top-1 sentence accuracy SQuAD fit {fit_c.accuracy(w):.3f}, "
            f"SQuAD held out {test_c.accuracy(w):.3f}, own dev {dev_c.accuracy(w):.3f}"
        )

    w = max(_grid(), key=objective)
    # What each signal adds: the same search with signals switched off.
    for name, mask in (
        ("cosine only", (1, 0, 0, 0, 0)),
        ("cosine + coverage", (1, 1, 0, 0, 0)),
        ("+ context", (1, 1, 1, 0, 0)),
        ("all", (1, 1, 1, 1, 1)),
    ):
        report(f"ablation {name}", max((c for c in (x * np.array(mask) for x in _grid()) if c.any()), key=objective))
    report("sentence weights " + " ".join(f"{n}={v:.2f}" for n, v in zip(FEATURES, w, strict=True)), w)

    # 2. answerability model on the best sentence
    def xy(rows):
        idx = best_index(rows, w)
        X = np.array([r["feats"][i] if i >= 0 else (0.0,) * len(FEATURES) for r, i in zip(rows, idx, strict=True)])
        y = np.array(
            [float(i >= 0 and r["good"][i]) if r["answerable"] else 0.0 for r, i in zip(rows, idx, strict=True)]
        )
        return X, y

    weight = max(1, round(len(fit_rows) / len(dev_rows)))  # our few questions weigh as much as SQuAD's
    X, y = xy(fit_rows + dev_rows * weight)
    coef = fit_logistic(X, y)
    print("answerable model: " + " ".join(f"{n}={v:.3f}" for n, v in zip(("bias", *FEATURES), coef, strict=True)))

    def probability(X):
        return 1 / (1 + np.exp(-(coef[0] + X @ coef[1:])))

    def tradeoff(rows, name):
        """Print the refusal trade-off; returns each question's probability and label."""
        X, yt = xy(rows)
        p = probability(X)
        ans = np.array([r["answerable"] for r in rows])
        print(f"\n{name}: threshold  refuse-unanswerable  refuse-answerable(false)  answered-correctly")
        for t in (0.05, 0.08, 0.1, 0.12, 0.15, 0.18, 0.2, 0.25, 0.3, 0.4, 0.5):
            refuse = p < t
            print(
                f"  {t:.2f}  {refuse[~ans].mean() if (~ans).any() else float('nan'):.3f}  "
                f"{refuse[ans].mean() if ans.any() else float('nan'):.3f}  {(yt[ans] * ~refuse[ans]).mean() if ans.any() else float('nan'):.3f}"
            )
        return p, yt

    tradeoff(test_rows, "SQuAD held out")
    p_dev, y_dev = tradeoff(dev_rows, "own dev questions")
    ans = np.array([r["answerable"] for r in dev_rows])
    threshold, caveat = thresholds(p_dev, y_dev, ans)
    out = {
        "score_weights": dict(zip(FEATURES, map(float, w), strict=True)),
        "answerable_model": dict(zip(("bias", *FEATURES), map(float, coef), strict=True)),
        "answer_threshold": round(float(threshold), 2),
        "caveat_threshold": round(float(caveat), 2),
    }
    (args.work / "calibration.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
