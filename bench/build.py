"""Index build time vs. raw `encode` and vs. the textbook LangChain pipeline.

    make bench-build        # = .venv/bin/python bench/build.py [--bbc DIR] [--seed DIR]

In one process, with the models loaded outside the timings, over the seed article +
every BBC article:
1. qa's full build (load, split, embed, store, FAISS) with the encoder qa picks: the
   ONNX export of the model (made first if this machine has none);
2. plain PyTorch `SentenceTransformer.encode` of the exact texts that build embedded
   (title + chunk), same batch size (skip with --no-raw);
3. the LangChain tutorial pipeline on the same files: `DirectoryLoader` +
   `RecursiveCharacterTextSplitter(1000, 200)` + `FAISS.from_documents` with the
   same model (wrapped exactly as `HuggingFaceEmbeddings` calls it).
The built index is kept in bench/results/work/bbc-index for bench/update.py and
bench/query.py.
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
from qa.embedding import onnx as query_encoder  # noqa: E402
from qa.embedding.model import Embedder  # noqa: E402
from qa.indexing.indexer import Indexer  # noqa: E402
from qa.store.faiss_sqlite import FaissStore  # noqa: E402

WORK = ROOT / "bench/results/work"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bbc", type=Path, default=ROOT.parent / "shared/data/bbc")
    ap.add_argument("--seed", type=Path, default=ROOT / "corpus")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/build.json")
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--no-langchain", action="store_true", help="skip the LangChain pipeline")
    ap.add_argument("--no-raw", action="store_true", help="skip the raw PyTorch encode")
    ap.add_argument("--torch", action="store_true", help="build with PyTorch instead of the ONNX export")
    args = ap.parse_args()

    work = args.work
    corpus, index = work / "bbc-corpus", work / "bbc-index"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(index, ignore_errors=True)
    shutil.copytree(args.seed, corpus)
    shutil.copytree(args.bbc, corpus / "bbc")
    settings = Settings()
    embedder = Embedder(settings.model, batch_size=settings.batch_size)  # loaded once, outside all timings
    query_encoder.export(settings.cache_dir, embedder)
    indexer = Indexer(settings, embedder) if args.torch else Indexer(settings)
    encoder = type(indexer.embedder).__name__  # loaded here, outside the timing

    t0 = time.perf_counter()
    report = indexer.build(corpus, index, progress=False)
    build_s = time.perf_counter() - t0

    snap = FaissStore(index).open()
    texts = []
    for doc_id, start, end in snap.db.execute("SELECT doc_id, start, end FROM chunks ORDER BY id"):
        title, text = snap.db.execute("SELECT title, text FROM documents WHERE id = ?", (doc_id,)).fetchone()
        prefix = title + "\n" if settings.title_in_embedding and embedder.count_tokens([title])[0] <= 48 else ""
        texts.append(prefix + text[start:end])
    encode_s = None
    if not args.no_raw:
        t0 = time.perf_counter()
        embedder.model.encode(texts, batch_size=settings.batch_size, normalize_embeddings=True)
        encode_s = time.perf_counter() - t0
    snap.close()
    print(f"qa build {build_s:.1f} s ({encoder}), raw PyTorch encode {encode_s} s", flush=True)
    langchain = None if args.no_langchain else langchain_textbook(corpus, embedder.model, settings.batch_size)

    result = {
        "documents": report.documents,
        "chunks": report.chunks,
        "skipped": [str(s) for s in report.skipped],
        "encoder": encoder,
        "build_s": round(build_s, 2),
        "raw_torch_encode_s": encode_s and round(encode_s, 2),
        "vs_raw_torch_encode": encode_s and round(build_s / encode_s, 3),
        "docs_per_s": round(report.documents / build_s, 1),
        "chunks_per_s": round(report.chunks / build_s, 1),
        "build_timings_s": {k: round(v, 2) for k, v in report.timings.items()},
        "embedded_tokens": sum(embedder.count_tokens(texts)),
    }
    if langchain:
        result["langchain"] = langchain
        result["build_vs_langchain"] = round(build_s / langchain["total_s"], 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def langchain_textbook(corpus: Path, model, batch_size: int) -> dict:
    """The pipeline of the LangChain RAG tutorials, timed stage by stage."""
    from langchain_community.document_loaders import DirectoryLoader, TextLoader
    from langchain_community.vectorstores import FAISS
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    class SentenceTransformerEmbeddings(Embeddings):
        # What langchain_huggingface.HuggingFaceEmbeddings does (that package pins an
        # older huggingface_hub than ours): client.encode(texts, **encode_kwargs).
        def embed_documents(self, texts):
            return model.encode(texts, batch_size=batch_size, show_progress_bar=False).tolist()

        def embed_query(self, text):
            return self.embed_documents([text])[0]

    t0 = time.perf_counter()
    # The tutorial loader stops at the Latin-1 sport/199.txt; its autodetect_encoding option
    # crashes with current chardet. silent_errors lets it go on without that article.
    loader = DirectoryLoader(str(corpus), glob="**/*.txt", loader_cls=TextLoader, silent_errors=True)
    docs = loader.load()
    t1 = time.perf_counter()
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    t2 = time.perf_counter()
    FAISS.from_documents(chunks, SentenceTransformerEmbeddings())
    t3 = time.perf_counter()
    tokens = [len(ids) for ids in model.tokenizer([c.page_content for c in chunks])["input_ids"]]
    return {
        "documents": len(docs),
        "chunks": len(chunks),
        "chunks_over_model_limit": sum(n > model.max_seq_length for n in tokens),
        "embedded_tokens": sum(min(n, model.max_seq_length) for n in tokens),
        "load_s": round(t1 - t0, 2),
        "split_s": round(t2 - t1, 2),
        "embed+faiss_s": round(t3 - t2, 2),
        "total_s": round(t3 - t0, 2),
    }


if __name__ == "__main__":
    main()
