"""qa's whole index at scale: ~100,000 articles and ~1M chunks, built from real BBC sentences.

    make bench-big          # = .venv/bin/python bench/big.py [--articles 100000]

The articles are recombined from the sentences of the BBC set (as the crash test does):
real text, new files, ~40 sentences each. **The embedding model is replaced, in this
benchmark only, by a fast stand-in** (`StandInEmbedder`: every word piece has a fixed
random vector and a text is their mean; the real tokenizer, so chunks and sentences are
the same as with the model). What is measured is the store: documents, sentences, the
full-text index, FAISS, updates. Real embedding throughput is in `make bench-build`.

Reported (bench/results/big.json): build time without embedding, disk, RAM and time of a
cold start (a new process: load, then the first answer), search and answer p50/p95, and
adding, changing and deleting one article in a running process, with the bytes written.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from update import checkpoint, folder_bytes, written  # noqa: E402

from qa import QA  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.embedding.model import Embedded, EmbedInput, normalise, pool_spans, resolve_model_path  # noqa: E402
from qa.indexing.indexer import Indexer  # noqa: E402
from qa.ingestion.chunking import split_sentences  # noqa: E402

WORK = ROOT / "bench/results/work"


class StandInEmbedder:
    """NOT the embedding model: a fast stand-in for measuring the store at scale.

    Each word piece of the real tokenizer gets a fixed random unit vector; a text's vector
    is the mean over its word pieces, a sentence's the mean over the word pieces inside it.
    Similar wording gives similar vectors, so search still finds something sensible, at a
    tiny fraction of the model's cost.
    """

    name = "bench-stand-in-not-a-model"

    def __init__(self, dim: int = 384, max_tokens: int = 256):
        from tokenizers import Tokenizer

        self.dim, self.max_tokens = dim, max_tokens
        self.tokenizer = Tokenizer.from_file(str(resolve_model_path(Settings().model) / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        vectors = np.random.default_rng(0).normal(size=(self.tokenizer.get_vocab_size(), dim)).astype(np.float32)
        self.table = normalise(vectors)
        self.seconds = 0.0

    def count_tokens(self, texts):
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def token_spans(self, text):
        return [tuple(s) for s in self.tokenizer.encode(text, add_special_tokens=False).offsets]

    def embed_queries(self, texts):
        return self.embed([EmbedInput(t) for t in texts]).vectors

    def embed(self, inputs, progress=None) -> Embedded:
        t0 = time.perf_counter()
        encoded = self.tokenizer.encode_batch([i.text for i in inputs])
        vectors = np.zeros((len(inputs), self.dim), np.float32)
        spans = []
        for row, (item, e) in enumerate(zip(inputs, encoded, strict=True)):
            ids = np.asarray(e.ids[: self.max_tokens])
            tokens = self.table[ids]
            vectors[row] = tokens.mean(axis=0)
            offsets = np.asarray(e.offsets[: self.max_tokens])
            mask = np.ones(len(ids), bool)
            spans.append(pool_spans(tokens, offsets, mask, item.spans) if item.spans else tokens[:0])
        if progress is not None:
            progress(len(inputs))
        self.seconds += time.perf_counter() - t0
        return Embedded(normalise(vectors), spans)


def make_corpus(bbc: Path, folder: Path, articles: int, per_article: int = 40) -> list[str]:
    """`articles` new files of `per_article` real BBC sentences each; returns the sentence pool."""
    pool = []
    for path in sorted(bbc.rglob("*.txt")):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        pool += [text[s.start : s.end] for s in split_sentences(text)[1:]]
    rng = random.Random(7)
    for i in range(articles):
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        body = " ".join(rng.sample(pool, per_article))
        (sub / f"{i:06d}.txt").write_text(f"Story {i}\n\n{body}\n", encoding="utf-8")
    return pool


_COLD = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[2])
from big import StandInEmbedder
from qa import QA, Settings
qa = QA.load(sys.argv[1], settings=Settings(fast_query_encoder=False), embedder=StandInEmbedder())
loaded = time.perf_counter() - t0
answer = qa.ask(sys.argv[3])
first = time.perf_counter() - t0
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
print(json.dumps({"load_s": loaded, "first_answer_s": first, "rss_kb": int(status["VmRSS"].split()[0]),
                  "peak_rss_kb": int(status["VmHWM"].split()[0]), "refused": answer.refused}))
"""


_PROCESS = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[3])
from big import StandInEmbedder
from qa import Settings
from qa.indexing.indexer import Indexer
embedder = StandInEmbedder()
report = Indexer(Settings(model=embedder.name, fast_query_encoder=False), embedder).build(sys.argv[1], sys.argv[2], progress=False)
print(json.dumps({"s": time.perf_counter() - t0, "report": report.summary(), "torch": "torch" in sys.modules}))
"""


def percentiles(times: list[float]) -> dict:
    ms = sorted(t * 1000 for t in times)
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=100_000)
    ap.add_argument("--bbc", type=Path, default=ROOT.parent / "shared/data/bbc")
    ap.add_argument("--work", type=Path, default=WORK / "big")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/big.json")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--reuse", action="store_true", help="measure the index a previous run left (no build)")
    args = ap.parse_args()

    corpus, index = args.work / "corpus", args.work / "index"
    embedder = StandInEmbedder()
    settings = Settings(model=embedder.name, fast_query_encoder=False, index_dir=index)
    indexer = Indexer(settings, embedder)
    if args.reuse:
        pool = make_corpus(args.bbc, args.work / "unused", 0)
        result = json.loads(args.out.read_text())
        result.pop("updates", None)
    else:
        result = build(args, corpus, index, indexer, embedder)
        pool = result.pop("pool")
    measure(args, corpus, index, indexer, embedder, settings, pool, result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


def build(args, corpus: Path, index: Path, indexer: Indexer, embedder: StandInEmbedder) -> dict:
    shutil.rmtree(args.work, ignore_errors=True)
    t0 = time.perf_counter()
    pool = make_corpus(args.bbc, corpus, args.articles)
    print(f"{args.articles:,} articles written in {time.perf_counter() - t0:.0f} s", flush=True)
    t0 = time.perf_counter()
    report = indexer.build(corpus, index, progress=True)
    build_s = time.perf_counter() - t0
    result = {
        "articles": args.articles,
        "documents": report.documents,
        "chunks": report.chunks,
        "sentences": report.sentences,
        "embedder": "stand-in (random word-piece vectors), NOT the model",
        "build_s": round(build_s, 1),
        "stand_in_embedding_s": round(embedder.seconds, 1),
        "build_without_embedding_s": round(build_s - embedder.seconds, 1),
        "build_stages_s": {k: round(v, 1) for k, v in report.timings.items()},
        "disk_bytes": folder_bytes(index),
    }
    print(json.dumps(result, indent=2), flush=True)
    return result | {"pool": pool}


def measure(args, corpus, index, indexer, embedder, settings, pool, result) -> None:
    rng = random.Random(3)
    questions = [" ".join(s.split()[:10]) + "?" for s in rng.sample(pool, args.questions)]
    cold = subprocess.run(
        [sys.executable, "-c", _COLD, str(index), str(ROOT / "bench"), questions[0]],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result["cold_start"] = json.loads(cold.stdout.strip().splitlines()[-1])
    print(result["cold_start"], flush=True)

    for reader in ("default", "none"):
        qa = QA.load(index, settings=settings.replace(**({"reader": "none"} if reader == "none" else {})),
                     embedder=embedder)  # fmt: skip
        search, answer = [], []
        qa.ask(questions[0])
        for q in questions:
            t1 = time.perf_counter()
            qa.search(q)
            search.append(time.perf_counter() - t1)
            t1 = time.perf_counter()
            qa.ask(q)
            answer.append(time.perf_counter() - t1)
        result[f"latency_reader_{reader}"] = {"search": percentiles(search), "answer": percentiles(answer)}
        print(reader, result[f"latency_reader_{reader}"], flush=True)

    one = corpus / "000" / "new-article.txt"
    existing = corpus / "001" / "001500.txt"
    original = existing.read_bytes()
    steps = {
        "nothing to do": (lambda: None, set()),
        "add one article": (lambda: one.write_text("Story new\n\n" + " ".join(rng.sample(pool, 40)) + "\n"), {one}),
        "change one article": (lambda: existing.write_bytes(original + b"\nThis story was updated.\n"), {existing}),
        "delete one article": (lambda: one.unlink(), {one}),
    }
    result["updates"] = {}
    indexer.build(corpus, index, progress=False)  # warm: loads the segments once, as a running server has
    for name, (change, paths) in steps.items():
        if name == "delete one article":  # something to delete, indexed first
            _undo(name, one, existing, original, pool, rng)
            indexer.build(corpus, index, progress=False)
        row = {}
        for how in ("full look", "watched paths"):
            change()
            only = {p.relative_to(corpus).as_posix() for p in paths} if how == "watched paths" else None
            checkpoint(index)
            before_disk, before_io = folder_bytes(index), written()
            t1 = time.perf_counter()
            step = indexer.build(corpus, index, progress=False, only=only)
            seconds = time.perf_counter() - t1
            checkpoint(index)
            row[how] = {
                "s": round(seconds, 3),
                "written_bytes": written() - before_io,
                "folder_growth": round(folder_bytes(index) / before_disk, 4),
                "report": step.summary(),
                "stages_s": {k: round(v, 3) for k, v in step.timings.items()},
            }
            if name == "nothing to do":
                continue
            _undo(name, one, existing, original, pool, rng)  # back, so the second way redoes the same change
            indexer.build(corpus, index, progress=False)
        if name in ("add one article", "nothing to do"):  # a new process: what `qa index` costs
            change()
            child = subprocess.run(
                [sys.executable, "-c", _PROCESS, str(corpus), str(index), str(ROOT / "bench")],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            row["as a process"] = json.loads(child.stdout.strip().splitlines()[-1])
            if name != "nothing to do":
                _undo(name, one, existing, original, pool, rng)
                indexer.build(corpus, index, progress=False)
        result["updates"][name] = row
        print(name, row, flush=True)
    existing.write_bytes(original)
    one.unlink(missing_ok=True)
    indexer.build(corpus, index, progress=False)


def _undo(name, one, existing, original, pool, rng) -> None:
    if name == "add one article":
        one.unlink()
    elif name == "change one article":
        existing.write_bytes(original)
    elif name == "delete one article":
        one.write_text("Story new\n\n" + " ".join(rng.sample(pool, 40)) + "\n")


if __name__ == "__main__":
    main()
