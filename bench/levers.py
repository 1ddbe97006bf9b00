"""Build-speed levers, each decided on development data: build time and quality side by side.

    .venv/bin/python bench/levers.py [--limit 1000]

For each variant of the settings that shape the index (the default; chunks embedded
without their title; no sentence overlap between chunks), in one run: the full BBC build
(seed + 2,225 articles, with qa's encoder), then `qa eval`'s measures on the development
sets only, SQuAD 2.0 dev half B (a sample of `--limit` questions) and `bbc-dev`. A lever
is adopted only if retrieval hit@5 drops by at most 1 point and answer@3 (`answer_top3`)
not at all.

`--heldout` then checks the chosen variants once on the held-out sets (SQuAD 2.0 dev half A,
all of it; seed-heldout3; bbc-heldout3), refusals and caveats included: a new default changes
every index's vectors, so the calibrated answer model must still hold. Nothing is tuned on
these numbers (docs/evaluation.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import Settings  # noqa: E402
from qa.evaluation.questions import Suite, default_suites, own_questions, squad_to_corpus  # noqa: E402
from qa.evaluation.runner import evaluate  # noqa: E402
from qa.indexing.indexer import Indexer  # noqa: E402

VARIANTS = {
    "default": {},
    "no title in embedding": {"title_in_embedding": False},
    "no sentence overlap": {"overlap_sentences": 0},
    "neither": {"title_in_embedding": False, "overlap_sentences": 0},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--work", type=Path, default=ROOT / "bench/results/work/levers")
    ap.add_argument("--limit", type=int, default=1000, help="SQuAD dev-b questions sampled")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/levers.json")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), help=f"which of: {', '.join(VARIANTS)}")
    ap.add_argument("--heldout", action="store_true", help="measure on the held-out sets instead (see above)")
    args = ap.parse_args()
    if args.heldout:
        return heldout(args)

    work = args.work
    news = work / "news-corpus"
    if not news.exists():
        shutil.copytree(ROOT / "corpus", news)
        shutil.copytree(args.shared / "data/bbc", news / "bbc")
    squad = work / "squad-dev-b-corpus"
    squad_questions = squad_to_corpus(args.shared / "data/squad2-dev-b.json", squad)
    suites = [
        Suite("squad2-dev-b", squad, squad_questions),
        Suite("bbc-dev", news, own_questions(ROOT / "bench/questions/bbc_dev.json"), source_prefix="bbc/",
              index_name="bbc"),
    ]  # fmt: skip
    results = {}
    for name in args.variants:
        changes = VARIANTS[name]
        settings = Settings(**changes)
        folder = work / name.replace(" ", "-")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        t0 = time.perf_counter()
        report = Indexer(settings).build(news, folder / "bbc-index", progress=False)
        build_s = time.perf_counter() - t0
        row = {"bbc_build_s": round(build_s, 1), "chunks": report.chunks, "embedded_chunks": report.embedded_chunks}
        for suite in suites:
            limit = args.limit if suite.name.startswith("squad") else None
            m = evaluate(suite, folder, settings, limit=limit, progress=False)
            row[suite.name] = {k: m[k] for k in ("questions", "retrieval_hit@5", "answer_top3") if k in m}
        results[name] = row
        print(name, json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


HELDOUT = ("squad2", "seed-heldout3", "bbc-heldout3")
MEASURES = ("questions", "retrieval_hit@5", "answer_top1", "answer_top3", "false_refusal_rate", "refusal_recall",
            "caveat_rate")  # fmt: skip


def heldout(args) -> None:
    out = args.out.with_name(args.out.stem + "-heldout.json")
    results = json.loads(out.read_text()) if out.exists() else {}
    for name in args.variants:
        settings = Settings(**VARIANTS[name])
        folder = args.work / "heldout" / name.replace(" ", "-")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        suites = [s for s in default_suites(args.shared, ROOT, args.work / "heldout") if s.name in HELDOUT]
        row = {}
        for suite in suites:
            m = evaluate(suite, folder, settings, progress=False)
            row[suite.name] = {k: m[k] for k in MEASURES if k in m}
            print(name, suite.name, json.dumps(row[suite.name]), flush=True)
        results[name] = row
        out.write_text(json.dumps(results, indent=2) + "\n")
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
