"""Fit the sentence-score weights and the answerability model on real questions.

    .venv/bin/python bench/calibrate.py [--squad ../shared/data/squad2-dev-a.json]

Builds (or reuses) an index of the SQuAD paragraphs, collects the three signals
of every candidate sentence for every question, then
1. grid-searches the sentence-score weights for answer-sentence accuracy, and
2. fits a logistic model P(the best sentence answers) on SQuAD (answerable
   vs. unanswerable) plus our own dev questions, and prints the refusal trade-off
   at several thresholds. The chosen numbers go into qa/answering.py by hand.
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
from qa.answering import FEATURES, Answerer, features  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.evaluation import own_questions, squad_to_corpus  # noqa: E402
from qa.indexing import Indexer  # noqa: E402
from qa.retrieval import Retriever  # noqa: E402


def collect(qa: QA, questions, prefix: str = ""):
    rows = []
    answerer = Answerer(qa.snapshot, qa.settings)
    for q in questions:
        vec = qa.embedder.embed_queries([q.question])[0]
        passages = (
            Retriever(qa.snapshot, None, qa.settings).search(q.question, qa.settings.k, query_vector=vec).passages
        )
        cands = answerer.score_sentences(q.question, vec, passages)
        feats, good = [], []
        for c in cands:
            feats.append(features(c))
            src = c.source[len(prefix) :] if c.source.startswith(prefix) else c.source
            good.append(
                bool(
                    q.answerable
                    and src == q.source
                    and any(a in c.text or (len(a) > 60 and c.text in a) for a in q.answers)
                )
            )
        rows.append(
            {
                "answerable": q.answerable,
                "feats": np.array(feats, dtype=np.float32).reshape(-1, len(FEATURES)),
                "good": np.array(good),
            }
        )
    return rows


def best_index(rows, w):
    return [int(np.argmax(r["feats"] @ w)) if len(r["feats"]) else -1 for r in rows]


def sentence_accuracy(rows, w):
    ans = [r for r in rows if r["answerable"]]
    idx = best_index(ans, w)
    return float(np.mean([r["good"][i] if i >= 0 else False for r, i in zip(ans, idx, strict=True)]))


def fit_logistic(X, y, l2=1e-3, iters=50):
    X1 = np.hstack([np.ones((len(X), 1)), X])
    w = np.zeros(X1.shape[1])
    for _ in range(iters):  # Newton / IRLS
        p = 1 / (1 + np.exp(-X1 @ w))
        g = X1.T @ (p - y) + l2 * w
        H = (X1 * (p * (1 - p))[:, None]).T @ X1 + l2 * np.eye(len(w))
        w -= np.linalg.solve(H, g)
    return w


def _grid():
    for wc in np.arange(0.3, 1.01, 0.05):
        for wv in np.arange(0.0, 0.71, 0.05):
            wp = 1 - wc - wv
            if wp < -1e-9:
                continue
            for wf in (0.0, 0.05, 0.1, 0.15, 0.2):
                yield np.array([wc, wv, wp, wf])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--squad", type=Path, default=ROOT.parent / "shared/data/squad2-dev-a.json")
    ap.add_argument("--work", type=Path, default=ROOT / "bench/results/calibration")
    ap.add_argument("--limit", type=int, default=None, help="questions per set (quick runs)")
    args = ap.parse_args()

    settings = Settings()
    corpus, index = args.work / "squad-corpus", args.work / "squad-index"
    questions = squad_to_corpus(args.squad, corpus)
    Indexer(settings.replace(corpus_dir=corpus, index_dir=index)).build(corpus, index)
    qa = QA.load(index)
    rng = random.Random(0)
    rng.shuffle(questions)
    questions = questions[: args.limit] if args.limit else questions
    half = len(questions) // 2
    fit_q, test_q = questions[:half], questions[half:]
    print(f"SQuAD: {len(fit_q)} questions to fit, {len(test_q)} held out")
    fit_rows, test_rows = collect(qa, fit_q), collect(qa, test_q)

    # Our own dev questions (tests/data) join the fit set: they are the kind of question users ask.
    news = args.work / "news-corpus"
    if not news.exists():
        shutil.copytree(ROOT / "corpus", news)
        shutil.copytree(ROOT / "tests/data/bbc", news / "bbc")
    Indexer(settings).build(news, args.work / "news-index")
    news_qa = QA.load(args.work / "news-index", embedder=qa.embedder)
    seed_rows = collect(news_qa, own_questions(ROOT / "tests/data/questions/seed.json"))
    seed_rows += collect(news_qa, own_questions(ROOT / "tests/data/questions/bbc.json"), prefix="bbc/")

    # 1. sentence-score weights
    best = None
    for w in _grid():
        acc = sentence_accuracy(fit_rows, w)
        if best is None or acc > best[0]:
            best = (acc, w)
    acc, w = best
    # What each signal adds: the same search with signals switched off.
    for name, mask in (("cosine only", (1, 0, 0, 0)), ("cosine + coverage", (1, 1, 0, 0)), ("all", (1, 1, 1, 1))):
        sub = max(
            ((sentence_accuracy(fit_rows, c), c) for c in (x * np.array(mask) for x in _grid()) if c.any()),
            key=lambda t: t[0],
        )
        print(f"ablation {name}: fit {sub[0]:.3f}, held out {sentence_accuracy(test_rows, sub[1]):.3f}")
    print(
        "sentence weights "
        + " ".join(f"{n}={v:.2f}" for n, v in zip(FEATURES, w, strict=True))
        + f": top-1 sentence accuracy fit {acc:.3f}, held out {sentence_accuracy(test_rows, w):.3f}"
    )

    # 2. answerability model on the best sentence
    def xy(rows):
        idx = best_index(rows, w)
        X = np.array([r["feats"][i] if i >= 0 else (0.0,) * len(FEATURES) for r, i in zip(rows, idx, strict=True)])
        y = np.array(
            [float(i >= 0 and r["good"][i]) if r["answerable"] else 0.0 for r, i in zip(rows, idx, strict=True)]
        )
        return X, y

    X, y = xy(fit_rows + seed_rows * 10)  # weight our own questions up: they are few
    coef = fit_logistic(X, y)
    print("answerable model: " + " ".join(f"{n}={v:.3f}" for n, v in zip(("bias", *FEATURES), coef, strict=True)))

    def tradeoff(rows, name):
        Xt, _ = xy(rows)
        p = 1 / (1 + np.exp(-(coef[0] + Xt @ coef[1:])))
        ans = np.array([r["answerable"] for r in rows])
        print(f"\n{name}: threshold  refuse-unanswerable  refuse-answerable(false)  answered-correctly")
        _, yt = xy(rows)
        for t in (0.05, 0.08, 0.1, 0.12, 0.15, 0.18, 0.2, 0.25, 0.3, 0.4, 0.5):
            refuse = p < t
            print(
                f"  {t:.2f}  {refuse[~ans].mean() if (~ans).any() else float('nan'):.3f}  "
                f"{refuse[ans].mean() if ans.any() else float('nan'):.3f}  {(yt[ans] * ~refuse[ans]).mean() if ans.any() else float('nan'):.3f}"
            )

    tradeoff(test_rows, "SQuAD held out")
    tradeoff(seed_rows, "own dev questions (seed + BBC fixtures)")
    out = {
        "score_weights": dict(zip(FEATURES, map(float, w), strict=True)),
        "answerable_model": dict(zip(("bias", *FEATURES), map(float, coef), strict=True)),
    }
    (args.work / "calibration.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
