"""What qa needs from an index, whatever stores it: the seam between qa and its stores.

A `Store` is an index location. It publishes numbered versions; a `Snapshot` is one of
them open for reading (readers keep theirs while writers publish newer ones), and a
`Writer` makes the next one from the current one (or from nothing: a full build).
qa's engine, indexer and CLI use these three and nothing else, so every store keeps the
same promises: verbatim text at recorded offsets, incremental updates, a consistent
version per reader, one writer at a time, no pickle, clear errors.

Implementations (chosen once, by `qa.store.open_store`): `faiss_sqlite/`, the default
(FAISS segment files + SQLite on a local disk), and `lance/` (LanceDB tables on a local
folder or object storage: docs/scaling.md).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Settings
from ..types import Document

REBUILD_HINT = "run `qa index --rebuild` to build it again"


class IndexError_(Exception):
    """Base for index problems; the message always says how to fix it."""


class IndexMissing(IndexError_):
    pass


class IndexIncompatible(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


class IndexLocked(IndexError_):
    pass


@dataclass(frozen=True)
class ChunkRow:
    id: int
    doc_id: int
    source: str
    title: str
    start: int
    end: int
    first_sentence: int
    last_sentence: int
    text: str


@dataclass(frozen=True)
class SentenceRow:
    doc_id: int
    idx: int
    start: int
    end: int
    text: str
    vector: np.ndarray


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    source: str
    title: str
    sha256: str
    chars: int
    chunks: int
    added: str


class Snapshot(ABC):
    """One published version, open for reading (thread-safe). `manifest` describes it:
    version, model, dimension, counts, the settings that shaped it."""

    manifest: dict
    version: str

    @property
    def counts(self) -> dict:
        return dict(self.manifest["counts"])

    def warm(self) -> None:  # noqa: B027 -- optional: most stores have nothing to read ahead
        """Read now what the first question would otherwise wait for."""

    @property
    def reusable(self) -> dict:
        """What a newer snapshot of the same store may take over instead of reading it again."""
        return {}

    def gone(self) -> bool:
        """Whether the store has dropped this version (two newer ones were published)."""
        return False

    def close(self) -> None:  # noqa: B027
        """Release this thread's handles (the snapshot stays usable: they reopen on use)."""

    @abstractmethod
    def describe(self) -> dict:
        """What `qa info` shows (`_describe` with the store's own layout)."""

    def _describe(self, location: str, kind: str, size: int | None, **layout) -> dict:
        m = self.manifest
        return {
            "index": location,
            "store": kind,
            "version": self.version,
            "documents": m["counts"]["documents"],
            "chunks": m["counts"]["chunks"],
            "sentences": m["counts"]["sentences"],
            "model": m["model"],
            "dimension": m["dimension"],
            **layout,
            "chunk_tokens": m["settings"]["chunk_tokens"],
            "size_bytes": size,
            "built_at": m["built_at"],
        }

    @abstractmethod
    def check(self) -> list[str]:
        """Deep consistency check: ids, offsets, counts (empty: all is well)."""

    # -- documents ---------------------------------------------------------

    @abstractmethod
    def documents(self) -> list[DocumentInfo]: ...

    @abstractmethod
    def document_text(self, doc_id: int) -> str: ...

    @abstractmethod
    def document_by_source(self, source: str) -> tuple[int, str, str] | None:
        """(id, title, text) of the document indexed from `source`."""

    @abstractmethod
    def indexed(self, paths: Collection[str] | None = None) -> dict[str, tuple[int, str, str | None]]:
        """source -> (id, sha256, file stat when read); with `paths`, those sources and the
        ones under them as folders."""

    @abstractmethod
    def sources_with_hash(self, sha256: str) -> list[str]: ...

    # -- search ------------------------------------------------------------

    @abstractmethod
    def search_dense(self, query: np.ndarray, k: int, nprobe: int | None = None) -> list[tuple[int, float]]:
        """(chunk id, inner product) of the `k` nearest chunks."""

    @abstractmethod
    def search_lexical(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(chunk id, score) of the best `k` BM25 matches of any of `terms` (words, unstemmed)."""

    @abstractmethod
    def doc_freq(self, stems: Sequence[str]) -> dict[str, int]:
        """How many chunks each Porter-stemmed term occurs in."""

    @abstractmethod
    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]: ...

    @abstractmethod
    def sentences(self, doc_id: int, first: int, last: int) -> list[SentenceRow]: ...

    @abstractmethod
    def chunk_vectors(self, ids: Sequence[int]) -> np.ndarray: ...


class Writer(ABC):
    """Makes the next version. Nothing it does is visible until the store publishes the
    manifest `commit` returns; `abort` (or a crash) leaves the current version as it was."""

    @abstractmethod
    def remove_document(self, doc_id: int) -> None: ...

    @abstractmethod
    def add_document(
        self,
        doc: Document,
        sentences: Sequence[tuple[int, int, np.ndarray]],
        chunks: Sequence[tuple[int, int, int, int]],
        vectors: np.ndarray,
    ) -> None:
        """A document with its sentences (start, end, vector), chunks (start, end, first and
        last sentence) and one vector per chunk. Remove a source's old document first."""

    @abstractmethod
    def commit(self, fields: dict) -> dict:
        """Make the version durable; returns its manifest, for `Store.publish`."""

    @abstractmethod
    def abort(self) -> None: ...


class Store(ABC):
    """An index location and its published versions."""

    kind: str
    """The name `--store` takes."""
    location: str

    @abstractmethod
    def exists(self) -> bool:
        """Whether a version has been published here."""

    @abstractmethod
    def current_version(self) -> str | None: ...

    @abstractmethod
    def read_manifest(self, version: str | None = None) -> dict: ...

    @abstractmethod
    def open(
        self, expect_model: str | None = None, expect_dim: int | None = None, reuse: dict | None = None
    ) -> Snapshot:
        """The current version; `reuse`: an older snapshot's `reusable`."""

    @abstractmethod
    def missing(self) -> IndexMissing:
        """The error for a location without a published version."""

    @abstractmethod
    def lock(self, timeout: float = 0) -> contextlib.AbstractContextManager[None]:
        """Held by the one writer."""

    def upgrade(self) -> str | None:
        """Convert an older format in place (within `lock()`); the new version or None."""
        return None

    @abstractmethod
    def tidy(self) -> None:
        """Drop what no kept version needs; undo what a crashed writer left (within `lock()`)."""

    @abstractmethod
    def begin(self, settings: Settings, base: Snapshot | None, compact: bool = False) -> Writer:
        """The next version: an update of `base` (the current version) or, with None, a full build."""

    @abstractmethod
    def publish(self, manifest: dict) -> str:
        """Make the committed version current; returns its name."""

    def verify_hashes(self) -> list[str]:
        """Problems found by checking the stored files against their recorded hashes."""
        return []


@contextlib.contextmanager
def folder_lock(lock_file: Path, shown: str, timeout: float = 0) -> Iterator[None]:
    """The one-writer lock of an index in a local folder: a lock file its writer holds (readers
    never take it). `shown` names the index in the message of a second writer, which is
    refused at once, or after waiting `timeout` seconds."""
    from filelock import FileLock, Timeout

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_file))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise IndexLocked(
            f"another `qa index` is updating {shown} right now; wait for it to finish "
            "(or pass --wait to queue behind it)"
        ) from None
    try:
        yield
    finally:
        lock.release()


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__


def check_expected(location: str, manifest: dict, model: str | None, dim: int | None) -> None:
    """Refuse an index built with another model than the one asked for."""
    if model is not None and manifest["model"] != model:
        raise IndexIncompatible(
            f"the index in {location} was built with model {manifest['model']!r}, not {model!r}; "
            f"{REBUILD_HINT} (or load it with its own model)"
        )
    if dim is not None and manifest["dimension"] != dim:
        raise IndexIncompatible(
            f"the index in {location} holds {manifest['dimension']}-d vectors but the model makes "
            f"{dim}-d ones; {REBUILD_HINT}"
        )
