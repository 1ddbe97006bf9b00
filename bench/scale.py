"""FAISS index types at 100k and 1M chunk vectors: build time, size, search latency, recall.

    make bench-scale        # = .venv/bin/python bench/scale.py [--sizes 100000 1000000]

The vectors are real: the chunk and sentence embeddings of the BBC index that
bench/build.py leaves in bench/results/work/ (about 55k), repeated with small
Gaussian noise (re-normalised) up to each size. The queries are real question
embeddings (SQuAD questions, the same model). Recall@10 is measured against exact
search over the same vectors; latency is one query at a time, as qa searches.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.embedding.model import Embedder  # noqa: E402
from qa.store.faiss_sqlite import FaissStore  # noqa: E402
from qa.store.faiss_sqlite.faiss_index import TRAINING_POINTS_PER_LIST  # noqa: E402

WORK = ROOT / "bench/results/work"


def real_vectors(index_dir: Path) -> np.ndarray:
    snap = FaissStore(index_dir).open()
    live = snap.vectors
    chunk = np.vstack([s.vectors(exclude=live.deleted[s.name])[1] for s in live.segments])
    sentence = [np.frombuffer(blob, dtype=np.float16) for (blob,) in snap.db.execute("SELECT vector FROM sentences")]
    out = np.vstack([chunk, np.vstack(sentence).astype(np.float32)])
    snap.close()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def grow(base: np.ndarray, n: int, noise: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    reps = -(-n // len(base))
    out = np.empty((reps * len(base), base.shape[1]), dtype=np.float32)
    for r in range(reps):
        block = base if r == 0 else base + rng.normal(0, noise / np.sqrt(base.shape[1]), base.shape).astype(np.float32)
        out[r * len(base) : (r + 1) * len(base)] = block
    out = out[:n]
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def query_vectors(squad: Path, n: int) -> np.ndarray:
    qs = [q["question"] for t in json.loads(squad.read_text())["data"] for p in t["paragraphs"] for q in p["qas"]]
    random.Random(1).shuffle(qs)
    return Embedder().embed_queries(qs[:n])


def timed_search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    ids, ms = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, found = index.search(q[None, :], k)
        ms.append(1000 * (time.perf_counter() - t0))
        ids.append(found[0])
    return np.array(ids), ms


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def candidates(n: int, hnsw_at_1m: bool) -> list[tuple[str, list[tuple[str, int]]]]:
    """(factory string, [(search parameter, value), ...]) to try at size n."""
    nlist = 1024 if n <= 200_000 else 4096
    out = [(f"IVF{nlist},SQ8", [("nprobe", p) for p in (16, 32, 64, 128, 256)])]
    if n <= 200_000 or hnsw_at_1m:
        out.append(("HNSW32,SQ8", [("efSearch", e) for e in (32, 64, 128)]))
        out.append(("HNSW32", [("efSearch", e) for e in (32, 64, 128)]))
    return out


def main() -> None:
    import faiss

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--squad", type=Path, default=ROOT.parent / "shared/data/squad2-dev-a.json")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--noise", type=float, default=0.3, help="norm of the noise added to each copy")
    ap.add_argument("--hnsw-at-1m", action="store_true", help="also build HNSW at 1M (slow on 2 cores)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/scale.json")
    args = ap.parse_args()

    if not (args.work / "bbc-index/CURRENT").exists():
        subprocess.run([sys.executable, str(ROOT / "bench/build.py"), "--no-langchain"], check=True)
    base = real_vectors(args.work / "bbc-index")
    queries = query_vectors(args.squad, args.queries)
    print(f"{len(base)} real vectors, {len(queries)} query vectors, {faiss.omp_get_max_threads()} threads")
    results = []
    for n in args.sizes:
        data = grow(base, n, args.noise)
        t0 = time.perf_counter()
        exact = faiss.IndexFlatIP(data.shape[1])
        exact.add(data)
        build_exact = time.perf_counter() - t0
        truth, exact_ms = timed_search(exact, queries, 10)
        row = {
            "vectors": n,
            "factory": "Flat (exact)",
            "build_s": round(build_exact, 1),
            "bytes": exact.ntotal * exact.d * 4,
            "search_ms_p50": round(float(np.percentile(exact_ms, 50)), 2),
            "search_ms_p95": round(float(np.percentile(exact_ms, 95)), 2),
            "recall_at_10": 1.0,
        }
        results.append(row)
        print(json.dumps(row))
        del exact
        for factory, params in candidates(n, args.hnsw_at_1m):
            index = faiss.index_factory(data.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
            if "HNSW" in factory:
                faiss.downcast_index(index).hnsw.efConstruction = 80
            t0 = time.perf_counter()
            if not index.is_trained:
                lists = faiss.extract_index_ivf(index).nlist
                train = data[
                    np.random.default_rng(0).choice(n, min(n, TRAINING_POINTS_PER_LIST * lists), replace=False)
                ]
                index.train(train)
            index.add(data)
            build_s = time.perf_counter() - t0
            size = len(faiss.serialize_index(index))
            for name, value in params:
                faiss.ParameterSpace().set_index_parameter(index, name, value)
                found, ms = timed_search(index, queries, 10)
                row = {
                    "vectors": n,
                    "factory": factory,
                    name: value,
                    "build_s": round(build_s, 1),
                    "bytes": size,
                    "search_ms_p50": round(float(np.percentile(ms, 50)), 2),
                    "search_ms_p95": round(float(np.percentile(ms, 95)), 2),
                    "recall_at_10": round(recall(found, truth), 4),
                }
                results.append(row)
                print(json.dumps(row))
            del index
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"base_vectors": len(base), "noise": args.noise, "results": results}, indent=2))


if __name__ == "__main__":
    main()
