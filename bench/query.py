"""Query latency and cold start on the full BBC index.

    make bench-query        # = .venv/bin/python bench/query.py [--questions N]

Uses the index bench/build.py leaves in bench/results/work/ (built first if
missing). After a warm-up, times retrieval only (`QA.search`) and the full
extractive answer (`QA.ask`) for every question, with the reader (the default) and
without it (`reader: none`), interleaved so both see the same machine: our own
question sets on the seed and BBC articles plus SQuAD questions (off-topic for this
index, so they exercise the refusal path). `--index` times an existing index instead
(e.g. bench/results/eval/indexes/bbc-heldout-index, the same articles). Cold start is a new Python process that loads the
index and answers one question, timed from outside, with its stages timed inside.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa import QA  # noqa: E402
from qa.evaluation.questions import own_questions  # noqa: E402
from qa.evaluation.runner import percentile  # noqa: E402

WORK = ROOT / "bench/results/work"
COLD = """
import json, time, sys
t0 = time.perf_counter()
from qa import QA
t1 = time.perf_counter()
qa = QA.load(sys.argv[1])
t2 = time.perf_counter()
answer = qa.ask("What did Russia announce on Mar. 25?")
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_answer_s": t3 - t2, "refused": answer.refused}))
"""


def questions(squad: Path, total: int) -> list[str]:
    own = []
    for path in ("tests/data/questions/seed.json", "bench/questions/seed_heldout.json"):
        own += [q.question for q in own_questions(ROOT / path)]
    for path in ("tests/data/questions/bbc.json", "bench/questions/bbc_heldout.json"):
        own += [q.question for q in own_questions(ROOT / path)]
    squad_q = [
        qa["question"]
        for topic in json.loads(squad.read_text(encoding="utf-8"))["data"]
        for para in topic["paragraphs"]
        for qa in para["qas"]
    ]
    random.Random(0).shuffle(squad_q)
    return own + squad_q[: max(0, total - len(own))]


def batch_ratio(index: Path, qs: list[str], reader: str | None, runs: int, env: dict) -> dict:
    """`qa ask --json` over the whole batch on standard input, one process each, with the
    reader and with `--reader none`, alternated so both see the same machine: the wall time
    of each process and the answering time it reports (the sum of `total_ms`)."""
    text = "".join(q.replace("\n", " ") + "\n" for q in qs)
    times: dict[str, list[float]] = {"reader": [], "none": []}
    answering: dict[str, list[float]] = {"reader": [], "none": []}
    for _ in range(runs):
        for kind in ("reader", "none"):
            cmd = [sys.executable, "-m", "qa", "ask", "--json", "--index", str(index)]
            if kind == "none" or reader:
                cmd += ["--reader", "none" if kind == "none" else reader]
            t0 = time.perf_counter()
            out = subprocess.run(cmd, input=text, check=True, env=env, capture_output=True, text=True, cwd=ROOT)
            times[kind].append(time.perf_counter() - t0)
            rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
            answering[kind].append(sum(r.get("timings", {}).get("total_ms", 0) for r in rows) / 1000)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    ans = {k: sorted(v)[len(v) // 2] for k, v in answering.items()}
    result = {
        "questions": len(qs),
        "wall_s": {k: round(v, 2) for k, v in med.items()},
        "answering_s": {k: round(v, 2) for k, v in ans.items()},
        "ratio_wall": round(med["reader"] / med["none"], 2),
        "ratio_answering": round(ans["reader"] / ans["none"], 2),
    }
    print(f"qa ask --json over {len(qs)} questions: {result}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--index", type=Path, default=None, help="time this index (default: WORK/bbc-index)")
    ap.add_argument("--squad", type=Path, default=ROOT.parent / "shared/data/squad2-dev-a.json")
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/query.json")
    ap.add_argument("--reader", default=None, help="reader to time (default: the shipped one)")
    ap.add_argument("--batch-runs", type=int, default=3, help="runs of the `qa ask --json` batch, each way")
    args = ap.parse_args()

    index = args.index or args.work / "bbc-index"
    if args.index is None and not (index / "CURRENT").exists():
        print("no index from bench/build.py yet: building it (about 11 minutes on 2 cores)")
        subprocess.run([sys.executable, str(ROOT / "bench/build.py"), "--no-langchain"], check=True)

    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cold = []
    for _ in range(args.cold_runs):
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", COLD, str(index)], check=True, env=env, capture_output=True, text=True, cwd=ROOT
        )
        wall = time.perf_counter() - t0
        cold.append({"wall_s": wall, **json.loads(out.stdout.strip().splitlines()[-1])})
        print(f"cold start: {wall:.2f} s")

    qs = questions(args.squad, args.questions)
    batch = batch_ratio(index, qs, args.reader, args.batch_runs, env)
    qa = QA.load(index)
    if args.reader:
        qa = QA(qa.settings.replace(reader=args.reader), qa.snapshot, encoder=qa.encoder)
    plain = QA(qa.settings.replace(reader="none"), qa.snapshot, encoder=qa.encoder)
    for q in qs[:20]:  # warm-up
        qa.ask(q)
        plain.ask(q)
    search_ms, ask_ms, plain_ms, refused, plain_refused = [], [], [], 0, 0
    for q in qs:
        t0 = time.perf_counter()
        qa.search(q)
        search_ms.append(1000 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        refused += qa.ask(q).refused
        ask_ms.append(1000 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        plain_refused += plain.ask(q).refused
        plain_ms.append(1000 * (time.perf_counter() - t0))

    def summary(xs):
        return {"p50": round(percentile(xs, 50), 1), "p95": round(percentile(xs, 95), 1), "max": round(max(xs), 1)}

    def median(key):
        return round(sorted(c[key] for c in cold)[len(cold) // 2], 2)

    result = {
        "index": qa.snapshot.counts,
        "questions": len(qs),
        "refused": refused,
        "search_ms": summary(search_ms),
        "ask_ms": summary(ask_ms),
        "reader": qa.settings.reader,
        "ask_without_reader_ms": summary(plain_ms),
        "refused_without_reader": plain_refused,
        "reader_cost_ratio_p50": round(percentile(ask_ms, 50) / percentile(plain_ms, 50), 2),
        "cold_start_s": {k: median(k) for k in ("wall_s", "import_s", "load_s", "first_answer_s")},
        "batch": batch,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
