"""`QA`: the stages wired together. The CLI and the UI are thin shells over this.

About 400 lines, on purpose: `QA` is the one object users hold, and its two halves share
its state (the open snapshot, the lazily loaded models): opening, following and switching
index versions, and the question paths (`ask`, `stream`, `chat`, `search`) that run the
stages in order. Everything a stage decides lives in that stage's package.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .answering.answerer import Answerer
from .answering.followup import CARRIED_TURNS, carry_over, conversation_turns, rewrite_with_model
from .answering.presenting import extractive_answer, surrounding, verified, with_caveat
from .answering.reader import Reader, is_packaged, load_reader
from .answering.verification import Verifier, calibrated_for, check_model, uncalibrated_warning
from .config import Settings, built_with
from .embedding import onnx as query_encoder
from .embedding.model import Embedder
from .embedding.onnx import OnnxEmbedder
from .indexing.indexer import BuildReport, Indexer
from .search.question import check_k, checked_question, cleaned_question
from .search.retriever import Retriever
from .store import IndexError_, IndexIncompatible, IndexMissing, Snapshot, Store, open_store
from .types import Answer, Citation, Passage

log = logging.getLogger(__name__)


class QueryEncoder(Protocol):
    name: str
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


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
        llm: Any = None,
        store: Store | None = None,
    ):
        if embedder is None and encoder is None:
            raise ValueError("QA needs an embedder or a query encoder")
        self.settings = settings
        self._llm = llm
        self._llm_given = llm is not None  # the caller's own chat model: not ours to second-guess
        self._verifier: Verifier | None = None
        self._reader: Reader | bool | None = None  # False: none configured
        self._embedder = embedder
        self.encoder: QueryEncoder = encoder or embedder
        """What embeds questions: the ONNX export when there is one, else the PyTorch model."""
        self._snapshot = snapshot
        self.store = store or open_store(settings.index_dir)
        """Where newer versions are published (`reload`)."""
        self._swap = threading.Lock()
        self._reloading = threading.Lock()
        self._unusable: str | None = None  # a published version this QA can't switch to (warned once)
        self._indexer: Indexer | None = None

    # -- construction ------------------------------------------------------

    @classmethod
    def load(
        cls,
        index_dir: str | Path = "index",
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        llm: Any = None,
    ) -> QA:
        """Open the index in `index_dir` with the model it was built with.

        `llm`: a LangChain chat model for generative answers (else `settings.llm`, loaded on first use).
        """
        store = open_store(index_dir)
        manifest = store.read_manifest()
        settings = (settings or Settings()).replace(index_dir=Path(index_dir))
        built = manifest["settings"]
        if settings.model != built["model"] and settings.model != Settings().model:
            raise IndexIncompatible(
                f"the index in {store.location} was built with model {built['model']!r}, not {settings.model!r}; "
                "run `qa index --rebuild` to build it with the new model"
            )
        settings = settings.replace(**built_with(manifest))
        encoder = None
        if embedder is None:
            if settings.fast_query_encoder:
                encoder = query_encoder.load(settings.cache_dir, settings.model, settings.batch_size)
            if encoder is None:
                embedder = Embedder(settings.model, device=settings.device, batch_size=settings.batch_size)
                if settings.fast_query_encoder and query_encoder.export(settings.cache_dir, embedder):
                    # ~2 s once per machine and model (a new cache, or a `qa ask` before any
                    # `qa index` here): every later process starts in a second, not in seven.
                    encoder = query_encoder.load(settings.cache_dir, settings.model, settings.batch_size)
        elif embedder.name != settings.model:
            raise IndexIncompatible(
                f"the index in {store.location} was built with model {built['model']!r}, not {embedder.name!r}; "
                "run `qa index --rebuild`"
            )
        encoder = encoder or embedder
        snapshot = store.open(expect_model=settings.model, expect_dim=encoder.dim)
        snapshot.warm()  # read the vectors now, not at the first question
        return cls(settings, snapshot, embedder, encoder, llm=llm, store=store)

    @property
    def embedder(self) -> Embedder | OnnxEmbedder:
        """What embeds articles for `build_index`: the ONNX encoder that embeds questions
        when there is one, else the PyTorch model, loaded on first use."""
        with self._swap:
            if self._embedder is None:
                s = self.settings
                if isinstance(self.encoder, OnnxEmbedder):
                    self._embedder = self.encoder
                else:
                    self._embedder = Embedder(s.model, device=s.device, batch_size=s.batch_size)
        return self._embedder

    @property
    def llm(self):
        """The chat model of the generative mode (None when none is configured)."""
        if self._llm is None and self.settings.llm:
            from .answering.llm import chat_model

            with self._swap:
                if self._llm is None:
                    self._llm = chat_model(self.settings.llm, self.settings)
        return self._llm

    @property
    def verifier(self) -> Verifier | None:
        """What checks answers with the language model (`Settings.verify`), else None."""
        if not self.settings.verify:
            return None
        if not self._llm_given:
            check_model(self.settings.llm)
        if self._verifier is None:
            llm = self.settings.llm or self.llm
            if not calibrated_for(llm):
                log.warning(uncalibrated_warning(llm))
            self._verifier = Verifier(self.llm, self.settings.verify_sentences)
        return self._verifier

    @property
    def reader(self) -> Reader | None:
        """The model that reads candidate sentences (`Settings.reader`), loaded on first use
        (~0.2 s for the shipped one); None when the setting is 'none'."""
        if self._reader is None:
            with self._swap:
                if self._reader is None:
                    self._reader = load_reader(self.settings.reader) or False
                    if self._reader and not is_packaged(self.settings.reader):
                        log.warning(
                            "reader %s: qa's answer model and thresholds are calibrated for the shipped reader; "
                            "refusals may be off (docs/reader.md)",
                            self.settings.reader,
                        )
        return self._reader or None

    @property
    def generative(self) -> bool:
        """Whether answers are written by a language model (quotes checked) by default."""
        return self._llm is not None or bool(self.settings.llm)

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def reload(self) -> bool:
        """Switch to the newest published version; True if it changed. Questions do this by
        themselves (`_follow`); call it to switch at a moment of your choosing."""
        with self._reloading:
            return self._switch(self.store)

    def _switch(self, store: Store) -> bool:
        """`reload`'s work; the caller holds `_reloading`, so one thread opens a new version
        and the others wait for it and find it open."""
        if store.current_version() == self._snapshot.version:
            return False
        fresh = store.open(expect_model=self.settings.model, expect_dim=self.encoder.dim, reuse=self._snapshot.reusable)
        fresh.warm()  # read its new vectors here, not in the next question
        # The next build from this QA (the chat's watcher) keeps how that version was made.
        self.settings = self.settings.replace(**built_with(fresh.manifest))
        with self._swap:
            self._snapshot = fresh  # the old one closes when its last reader lets go
        return True

    def _follow(self) -> Snapshot:
        """The newest published version, reloaded if another process (`qa index`, a watcher)
        published one since the last question: a long-lived QA answers from the articles as
        they are now, and never from a version whose files the index has since pruned."""
        store = self.store
        try:
            current = store.current_version()
        except IndexError_:
            return self._snapshot  # CURRENT unreadable for a moment: keep the open version
        if current is None:
            raise store.missing()  # the index was deleted
        if current in (self._snapshot.version, self._unusable):
            return self._snapshot
        with self._reloading:
            if current in (self._snapshot.version, self._unusable):
                return self._snapshot  # another thread got here first
            try:
                self._switch(store)
            except IndexError_ as exc:
                if self._snapshot.gone():
                    raise IndexMissing(
                        f"{exc} (and the version this QA had open, {self._snapshot.version}, has been removed)"
                    ) from None
                # e.g. rebuilt with another model: keep answering from the open version, say so once.
                self._unusable = current
                log.warning("qa: still answering from index version %s: %s", self._snapshot.version, exc)
        return self._snapshot

    def build_index(self, corpus_dir: str | Path | None = None, rebuild: bool = False, **kwargs) -> BuildReport:
        """Update this QA's index from `corpus_dir` and switch to the new version."""
        if self._indexer is None:  # one for this QA's life: what it learnt (skipped copies, segments) carries over
            self._indexer = Indexer(self.settings, self.embedder)
        report = self._indexer.build(
            Path(corpus_dir or self.settings.corpus_dir), self.settings.index_dir, rebuild=rebuild, **kwargs
        )
        self.reload()
        return report

    # -- questions ---------------------------------------------------------

    def search(self, question: str, k: int | None = None) -> list[Passage]:
        question = self._clean(question, k)
        snapshot = self._follow()
        vector = self.encoder.embed_queries([question])[0]
        return Retriever(snapshot, None, self.settings).search(question, k, query_vector=vector).passages

    def ask(
        self,
        question: str,
        k: int | None = None,
        history: Sequence[tuple[str, str]] = (),
        mode: str | None = None,
    ) -> Answer:
        """Answer `question`; `history` holds earlier (question, answer) turns for follow-ups.

        `mode`: "extractive" (quotes picked by qa), "generative" (written by the language
        model, quotes checked), or None: generative when a model is configured.
        """
        answer = None
        for event in self.stream(question, k=k, history=history, mode=mode):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        k: int | None = None,
        history: Sequence[tuple[str, str]] = (),
        mode: str | None = None,
    ) -> Iterator[str | Citation | Answer]:
        """Like `ask`, step by step: text as the model writes it (str), each quote once it
        is verified (`Citation`, provisional numbering), and last the final `Answer`."""
        t0 = time.perf_counter()
        question = self._clean(question, k)
        verifier = self.verifier  # first: a model that can't check answers says so before it loads
        generative = self._generative(mode)
        standalone = self._standalone(question, history, generative)
        snapshot = self._follow()
        vector = self.encoder.embed_queries([standalone])[0]
        t1 = time.perf_counter()
        passages = Retriever(snapshot, None, self.settings).search(standalone, k, query_vector=vector).passages
        t2 = time.perf_counter()
        # The verifier's weights were fitted on qa's own signals (verification.py): it reads without the reader.
        reader = None if verifier is not None else self.reader
        selection = Answerer(snapshot, self.settings, verifier, reader).select(standalone, vector, passages)
        citations = verified(snapshot, selection.citations)
        t3 = time.perf_counter()
        timings = {"embed_ms": (t1 - t0) * 1000, "retrieve_ms": (t2 - t1) * 1000, "answer_ms": (t3 - t2) * 1000}
        if selection.verdict is not None:
            timings["verify_ms"] = selection.verdict.ms
        rewritten = standalone if standalone != question else None
        # The calibrated refusal decides for both modes: a model shown passages that
        # don't answer is the likeliest to invent something, and asking it costs seconds.
        verdict = selection.verdict.to_dict() if selection.verdict is not None else None
        if not citations or not generative:
            answer = extractive_answer(
                snapshot, question, selection, citations, timings, t0, self.settings.short_answer_threshold
            )
            answer.standalone_question = rewritten
            answer.verdict = verdict
            yield answer
            return
        from .answering.generation import written_answer  # loads LangChain: only for written answers

        written = written_answer(
            self.llm, self.settings, snapshot, question, rewritten, passages, selection, citations, timings, t0
        )
        for event in written:
            if isinstance(event, Answer):
                event.verdict = verdict
                if not event.refused:
                    with_caveat(event, selection.uncertain)
            yield event

    def chat(self, messages: Sequence[dict], k: int | None = None, mode: str | None = None) -> Answer:
        """Answer the last user message of a conversation (`{"role", "content"}` dicts)."""
        question, turns = self.conversation(messages, mode)
        return self.ask(question, k=k, history=turns, mode=mode)

    def conversation(self, messages: Sequence[dict], mode: str | None = None) -> tuple[str, list[tuple[str, str]]]:
        """The question a conversation ends on and its earlier (question, answer) turns, as
        `ask` and `stream` take them; other roles (system, tool) are not questions."""
        return conversation_turns(messages, rule_based=not self._generative(mode))

    def session(self, mode: str | None = None) -> ChatSession:
        """A conversation that remembers its questions, so follow-ups work."""
        return ChatSession(self, mode)

    def _generative(self, mode: str | None) -> bool:
        """Whether `mode` (None: the configured default) means a written answer; checks it can be had."""
        if mode not in (None, "extractive", "generative"):
            raise ValueError(f"unknown answer mode {mode!r}: use 'extractive' or 'generative'")
        generative = self.generative if mode is None else mode == "generative"
        if generative and self.llm is None:
            raise ValueError("generative answers need a language model: set `llm` (e.g. qa ask --llm MODEL.gguf)")
        return generative

    def _standalone(self, question: str, history: Sequence[tuple[str, str]], generative: bool) -> str:
        """`question` (cleaned, within the limit as sent) made to stand alone; what is carried
        over from `history` does not count against the limit, which the client cannot see."""
        if not history:
            return question
        history = history[-CARRIED_TURNS:]
        if generative:
            return self.cleaned(rewrite_with_model(question, history, self.llm))
        return self.cleaned(carry_over(question, [q for q, _ in history]))

    def info(self) -> dict:
        return self._follow().describe()

    def documents(self) -> list:
        """Every indexed article (source, title, size, chunks, when added), in the newest version."""
        return self._follow().documents()

    def article(self, source: str) -> tuple[str, str] | None:
        """(title, text) of the indexed article `source` in the newest version; None if it has none."""
        found = self._follow().document_by_source(source)
        return None if found is None else (found[1], found[2])

    def context(self, source: str, start: int, end: int, sentences: int = 2) -> tuple[str, str, str]:
        """(before, quote, after): the quote with a few whole sentences either side."""
        return surrounding(self._follow(), source, start, end, sentences)

    def as_retriever(self, k: int | None = None):
        """This QA's hybrid search as a LangChain `BaseRetriever`."""
        from .langchain import QARetriever

        check_k(k)
        return QARetriever(qa=self, k=k or self.settings.k)

    def _clean(self, question: str, k: int | None = None) -> str:
        check_k(k)
        return checked_question(question, self.settings.max_question_chars)

    cleaned = staticmethod(cleaned_question)
    """`question` as qa searches for it (search/question.py); `InvalidQuestion` if no word is left."""


class ChatSession:
    """A conversation with a `QA`: each question may lean on the ones before it."""

    def __init__(self, qa: QA, mode: str | None = None):
        self.qa = qa
        self.mode = mode
        self.turns: list[tuple[str, str]] = []
        """(stand-alone question, answer text) per turn."""

    def ask(self, question: str, k: int | None = None) -> Answer:
        answer = self.qa.ask(question, k=k, history=self.turns, mode=self.mode)
        self.turns.append((answer.standalone_question or answer.question, answer.answer))
        return answer
