"""Fit the sentence-score weights and the answerability model on real questions.

    .venv/bin/python bench/calibrate.py                       # with the shipped reader
    .venv/bin/python bench/calibrate.py --reader none         # qa's own signals only
    .venv/bin/python bench/calibrate.py --reader build/reader/model

Builds (or reuses, in bench/results/eval: the same indexes as `qa eval`) an index of
SQuAD paragraphs and one of the seed article with the BBC articles, collects the
signals of every candidate sentence for every question (with the reader's score when
there is a reader), then
1. grid-searches the sentence-score weights for answer-sentence accuracy (half on
   SQuAD, half on our own development questions), and
2. fits a logistic model P(the best sentence answers) on SQuAD (answerable
   vs. unanswerable) plus our own dev questions, prints the refusal trade-off at
   several thresholds and the threshold the documented rule picks: of those that
   refuse at most 5 % of the answerable dev questions, the one that refuses the most
   unanswerable ones net of false refusals (the lowest such), and
3. picks the caveat threshold: the highest at which at least two of three answers it
   flags (shown, but with "the articles may not answer this directly") are wrong, and
4. the citation margin that cites as many sentences on average as qa did without a
   reader (so answers stay as long), printing what each margin gives.
For a reader trained with "no answer" in its span head (`qa reader train --span-null`),
the answerability model also gets each sentence's `span_gap` (refusal only: it does not
rank sentences), and the trade-off is printed with and without it, so the refit shows
what the gap gives before it is adopted.
The chosen numbers go into qa/answering/scoring.py (`PLAIN` or `WITH_READER`) by hand.

SQuAD questions: the last two Wikipedia articles of SQuAD 2.0 dev half B, which the
reader was not trained on (qa/training/data.py). Never half A: that is the evaluation set.
Own development questions: tests/data/questions/*.json, the first held-out round
(bench/questions/{seed,bbc}_heldout.json), bench/questions/bbc_dev.json and
bench/questions/bbc_written_dev.json (300 written over train-split articles, half of them
near-misses: the hard kind of question to refuse, never trained on). Never
the later held-out rounds (*_heldout2.json onwards): those stay unseen.
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
from qa.answering.answerer import Answerer  # noqa: E402
from qa.answering.reader import load_reader  # noqa: E402
from qa.answering.scoring import FEATURES, PLAIN, READER_FEATURES, ScoredSentence, features  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.evaluation.questions import own_questions, squad_to_corpus, twin_sources  # noqa: E402
from qa.indexing.indexer import Indexer  # noqa: E402
from qa.search.retriever import Retriever  # noqa: E402


def candidates(qa: QA, answerer: Answerer, question: str) -> list[ScoredSentence]:
    """The sentences qa scores for `question`, best first, found as `QA.ask` finds them."""
    vec = qa.embedder.embed_queries([question])[0]
    passages = Retriever(qa.snapshot, None, qa.settings).search(question, qa.settings.k, query_vector=vec).passages
    return answerer.score_sentences(question, vec, passages)


def answers(q, sentence: ScoredSentence, prefix: str = "", twins: frozenset[str] = frozenset()) -> bool:
    """The label: `sentence` holds `q`'s answer (a gold answer, or the evidence sentence) in the
    article that answers it or in an identical copy of it (`twins`)."""
    src = sentence.source[len(prefix) :] if sentence.source.startswith(prefix) else sentence.source
    return bool(
        q.answerable
        and (src == q.source or src in twins)
        and any(a in sentence.text or (len(a) > 60 and sentence.text in a) for a in q.answers)
    )


def refusal_extras(reader) -> tuple[str, ...]:
    """Signals the answerability model gets beyond the ranking's (ScoredSentence fields)."""
    return ("span_gap",) if getattr(reader, "span_null", False) else ()


def collect(qa: QA, questions, prefix: str = "", reader=None, read: int | None = None, twins=None):
    """`read`: how many candidates the reader reads (None: the setting's); `twins`: each source's
    identical copies (`twin_sources`), whose sentences answer as well."""
    rows = []
    settings = qa.settings if read is None else qa.settings.replace(reader_candidates=read)
    answerer = Answerer(qa.snapshot, settings, reader=reader)
    names = READER_FEATURES if reader is not None else FEATURES
    extras = refusal_extras(reader)
    twins = twins or {}
    for q in questions:
        cands = candidates(qa, answerer, q.question)
        good = [answers(q, c, prefix, twins.get(q.source or "", frozenset())) for c in cands]
        rows.append(
            {
                "answerable": q.answerable,
                "feats": signal_matrix(cands, names),
                "good": np.array(good),
                "extra": signal_matrix(cands, extras),
            }
        )
    return rows


def signal_matrix(cands: list[ScoredSentence], names: tuple[str, ...]) -> np.ndarray:
    """One row per candidate, one column per signal; shaped even when either is empty."""
    return np.array([features(c, names) for c in cands], dtype=np.float32).reshape(len(cands), len(names))


def question_sets(squad_json: Path, work: Path, bbc_dir: Path, squad_articles: int = 2):
    """The SQuAD index and its questions (shuffled with a fixed seed), and our own development
    question sets as (QA, questions, source prefix), building or updating the indexes in `work`.

    Own dev questions are the kind of question users ask. Over the full BBC set when it is at
    hand (the seed article indexed with it), else the fixtures; the seed questions also over
    the seed article alone: what `make run` indexes, where every word is rarer or commoner."""
    settings = Settings()
    corpus, index = work / "squad-dev-b-corpus", work / "indexes" / "squad-dev-b-index"
    questions = squad_to_corpus(squad_json, corpus, last_articles=squad_articles)
    Indexer(settings.replace(corpus_dir=corpus, index_dir=index)).build(corpus, index)
    squad_qa = QA.load(index)
    random.Random(0).shuffle(questions)

    news = work / "news-corpus"
    bbc = bbc_dir if bbc_dir.exists() else ROOT / "tests/data/bbc"
    if not news.exists():
        shutil.copytree(ROOT / "corpus", news)
        shutil.copytree(bbc, news / "bbc")
    # The same index names as `qa eval`, so the two share them.
    Indexer(settings).build(news, work / "indexes" / "bbc-heldout-index")
    news_qa = QA.load(work / "indexes" / "bbc-heldout-index", embedder=squad_qa.embedder)
    Indexer(settings).build(ROOT / "corpus", work / "indexes" / "seed-heldout-index")
    seed_qa = QA.load(work / "indexes" / "seed-heldout-index", embedder=squad_qa.embedder)
    seed_sets = [ROOT / "tests/data/questions/seed.json", ROOT / "bench/questions/seed_heldout.json"]
    bbc_sets = [ROOT / "tests/data/questions/bbc.json"]
    if bbc == bbc_dir:
        bbc_sets += [
            ROOT / "bench/questions/bbc_heldout.json",
            ROOT / "bench/questions/bbc_dev.json",
            ROOT / "bench/questions/bbc_written_dev.json",
        ]
    dev_sets = [(news_qa, own_questions(path), "", {}) for path in seed_sets]
    dev_sets += [(seed_qa, own_questions(path), "", {}) for path in seed_sets]
    for path in bbc_sets:
        qs = own_questions(path)
        dev_sets.append((news_qa, qs, "bbc/", twin_sources(news, {q.source for q in qs if q.source}, "bbc/")))
    return squad_qa, questions, dev_sets


def save_rows(path: Path, *parts) -> None:
    def plain(rows):
        keys = ("feats", "good", "extra")
        return [{"answerable": r["answerable"], **{k: r[k].tolist() for k in keys}} for r in rows]

    width = next(r["feats"].shape[1] for rows in parts for r in rows)
    extra = next(r["extra"].shape[1] for rows in parts for r in rows)
    path.write_text(json.dumps({"width": width, "extra": extra, "parts": [plain(rows) for rows in parts]}))


def load_rows(path: Path):
    data = json.loads(path.read_text())

    def arrays(r):
        feats = np.array(r["feats"], dtype=np.float32).reshape(-1, data["width"])
        extra = np.array(r.get("extra", []), dtype=np.float32).reshape(len(feats), data.get("extra", 0))
        return {"answerable": r["answerable"], "feats": feats, "good": np.array(r["good"], dtype=bool), "extra": extra}

    return [[arrays(r) for r in rows] for rows in data["parts"]]


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

    def within(self, w, k: int = 3) -> float:
        """Share of answerable questions with an answering sentence among the `k` best-scored."""
        scores = self.feats @ w
        order = np.lexsort((-scores, self.segment))  # by question, best first (stable on ties)
        rank = np.empty(len(scores), dtype=np.int64)
        rank[order] = np.arange(len(scores)) - self.starts[self.segment[order]]
        hit = np.zeros(len(self.starts), dtype=bool)
        np.logical_or.at(hit, self.segment, self.good & (rank < k))
        return float(hit.sum() / self.questions)


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
    allowed = [t for t in np.arange(0.01, 0.5, 0.01) if (p[ans] < t).mean() <= 0.05]
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


def _grid(reader: bool = False):
    """Weights in FEATURES order: cosine, coverage, context, passage (the rest to 1), fits
    [, reader: then the five above share 1 - its weight]."""
    if reader:
        yield np.array([0, 0, 0, 0, 0, 1.0])
    for wr in np.arange(0.1, 0.91, 0.1) if reader else (0.0,):
        rest = 1 - wr
        step = 0.05 * (rest if reader else 1)
        for wc in np.arange(0.0 if reader else 0.3, rest * 0.81 + 1e-9, step * (2 if reader else 1)):
            for wv in np.arange(0.0, rest * 0.61 + 1e-9, step * (2 if reader else 1)):
                for wx in np.arange(0.0, rest * 0.61 + 1e-9, step * (2 if reader else 1)):
                    wp = rest - wc - wv - wx
                    if wp < -1e-9:
                        continue
                    for wf in (0.0, 0.05, 0.1, 0.15, 0.2):
                        w = [wc, wv, wx, max(wp, 0.0), wf * (rest if reader else 1)]
                        yield np.array([*w, wr] if reader else w)


def citation_margin(rows, w, target: float | None = None) -> float:
    """The margin that cites as many sentences per answer as qa without a reader did on these
    questions (`target`, else measured: 0.12 on its own scores), printed with the share of
    answerable questions whose answer is among the sentences cited. Neighbours merged into
    one quote are not modelled: this counts sentences, at most three."""

    def cited(feats, weights, m):
        s = feats @ weights
        return np.argsort(-s, kind="stable")[: min(3, int((s >= s.max() - m).sum()))]

    full = [r for r in rows if len(r["feats"])]
    if target is None:
        plain = np.array([PLAIN.weights[n] for n in FEATURES])
        target = float(np.mean([len(cited(r["feats"][:, : len(plain)], plain, PLAIN.margin)) for r in full]))
    print(f"\ncitation margin: sentences cited per answer (target {target:.2f}), answerable with the answer cited")
    best, gap = 0.0, float("inf")
    for m in np.arange(0.0, 0.41, 0.02):
        n = float(np.mean([len(cited(r["feats"], w, m)) for r in full]))
        hit = np.mean([bool(r["good"][cited(r["feats"], w, m)].any()) for r in full if r["answerable"]])
        print(f"  {m:.2f}  {n:.2f} sentences  {hit:.3f}")
        if abs(n - target) < gap:
            best, gap = float(m), abs(n - target)
    print(f"margin by the rule (as many sentences as without a reader): {best:.2f}")
    return round(best, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--squad", type=Path, default=ROOT.parent / "shared/data/squad2-dev-b.json")
    ap.add_argument("--squad-articles", type=int, default=2, help="the SQuAD file's last N articles (default 2)")
    ap.add_argument("--work", type=Path, default=ROOT / "bench/results/eval")
    ap.add_argument("--reader", default=Settings().reader, help="reader to calibrate for, or 'none'")
    ap.add_argument("--bbc", type=Path, default=ROOT.parent / "shared/data/bbc", help="the full BBC set")
    ap.add_argument("--limit", type=int, default=None, help="SQuAD questions (quick runs)")
    ap.add_argument(
        "--rows", type=Path, default=None, help="JSON cache of every question's signals (written, then read)"
    )
    ap.add_argument("--candidates", type=int, default=None, help="reader_candidates (default: the setting's)")
    args = ap.parse_args()

    squad_qa, questions, dev_sets = question_sets(args.squad, args.work, args.bbc, args.squad_articles)
    questions = questions[: args.limit] if args.limit else questions
    half = len(questions) // 2
    fit_q, test_q = questions[:half], questions[half:]
    reader = load_reader(args.reader)
    names = READER_FEATURES if reader is not None else FEATURES
    print(f"SQuAD: {len(fit_q)} questions to fit, {len(test_q)} held out; reader {args.reader}")
    if args.rows and args.rows.exists():  # the signals of an earlier run: refit without reading again
        fit_rows, test_rows, dev_rows = load_rows(args.rows)
    else:
        n = args.candidates
        fit_rows, test_rows = (
            collect(squad_qa, fit_q, reader=reader, read=n),
            collect(squad_qa, test_q, reader=reader, read=n),
        )
        dev_rows = [row for qa, qs, prefix, twins in dev_sets for row in collect(qa, qs, prefix, reader, n, twins)]
        if args.rows:
            save_rows(args.rows, fit_rows, test_rows, dev_rows)
    print(f"own dev questions: {len(dev_rows)} ({sum(r['answerable'] for r in dev_rows)} answerable)")

    # 1. sentence-score weights: SQuAD and our own questions count equally.
    fit_c, test_c, dev_c = Candidates(fit_rows), Candidates(test_rows), Candidates(dev_rows)

    def objective(w):
        """Top-1 accuracy; among weights that tie on it (many do), the answer among the three best."""
        return (fit_c.accuracy(w) + dev_c.accuracy(w)) / 2, (fit_c.within(w) + dev_c.within(w)) / 2

    def report(label, w):
        print(
            f"{label}: top-1 sentence accuracy SQuAD fit {fit_c.accuracy(w):.3f}, "
            f"SQuAD held out {test_c.accuracy(w):.3f}, own dev {dev_c.accuracy(w):.3f}; "
            f"top-3 {fit_c.within(w):.3f}, {test_c.within(w):.3f}, {dev_c.within(w):.3f}"
        )

    grid = list(_grid(reader is not None))
    # What each signal adds: the same search with signals switched off.
    masks = [("cosine only", (1, 0, 0, 0, 0)), ("cosine + coverage", (1, 1, 0, 0, 0)), ("+ context", (1, 1, 1, 0, 0))]
    if reader is not None:
        masks = [
            ("reader only", (0, 0, 0, 0, 0, 1)),
            *((n, (*m, 0)) for n, m in masks),
            ("+ reader", (1, 1, 1, 0, 0, 1)),
        ]
    masks.append(("all", (1,) * len(names)))
    winners = []
    for name, mask in masks:
        winners.append(max((c for c in (x * np.array(mask) for x in grid) if c.any()), key=objective))
        report(f"ablation {name}", winners[-1])
    # "all" is the full grid search. A signal switched off is not in the grid (passage takes
    # the rest of the weight), so an ablation can beat it: the chosen weights are the best of
    # all of them, the full search first so that it wins a tie.
    w = max([winners[-1], *winners[:-1]], key=objective)
    report("sentence weights " + " ".join(f"{n}={v:.2f}" for n, v in zip(names, w, strict=True)), w)

    # 2. answerability model on the best sentence, with the refusal-only signals when there are any
    extras = tuple(refusal_extras(reader)) if dev_rows and dev_rows[0]["extra"].shape[1] else ()
    signals = (*names, *extras)

    def xy(rows, width=None):
        idx = best_index(rows, w)
        X = np.array(
            [
                np.concatenate([r["feats"][i], r["extra"][i]]) if i >= 0 else np.zeros(len(signals))
                for r, i in zip(rows, idx, strict=True)
            ]
        ).reshape(-1, len(signals))[:, : width or len(signals)]
        y = np.array(
            [float(i >= 0 and r["good"][i]) if r["answerable"] else 0.0 for r, i in zip(rows, idx, strict=True)]
        )
        return X, y

    weight = max(1, round(len(fit_rows) / len(dev_rows)))  # our few questions weigh as much as SQuAD's
    if extras:  # first what the ranking's signals alone give, to compare against
        X, y = xy(fit_rows + dev_rows * weight, len(names))
        base = fit_logistic(X, y)
        for label, rows in (("SQuAD held out", test_rows), ("own dev questions", dev_rows)):
            Xb, _ = xy(rows, len(names))
            pb, ab = 1 / (1 + np.exp(-(base[0] + Xb @ base[1:]))), np.array([r["answerable"] for r in rows])
            t = refusal_threshold(pb, ab)
            print(
                f"without {', '.join(extras)}, {label}: threshold {t:.2f} refuses {(pb[~ab] < t).mean():.3f} "
                f"of the unanswerable at {(pb[ab] < t).mean():.3f} false refusals"
            )
    X, y = xy(fit_rows + dev_rows * weight)
    coef = fit_logistic(X, y)
    print("answerable model: " + " ".join(f"{n}={v:.3f}" for n, v in zip(("bias", *signals), coef, strict=True)))

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
        "reader": args.reader,
        "score_weights": dict(zip(names, map(float, w), strict=True)),
        "answerable_model": dict(zip(("bias", *signals), map(float, coef), strict=True)),
        "answer_threshold": round(float(threshold), 2),
        "caveat_threshold": round(float(caveat), 2),
    }
    out["citation_margin"] = citation_margin(dev_rows, w)
    (args.work / "calibration.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
