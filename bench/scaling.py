"""Beyond one machine, measured on one: Ray builds and the LanceDB store (docs/scaling.md).

    make bench-scaling      # = .venv/bin/python bench/scaling.py [--parts ray store search]

- `ray`: the same BBC articles (`--articles`, default 400) prepared in this process, then on a
  local Ray cluster with 1 and with 2 workers (one per CPU), side by side in one run: wall time
  and chunks/s, the cluster's start-up apart.
- `store`: the full BBC corpus (seed + 2,225 articles) built into the default store and into
  LanceDB with the same model in one run; disk, `qa ask` latency over 200 real questions (the
  reader included), and adding one ~5 KB article.
- `search`: a Lance chunk table of 100,000 and 1,000,000 rows (real BBC chunk vectors repeated
  with small noise, as bench/scale.py does; real chunk terms), exact search, IVF_PQ search
  (recall@10 against exact) and full-text search, one query at a time.

Nothing here is multi-node: see docs/scaling.md for what that leaves unmeasured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import Settings  # noqa: E402
from qa.engine import QA  # noqa: E402
from qa.indexing.indexer import Indexer  # noqa: E402
from qa.store import open_store  # noqa: E402
from qa.store.lance.tables import REFINE_FACTOR  # noqa: E402

WORK = ROOT / "bench/results/work/scaling"


def news_corpus(shared: Path, articles: int | None) -> Path:
    """seed + BBC, or the first `articles` BBC articles (sorted) with the seed."""
    name = f"news-{articles}" if articles else "news"
    corpus = WORK / name
    if not corpus.exists():
        files = sorted((shared / "data/bbc").rglob("*.txt"))
        if articles:
            files = random.Random(0).sample(files, articles)
        for f in files:
            dest = corpus / "bbc" / f.relative_to(shared / "data/bbc")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, dest)
        for f in (ROOT / "corpus").iterdir():
            shutil.copy(f, corpus / f.name)
    return corpus


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
    }


def part_ray(args) -> dict:
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    corpus = news_corpus(args.shared, args.articles)
    out = {"articles": args.articles}
    t0 = time.perf_counter()
    report = Indexer(Settings()).build(corpus, WORK / "ray-local", rebuild=True, progress=False)
    local = time.perf_counter() - t0
    out["in_process"] = {"seconds": round(local, 1), "chunks_per_s": round(report.embedded_chunks / local, 1)}
    print("in process", out["in_process"], flush=True)
    for workers in (1, 2):
        t0 = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        started = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = Indexer(Settings(ray="auto")).build(corpus, WORK / f"ray-{workers}", rebuild=True, progress=False)
        took = time.perf_counter() - t0
        ray.shutdown()
        row = {
            "cluster_start_s": round(started, 1),
            "seconds": round(took, 1),
            "chunks_per_s": round(report.embedded_chunks / took, 1),
            "vs_in_process": round(took / local, 2),
        }
        out[f"ray_{workers}_workers"] = row
        print(f"ray {workers} worker(s)", row, flush=True)
    return out


def part_store(args) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    from update import new_article  # the same ~5 KB article text as make bench-update

    corpus = news_corpus(args.shared, None)
    questions = json.loads((args.shared / "data/squad2-dev-b.json").read_text())["data"]
    own = json.loads((ROOT / "bench/questions/bbc_dev.json").read_text(encoding="utf-8"))["questions"]
    asked = [q["question"] for q in own][:100]
    asked += [q["question"] for t in questions for p in t["paragraphs"] for q in p["qas"]][: 200 - len(asked)]
    out = {}
    for kind in ("faiss", "lance"):
        index = WORK / f"store-{kind}"
        shutil.rmtree(index, ignore_errors=True)
        settings = Settings(store=kind)
        indexer = Indexer(settings)
        t0 = time.perf_counter()
        report = indexer.build(corpus, index, progress=False)
        row = {"build_s": round(time.perf_counter() - t0, 1), "chunks": report.chunks}
        row["disk_mb"] = round(sum(f.stat().st_size for f in index.rglob("*") if f.is_file()) / 2**20, 1)
        t0 = time.perf_counter()
        qa = QA.load(index)
        row["load_s"] = round(time.perf_counter() - t0, 2)
        qa.ask(asked[0])
        times = []
        for q in asked:
            t0 = time.perf_counter()
            qa.ask(q)
            times.append(time.perf_counter() - t0)
        row["ask"] = percentiles(times)
        article = corpus / "added-article.txt"
        adds = []
        for i in range(3):
            article.write_text(new_article(args.shared / "data/squad1.1-train.json", number=i), encoding="utf-8")
            t0 = time.perf_counter()
            indexer.build(corpus, index, progress=False, only=["added-article.txt"])
            adds.append(time.perf_counter() - t0)
        article.unlink()
        indexer.build(corpus, index, progress=False, only=["added-article.txt"])
        row["add_one_article_s"] = round(statistics.median(adds), 3)
        out[kind] = row
        print(kind, row, flush=True)
    return out


def timed(run, items) -> tuple[list, list[float]]:
    """`run` on each item, one at a time: the results and each call's seconds."""
    results, times = [], []
    for item in items:
        t0 = time.perf_counter()
        results.append(run(item))
        times.append(time.perf_counter() - t0)
    return results, times


def dense(table, q: np.ndarray, refine: int | None = None) -> list[int]:
    search = table.search(q).distance_type("dot")
    if refine:  # what the Lance store does above 100k chunks: 64 lists, candidates re-ranked
        search = search.nprobes(64).refine_factor(refine)
    return search.select(["id", "_distance"]).limit(10).to_arrow()["id"].to_pylist()


def full_text(table, terms: str):
    return table.search(terms, query_type="fts", fts_columns="terms").select(["id", "_score"]).limit(40).to_arrow()


def part_search(args) -> dict:
    import lancedb
    import pyarrow as pa

    from qa.store.lance.tables import fts_terms

    base = WORK / "store-faiss"
    if not base.exists():
        part_store(args)
    snap = open_store(base).open()
    vectors = np.vstack([s.vectors(exclude=snap.vectors.deleted[s.name])[1] for s in snap.vectors.segments])
    rows = snap.db.execute("SELECT c.start, c.end, d.title, d.text FROM chunks c JOIN documents d ON d.id = c.doc_id")
    terms = [fts_terms(title, text[s:e]) for s, e, title, text in rows]
    embedder_questions = json.loads((ROOT / "bench/questions/bbc_dev.json").read_text(encoding="utf-8"))["questions"]
    from qa.embedding.onnx import article_embedder

    encoder = article_embedder(Settings())
    texts = [q["question"] for q in embedder_questions][:100]
    queries = encoder.embed_queries(texts)
    out = {}
    rng = np.random.default_rng(0)
    for size in args.sizes:
        db = lancedb.connect(str(WORK / f"search-{size}"))
        if "chunks" in db.list_tables().tables:
            db.drop_table("chunks")
        t0 = time.perf_counter()
        table = None
        for start in range(0, size, 100_000):
            n = min(100_000, size - start)
            pick = rng.integers(0, len(vectors), n)
            noisy = vectors[pick] + rng.normal(0, 0.02, (n, vectors.shape[1])).astype(np.float32)
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            batch = pa.table({
                "id": np.arange(start, start + n),
                "terms": [terms[i] for i in pick],
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(noisy.ravel()), vectors.shape[1]),
            })  # fmt: skip
            table = db.create_table("chunks", data=batch) if table is None else table
            if start:
                table.add(batch)
        row = {"write_s": round(time.perf_counter() - t0, 1)}
        t0 = time.perf_counter()
        table.create_fts_index("terms", use_tantivy=False, base_tokenizer="whitespace", stem=False,
                               remove_stop_words=False, lower_case=False, ascii_folding=False)  # fmt: skip
        row["fts_index_s"] = round(time.perf_counter() - t0, 1)

        exact, times = timed(lambda q, table=table: dense(table, q), queries)
        row["exact"] = percentiles(times)
        t0 = time.perf_counter()
        table.create_index(metric="dot", vector_column_name="vector", index_type="IVF_PQ", num_sub_vectors=48)
        row["ivf_pq_index_s"] = round(time.perf_counter() - t0, 1)
        approx, times = timed(lambda q, table=table: dense(table, q), queries)
        row["ivf_pq"] = percentiles(times)
        row["ivf_pq"]["recall@10"] = round(
            float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])), 3
        )
        refined, times = timed(lambda q, table=table: dense(table, q, REFINE_FACTOR), queries)
        row["ivf_pq_refined"] = percentiles(times)
        row["ivf_pq_refined"]["recall@10"] = round(
            float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(refined, exact, strict=True)])), 3
        )
        _, times = timed(lambda text, table=table: full_text(table, text), [fts_terms("", t) for t in texts])
        row["fts"] = percentiles(times)
        row["disk_mb"] = round(
            sum(f.stat().st_size for f in (WORK / f"search-{size}").rglob("*") if f.is_file()) / 2**20
        )
        out[str(size)] = row
        print(size, row, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--parts", nargs="*", default=["ray", "store", "search"])
    ap.add_argument("--articles", type=int, default=400, help="BBC articles for the Ray part")
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/scaling.json")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    for part in args.parts:
        result[part] = {"ray": part_ray, "store": part_store, "search": part_search}[part](args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
