"""Index build time vs. raw `SentenceTransformer.encode` of the very same chunks.

    .venv/bin/python bench/build.py [--bbc ../shared/data/bbc] [--seed corpus]

Builds a fresh index over the seed article + every BBC article, then encodes the
exact texts the build embedded (title + chunk) with plain `model.encode` at the
same batch size, in the same process, and prints the overhead ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import Settings  # noqa: E402
from qa.embedding import Embedder  # noqa: E402
from qa.indexing import Indexer  # noqa: E402
from qa.store import IndexStore  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bbc", type=Path, default=ROOT.parent / "shared/data/bbc")
    ap.add_argument("--seed", type=Path, default=ROOT / "corpus")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/build.json")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    corpus = work / "corpus"
    shutil.copytree(args.seed, corpus)
    shutil.copytree(args.bbc, corpus / "bbc")
    settings = Settings()
    embedder = Embedder(settings.model, batch_size=settings.batch_size)  # loaded once, outside both timings

    t0 = time.perf_counter()
    report = Indexer(settings, embedder).build(corpus, work / "index", progress=False)
    build_s = time.perf_counter() - t0

    snap = IndexStore(work / "index").open()
    texts = []
    for doc_id, start, end in snap.db.execute("SELECT doc_id, start, end FROM chunks ORDER BY id"):
        title, text = snap.db.execute("SELECT title, text FROM documents WHERE id = ?", (doc_id,)).fetchone()
        prefix = title + "\n" if settings.title_in_embedding and embedder.count_tokens([title])[0] <= 48 else ""
        texts.append(prefix + text[start:end])
    t0 = time.perf_counter()
    embedder.model.encode(texts, batch_size=settings.batch_size, normalize_embeddings=True)
    encode_s = time.perf_counter() - t0

    result = {
        "documents": report.documents,
        "chunks": report.chunks,
        "skipped": [str(s) for s in report.skipped],
        "build_s": round(build_s, 2),
        "raw_encode_s": round(encode_s, 2),
        "overhead_ratio": round(build_s / encode_s, 3),
        "docs_per_s": round(report.documents / build_s, 1),
        "chunks_per_s": round(report.chunks / build_s, 1),
        "build_timings_s": {k: round(v, 2) for k, v in report.timings.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
