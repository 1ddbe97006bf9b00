"""What both preparers share: the job and its result, the `Preparer` interface, and the
functions that split documents and embed their chunks (so both make the same chunks and
the same vectors)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ...config import Settings
from ...embedding.model import EmbedInput
from ...ingestion.chunking import Chunked, Chunker
from ...ingestion.files import CorpusFile, Skipped
from ...ingestion.loading import Loaded
from ...types import Document

log = logging.getLogger("qa.index")

TITLE_MAX_TOKENS = 48
"""Longer titles are left out of the embedded text so they can't crowd out the chunk."""


@dataclass(frozen=True)
class Job:
    """One file to prepare: its fingerprint and stat, as the indexer's scan found them."""

    file: CorpusFile
    sha256: str
    stat: str | None


@dataclass
class Prepared:
    """A file made ready for `Writer.add_document`; or, when `loaded.skipped`, why not."""

    source: str
    loaded: Loaded
    sentences: list[tuple[int, int, np.ndarray]] = field(default_factory=list)
    chunks: list[tuple[int, int, int, int]] = field(default_factory=list)
    vectors: np.ndarray | None = None

    @property
    def document(self) -> Document | None:
        return self.loaded.document


class Preparer(Protocol):
    embedded_chunks: int

    def prepare(self, jobs: Sequence[Job], progress: bool | None) -> Iterator[Prepared]:
        """One `Prepared` per job: the files that load in the jobs' order (the ones that
        don't may come first)."""


def chunker_for(embedder, settings: Settings) -> Chunker:
    limit = embedder.max_tokens - 2  # [CLS] and [SEP] take two of the model's word pieces
    if settings.chunk_tokens > limit:
        log.warning("chunk_tokens %d is above the model's limit: chunks hold at most %d word pieces",
                    settings.chunk_tokens, limit)  # fmt: skip
    return Chunker(
        embedder.count_tokens,
        embedder.token_spans,
        max_tokens=min(settings.chunk_tokens, limit),
        overlap_sentences=settings.overlap_sentences,
    )


def split(docs: Sequence[Document], embedder, chunker: Chunker, settings: Settings) -> list[tuple[Chunked, str]]:
    """Each document's sentences and chunks, and the title prefix its chunks are embedded with."""
    if settings.title_in_embedding:
        counts = embedder.count_tokens([d.title for d in docs])
        prefixes = [d.title + "\n" if n <= TITLE_MAX_TOKENS else "" for d, n in zip(docs, counts, strict=True)]
    else:
        prefixes = [""] * len(docs)
    out = []
    for doc, prefix in zip(docs, prefixes, strict=True):
        budget = chunker.max_tokens - (embedder.count_tokens([prefix])[0] if prefix else 0)
        out.append((chunker.chunk(doc.text, budget=budget), prefix))
    return out


def embed(loaded: Sequence[Loaded], split_docs: Sequence[tuple[Chunked, str]], embedder, tick=None) -> list[Prepared]:
    """Embed the chunks of the `loaded` documents in one go; each sentence's vector comes from
    the first chunk that holds it (its tokens in context), so sentences cost no extra pass."""
    docs = [item.document for item in loaded]
    inputs: list[EmbedInput] = []
    owners: list[tuple[int, int]] = []  # (document, chunk)
    for d, (doc, (c, prefix)) in enumerate(zip(docs, split_docs, strict=True)):
        for k, ch in enumerate(c.chunks):
            base = ch.start - len(prefix)
            spans = [
                (c.sentences[j].start - base, c.sentences[j].end - base)
                for j in range(ch.first_sentence, ch.last_sentence + 1)
            ]
            inputs.append(EmbedInput(prefix + doc.text[ch.start : ch.end], spans))
            owners.append((d, k))
    embedded = embedder.embed(inputs, progress=tick)
    sentence_vectors: list[dict[int, np.ndarray]] = [{} for _ in docs]
    for row, (d, k) in enumerate(owners):
        ch = split_docs[d][0].chunks[k]
        for j, vec in zip(range(ch.first_sentence, ch.last_sentence + 1), embedded.span_vectors[row], strict=True):
            sentence_vectors[d].setdefault(j, vec)
    out, first = [], 0  # a document's chunks are consecutive rows
    for d, (doc, (c, _)) in enumerate(zip(docs, split_docs, strict=True)):
        rows = slice(first, first + len(c.chunks))
        first += len(c.chunks)
        if not c.chunks:  # only invisible characters (zero-width spaces): nothing to quote or find
            empty = Loaded(skipped=Skipped(doc.source, "empty: no sentences to index"), notes=loaded[d].notes)
            out.append(Prepared(doc.source, empty))
            continue
        out.append(
            Prepared(
                doc.source,
                loaded[d],
                [(s.start, s.end, sentence_vectors[d][j]) for j, s in enumerate(c.sentences)],
                [(ch.start, ch.end, ch.first_sentence, ch.last_sentence) for ch in c.chunks],
                embedded.vectors[rows],
            )
        )
    return out
