"""Preparing files in this process: load them all, split them, embed their chunks in groups."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence

from ...config import Settings
from ...ingestion.loading import load_file
from .base import Job, Prepared, chunker_for, embed, split

EMBED_GROUP_CHUNKS = 4096
"""Chunks embedded (and handed to the writer) per group: bounds memory on very large corpora."""


class LocalPreparer:
    def __init__(self, settings: Settings, embedder: Callable[[], object]):
        self.settings = settings
        self._embedder = embedder
        self.embedded_chunks = 0

    def prepare(self, jobs: Sequence[Job], progress: bool | None) -> Iterator[Prepared]:
        from tqdm.auto import tqdm

        loaded = []
        for job in jobs:
            item = load_file(job.file, job.sha256)
            if item.skipped is not None:
                yield Prepared(job.file.source, item)
                continue
            item.document = dataclasses.replace(item.document, stat=job.stat)
            loaded.append(item)
        if not loaded:
            return
        embedder = self._embedder()
        parts = split([item.document for item in loaded], embedder, chunker_for(embedder, self.settings), self.settings)
        total = sum(len(chunked.chunks) for chunked, _ in parts)
        bar = tqdm(total=total, desc="Embedding", unit="chunk", disable=progress is False or None)
        start = size = 0
        for i, (chunked, _) in enumerate(parts):
            size += len(chunked.chunks)
            if size >= EMBED_GROUP_CHUNKS or i == len(parts) - 1:
                yield from embed(loaded[start : i + 1], parts[start : i + 1], embedder, bar.update)
                self.embedded_chunks += size
                start, size = i + 1, 0
        bar.close()
