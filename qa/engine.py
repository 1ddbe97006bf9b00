"""`QA`: the stages wired together. The CLI and the UI are thin shells over this."""

from __future__ import annotations

import threading
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .answering import Answerer
from .config import INDEX_SHAPING, Settings
from .embedding import Embedder
from .indexing import BuildReport, Indexer
from .retrieval import Retriever
from .store import IndexIncompatible, IndexStore, Snapshot
from .types import Answer, Citation, Passage


class QueryEncoder(Protocol):
    name: str
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


class InvalidQuestion(ValueError):
    pass


class QA:
    """Ask questions of an index; reload it when a newer version is published.

    Safe to share between threads: each question works on the snapshot it
    started with, and `reload()` swaps in a new one atomically.
    """

    def __init__(
        self,
        settings: Settings,
        snapshot: Snapshot,
        embedder: Embedder | None = None,
        encoder: QueryEncoder | None = None,
    ):
        if embedder is None and encoder is None:
            raise ValueError("QA needs an embedder or a query encoder")
        self.settings = settings
        self._embedder = embedder
        self.encoder: QueryEncoder = encoder or embedder
        """What embeds questions: the ONNX export when there is one, else the PyTorch model."""
        self._snapshot = snapshot
        self._swap = threading.Lock()

    # -- construction ------------------------------------------------------

    @classmethod
    def load(
        cls, index_dir: str | Path = "index", settings: Settings | None = None, embedder: Embedder | None = None
    ) -> QA:
        """Open the index in `index_dir` with the model it was built with."""
        store = IndexStore(index_dir)
        manifest = store.read_manifest()
        settings = (settings or Settings()).replace(index_dir=Path(index_dir))
        built = manifest["settings"]
        if settings.model != built["model"] and settings.model != Settings().model:
            raise IndexIncompatible(
                f"the index in {index_dir}/ was built with model {built['model']!r}, not {settings.model!r}; "
                "run `qa index --rebuild` to build it with the new model"
            )
        settings = settings.replace(**{k: built[k] for k in INDEX_SHAPING if k in built})
        encoder = None
        if embedder is None:
            if settings.fast_query_encoder:
                from . import query_encoder

                encoder = query_encoder.load(settings.cache_dir, settings.model)
            if encoder is None:
                embedder = Embedder(settings.model, device=settings.device, batch_size=settings.batch_size)
        elif embedder.name != settings.model:
            raise IndexIncompatible(
                f"the index in {index_dir}/ was built with model {built['model']!r}, not {embedder.name!r}; "
                "run `qa index --rebuild`"
            )
        encoder = encoder or embedder
        snapshot = store.open(expect_model=settings.model, expect_dim=encoder.dim)
        return cls(settings, snapshot, embedder, encoder)

    @property
    def embedder(self) -> Embedder:
        """The full PyTorch model, loaded on first use (building needs it; questions don't)."""
        with self._swap:
            if self._embedder is None:
                s = self.settings
                self._embedder = Embedder(s.model, device=s.device, batch_size=s.batch_size)
        return self._embedder

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def reload(self) -> bool:
        """Switch to the newest published version; True if it changed."""
        store = IndexStore(self.settings.index_dir)
        if store.current_version() == self._snapshot.version:
            return False
        fresh = store.open(expect_model=self.settings.model, expect_dim=self.encoder.dim)
        with self._swap:
            self._snapshot = fresh  # the old one closes when its last reader lets go
        return True

    def build_index(self, corpus_dir: str | Path | None = None, rebuild: bool = False, **kwargs) -> BuildReport:
        """Update this QA's index from `corpus_dir` and switch to the new version."""
        report = Indexer(self.settings, self.embedder).build(
            Path(corpus_dir or self.settings.corpus_dir), self.settings.index_dir, rebuild=rebuild, **kwargs
        )
        self.reload()
        return report

    # -- questions ---------------------------------------------------------

    def search(self, question: str, k: int | None = None) -> list[Passage]:
        question = self._clean(question)
        snapshot = self._snapshot
        vector = self.encoder.embed_queries([question])[0]
        return Retriever(snapshot, None, self.settings).search(question, k, query_vector=vector).passages

    def ask(self, question: str, k: int | None = None) -> Answer:
        t0 = time.perf_counter()
        question = self._clean(question)
        snapshot = self._snapshot
        vector = self.encoder.embed_queries([question])[0]
        t1 = time.perf_counter()
        passages = Retriever(snapshot, None, self.settings).search(question, k, query_vector=vector).passages
        t2 = time.perf_counter()
        selection = Answerer(snapshot, self.settings).select(question, vector, passages)
        citations = verified(snapshot, selection.citations)
        t3 = time.perf_counter()
        timings = {
            "embed_ms": (t1 - t0) * 1000,
            "retrieve_ms": (t2 - t1) * 1000,
            "answer_ms": (t3 - t2) * 1000,
            "total_ms": (t3 - t0) * 1000,
        }
        if not citations:
            text = refusal_text(snapshot.counts["documents"])
            return Answer(question, text, True, [], timings, selection.confidence)
        return Answer(question, compose(citations), False, citations, timings, selection.confidence)

    def info(self) -> dict:
        return self._snapshot.describe()

    def context(self, source: str, start: int, end: int, sentences: int = 2) -> tuple[str, str, str]:
        """(before, quote, after): the quote with a few whole sentences either side."""
        snap = self._snapshot
        found = snap.document_by_source(source)
        if found is None:
            raise KeyError(source)
        doc_id, _, text = found
        rows = snap.db.execute(
            "SELECT MIN(idx), MAX(idx) FROM sentences WHERE doc_id = ? AND start < ? AND end > ?", (doc_id, end, start)
        ).fetchone()
        first, last = rows if rows[0] is not None else (0, 0)
        span = snap.db.execute(
            "SELECT MIN(start), MAX(end) FROM sentences WHERE doc_id = ? AND idx BETWEEN ? AND ?",
            (doc_id, max(0, first - sentences), last + sentences),
        ).fetchone()
        lo, hi = min(span[0], start), max(span[1], end)
        return text[lo:start], text[start:end], text[end:hi]

    def as_retriever(self, k: int | None = None):
        """This QA's hybrid search as a LangChain `BaseRetriever`."""
        from .langchain import QARetriever

        return QARetriever(qa=self, k=k or self.settings.k)

    def _clean(self, question: str) -> str:
        if not isinstance(question, str):
            raise InvalidQuestion("the question must be text")
        # Control characters carry no meaning in a question and confuse tokenisers.
        cleaned = "".join(
            " " if unicodedata.category(ch).startswith("C") and ch not in "\t\n" else ch for ch in question
        )
        cleaned = " ".join(cleaned.split())
        if not cleaned:
            raise InvalidQuestion("the question is empty")
        limit = self.settings.max_question_chars
        if len(cleaned) > limit:
            raise InvalidQuestion(f"the question is too long ({len(cleaned):,} characters; the limit is {limit:,})")
        return cleaned


def verified(snapshot: Snapshot, citations: list[Citation]) -> list[Citation]:
    """Only citations whose quote is exactly `document.text[start:end]`, renumbered."""
    out = []
    for c in citations:
        found = snapshot.document_by_source(c.source)
        if found is None:
            continue
        _, _, text = found
        if 0 <= c.start < c.end <= len(text) and text[c.start : c.end] == c.quote:
            c.n = len(out) + 1
            out.append(c)
    return out


def compose(citations: list[Citation]) -> str:
    return "\n".join(f"“{c.quote}” [{c.n}]" for c in citations)


def refusal_text(documents: int) -> str:
    return f"The articles don't say. Nothing in the {plural(documents, 'indexed article')} answers this question."


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
