"""The on-disk index: FAISS vectors + SQLite metadata + a manifest, one folder per version.

Layout (see docs/format.md)::

    index/
      CURRENT            name of the live version folder, swapped atomically
      .lock              held by the one process that writes
      v000007/           a complete, immutable version
        manifest.json    format version, model, dimension, settings, counts, file hashes
        vectors.faiss    chunk vectors with stable int64 ids (= chunks.id)
        meta.sqlite      documents, sentences (+ their vectors), chunks, FTS5 lexical index

A writer builds the next version in a hidden temporary folder, fsyncs it,
renames it into place and only then points CURRENT at it. A crash at any
moment leaves CURRENT naming a complete version. Readers open the version
CURRENT names and keep it until they choose to reload. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .faiss_index import configure, search_parameters, stored_ids

FORMAT_NAME = "qa-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
META = "meta.sqlite"
CURRENT = "CURRENT"
LOCK = ".lock"
_VERSION_DIR = re.compile(r"^v(\d{6,})$")
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


SCHEMA = """
CREATE TABLE documents (
    id      INTEGER PRIMARY KEY,
    source  TEXT NOT NULL UNIQUE,
    title   TEXT NOT NULL,
    sha256  TEXT NOT NULL,
    meta    TEXT NOT NULL,
    text    TEXT NOT NULL,
    added   TEXT NOT NULL
);
CREATE TABLE sentences (
    id      INTEGER PRIMARY KEY,
    doc_id  INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    start   INTEGER NOT NULL,
    end     INTEGER NOT NULL,
    vector  BLOB NOT NULL
);
CREATE UNIQUE INDEX sentences_by_doc ON sentences (doc_id, idx);
CREATE TABLE chunks (
    id              INTEGER PRIMARY KEY,
    doc_id          INTEGER NOT NULL,
    start           INTEGER NOT NULL,
    end             INTEGER NOT NULL,
    first_sentence  INTEGER NOT NULL,
    last_sentence   INTEGER NOT NULL
);
CREATE INDEX chunks_by_doc ON chunks (doc_id);
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
    body, content='', tokenize='porter unicode61 remove_diacritics 2'
);
"""


# --------------------------------------------------------------------------
# Reading


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


class Snapshot:
    """One immutable version of the index, open for reading (thread-safe)."""

    def __init__(self, path: Path, manifest: dict):
        import faiss

        self.path = path
        self.manifest = manifest
        self.version = path.name
        try:
            self.faiss = faiss.read_index(str(path / VECTORS))
        except RuntimeError as exc:
            raise IndexCorrupt(f"{path / VECTORS} cannot be read ({_first_line(exc)}); {REBUILD_HINT}") from None
        configure(self.faiss, manifest["index"])
        self._local = threading.local()
        counts = manifest["counts"]
        if self.faiss.ntotal != counts["chunks"] or self.faiss.d != manifest["dimension"]:
            raise IndexCorrupt(
                f"{path.name}: the FAISS file holds {self.faiss.ntotal} vectors of dimension {self.faiss.d}, "
                f"the manifest says {counts['chunks']} of {manifest['dimension']}; {REBUILD_HINT}"
            )
        db_chunks = self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        if db_chunks != counts["chunks"]:
            raise IndexCorrupt(
                f"{path.name}: metadata lists {db_chunks} chunks, the FAISS file {self.faiss.ntotal}; {REBUILD_HINT}"
            )

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            uri = f"file:{(self.path / META).as_posix()}?mode=ro&immutable=1"
            try:
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
                conn.execute("SELECT 1 FROM documents LIMIT 1")
            except sqlite3.DatabaseError as exc:
                if not self.path.exists():
                    raise IndexMissing(
                        f"index version {self.version} was removed after newer ones were published: "
                        "QA.reload() opens the newest"
                    ) from None
                raise IndexCorrupt(f"{self.path / META} cannot be read ({exc}); {REBUILD_HINT}") from None
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.vocab = False

    # -- counts and listings -----------------------------------------------

    def describe(self) -> dict:
        """What `qa info` shows: size, model and layout of this version."""
        m = self.manifest
        return {
            "index": str(self.path.parent),
            "version": self.version,
            "documents": m["counts"]["documents"],
            "chunks": m["counts"]["chunks"],
            "sentences": m["counts"]["sentences"],
            "model": m["model"],
            "dimension": m["dimension"],
            "faiss": m["index"]["factory"],
            "chunk_tokens": m["settings"]["chunk_tokens"],
            "size_bytes": sum(f["bytes"] for f in m["files"].values()),
            "built_at": m["built_at"],
        }

    @property
    def counts(self) -> dict:
        return dict(self.manifest["counts"])

    def documents(self) -> list[DocumentInfo]:
        rows = self.db.execute(
            "SELECT d.id, d.source, d.title, d.sha256, length(d.text), "
            "(SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.id), d.added "
            "FROM documents d ORDER BY d.source"
        ).fetchall()
        return [DocumentInfo(*row) for row in rows]

    def document_text(self, doc_id: int) -> str:
        row = self.db.execute("SELECT text FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            raise KeyError(doc_id)
        return row[0]

    def document_by_source(self, source: str) -> tuple[int, str, str] | None:
        return self.db.execute("SELECT id, title, text FROM documents WHERE source = ?", (source,)).fetchone()

    def check(self) -> list[str]:
        """Deep consistency check (slow on big indexes); an empty list means all is well."""
        problems = []
        ids = set(stored_ids(self.faiss).tolist())
        rows = {r[0] for r in self.db.execute("SELECT id FROM chunks")}
        if ids != rows:
            problems.append(f"{len(ids - rows)} vectors without a chunk, {len(rows - ids)} chunks without a vector")
        for doc_id, source, length in self.db.execute("SELECT id, source, length(text) FROM documents"):
            bad = self.db.execute(
                "SELECT COUNT(*) FROM (SELECT start, end FROM chunks WHERE doc_id = ?1 "
                "UNION ALL SELECT start, end FROM sentences WHERE doc_id = ?1) "
                "WHERE start < 0 OR end > ?2 OR start >= end",
                (doc_id, length),
            ).fetchone()[0]
            if bad:
                problems.append(f"{source}: {bad} spans outside the text")
        for table in ("documents", "chunks", "sentences"):
            n = self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            if n != self.manifest["counts"][table]:
                problems.append(f"{table}: {n} rows, the manifest says {self.manifest['counts'][table]}")
        orphans = self.db.execute(
            "SELECT COUNT(*) FROM chunks c LEFT JOIN documents d ON d.id = c.doc_id WHERE d.id IS NULL"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} chunks of no document")
        return problems

    # -- search ------------------------------------------------------------

    def search_dense(self, query: np.ndarray, k: int, nprobe: int | None = None) -> list[tuple[int, float]]:
        """The `k` nearest chunks; `nprobe` (inverted lists searched) applies to IVF indexes only."""
        k = min(k, self.faiss.ntotal)
        if k <= 0:
            return []
        scores, ids = self.faiss.search(
            np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32),
            k,
            params=search_parameters(self.manifest["index"], nprobe),
        )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def search_lexical(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        if not terms or k <= 0:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        rows = self.db.execute(
            "SELECT rowid, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?",
            (match, k),
        ).fetchall()
        return [(int(r), -float(s)) for r, s in rows]

    def doc_freq(self, stems: Sequence[str]) -> dict[str, int]:
        """How many chunks each (Porter-stemmed) term occurs in."""
        if not stems:
            return {}
        db = self.db
        if not getattr(self._local, "vocab", False):
            db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, chunks_fts, row)")
            self._local.vocab = True
        marks = ",".join("?" * len(stems))
        rows = db.execute(f"SELECT term, doc FROM temp.vocab WHERE term IN ({marks})", list(stems)).fetchall()
        return dict(rows)

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            "SELECT c.id, c.doc_id, d.source, d.title, c.start, c.end, c.first_sentence, c.last_sentence, "
            f"substr(d.text, c.start + 1, c.end - c.start) FROM chunks c JOIN documents d ON d.id = c.doc_id "
            f"WHERE c.id IN ({marks})",
            list(ids),
        ).fetchall()
        return {row[0]: ChunkRow(*row) for row in rows}

    def sentences(self, doc_id: int, first: int, last: int) -> list[SentenceRow]:
        rows = self.db.execute(
            "SELECT s.idx, s.start, s.end, substr(d.text, s.start + 1, s.end - s.start), s.vector "
            "FROM sentences s JOIN documents d ON d.id = s.doc_id "
            "WHERE s.doc_id = ? AND s.idx BETWEEN ? AND ? ORDER BY s.idx",
            (doc_id, first, last),
        ).fetchall()
        return [
            SentenceRow(doc_id, idx, start, end, text, np.frombuffer(blob, dtype=np.float16).astype(np.float32))
            for idx, start, end, text, blob in rows
        ]

    def chunk_vectors(self, ids: Sequence[int]) -> np.ndarray:
        return np.stack([self.faiss.reconstruct(int(i)) for i in ids]) if ids else np.zeros((0, self.faiss.d))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__


class IndexStore:
    """The index folder: finds, validates and opens versions; makes new ones."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def exists(self) -> bool:
        return (self.root / CURRENT).is_file()

    def _check_folder(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise IndexError_(f"{self.root} is a file, not an index folder: give the folder `qa index` builds")

    def current_version(self) -> str | None:
        self._check_folder()
        try:
            name = (self.root / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexCorrupt(f"{self.root / CURRENT} cannot be read ({exc}); {REBUILD_HINT}") from None
        if not _VERSION_DIR.match(name):
            raise IndexCorrupt(f"{self.root / CURRENT} names no index version ({name[:40]!r}); {REBUILD_HINT}")
        return name

    def missing(self) -> IndexMissing:
        """The error for an index folder without a published version."""
        if self._being_built():
            return IndexMissing(
                f"the first index in {self.root}/ is being built right now: ask again when `qa index` has finished"
            )
        return IndexMissing(f"no index in {self.root}/: run `qa index` to build one")

    def _being_built(self) -> bool:
        """Whether a writer holds the lock (probed without waiting)."""
        if not (self.root / LOCK).exists():
            return False
        from filelock import FileLock, Timeout

        probe = FileLock(str(self.root / LOCK))
        try:
            probe.acquire(timeout=0)
        except Timeout:
            return True
        probe.release()
        return False

    def read_manifest(self, version: str | None = None) -> dict:
        version = version or self.current_version()
        if version is None:
            raise self.missing()
        path = self.root / version / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IndexCorrupt(f"{path} is missing; {REBUILD_HINT}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise IndexCorrupt(f"{path} is not valid JSON ({exc}); {REBUILD_HINT}") from None
        _check_manifest(manifest, path)
        return manifest

    def open(self, expect_model: str | None = None, expect_dim: int | None = None) -> Snapshot:
        version = self.current_version()
        if version is None:
            raise self.missing()
        manifest = self.read_manifest(version)
        if expect_model is not None and manifest["model"] != expect_model:
            raise IndexIncompatible(
                f"the index in {self.root}/ was built with model {manifest['model']!r}, not {expect_model!r}; "
                f"{REBUILD_HINT} (or load it with its own model)"
            )
        if expect_dim is not None and manifest["dimension"] != expect_dim:
            raise IndexIncompatible(
                f"the index in {self.root}/ holds {manifest['dimension']}-d vectors but the model makes "
                f"{expect_dim}-d ones; {REBUILD_HINT}"
            )
        path = self.root / version
        for name, info in manifest["files"].items():
            file = path / name
            if not file.is_file():
                raise IndexCorrupt(f"{file} is missing; {REBUILD_HINT}")
            if file.stat().st_size != info["bytes"]:
                raise IndexCorrupt(
                    f"{file} has {file.stat().st_size} bytes, the manifest says {info['bytes']} "
                    f"(truncated or changed); {REBUILD_HINT}"
                )
        return Snapshot(path, manifest)

    def verify_hashes(self) -> list[str]:
        """Problems found by hashing every file of the current version (empty: all good)."""
        version = self.current_version()
        manifest = self.read_manifest(version)
        problems = []
        for name, info in manifest["files"].items():
            file = self.root / version / name
            if not file.is_file():
                problems.append(f"{name}: missing")
            elif _sha256(file) != info["sha256"]:
                problems.append(f"{name}: content differs from the manifest's hash")
        return problems

    # -- writing -----------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, timeout: float = 0) -> Iterator[None]:
        from filelock import FileLock, Timeout

        self._check_folder()
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / LOCK))
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise IndexLocked(
                f"another `qa index` is updating {self.root}/ right now; wait for it to finish "
                f"(or pass --wait to queue behind it)"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def begin(self, fresh: bool = False) -> VersionWriter:
        """Start the next version in a hidden folder; call within `lock()`.

        The new version starts as a copy of the current metadata (an incremental
        update) or, with `fresh`, empty (a full build).
        """
        self._remove_leftovers()
        tmp = self.root / f".tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir(parents=True)
        base = None if fresh else self.current_version()
        if base is not None:
            shutil.copyfile(self.root / base / META, tmp / META)
        return VersionWriter(self, tmp, fresh=base is None)

    def _next_version_name(self) -> str:
        numbers = [int(m.group(1)) for p in self.root.iterdir() if (m := _VERSION_DIR.match(p.name))]
        return f"v{max(numbers, default=0) + 1:06d}"

    def _publish(self, tmp: Path) -> str:
        name = self._next_version_name()
        final = self.root / name
        os.rename(tmp, final)
        _fsync_dir(self.root)
        pointer = self.root / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
        with open(pointer, "w", encoding="utf-8") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(pointer, self.root / CURRENT)
        _fsync_dir(self.root)
        self._prune(keep={name})
        return name

    def _prune(self, keep: set[str]) -> None:
        """Drop versions older than the previous one; open readers keep their files (POSIX)."""
        versions = sorted(p.name for p in self.root.iterdir() if _VERSION_DIR.match(p.name))
        keep = set(keep) | set(versions[-2:])
        for name in versions:
            if name not in keep:
                shutil.rmtree(self.root / name, ignore_errors=True)

    def _remove_leftovers(self) -> None:
        """Temporary folders and pointer files of a writer that crashed."""
        for path in self.root.glob(".tmp-*"):
            shutil.rmtree(path, ignore_errors=True)
        for path in self.root.glob(f".{CURRENT}.*"):
            path.unlink(missing_ok=True)
        current = self.current_version() if self.exists() else None
        # A version folder newer than CURRENT was renamed in but never published.
        for path in self.root.iterdir():
            m = _VERSION_DIR.match(path.name)
            if m and current and path.name > current:
                shutil.rmtree(path, ignore_errors=True)


class VersionWriter:
    """Builds one new version: the SQLite copy is edited in place, FAISS written at the end."""

    def __init__(self, store: IndexStore, path: Path, fresh: bool):
        self.store = store
        self.path = path
        self.db = sqlite3.connect(path / META)
        self.db.execute("PRAGMA journal_mode = OFF")  # the whole folder is the transaction
        self.db.execute("PRAGMA synchronous = OFF")
        if fresh:
            self.db.executescript(SCHEMA)
        self.removed_chunk_ids: set[int] = set()
        self.new_ids: list[np.ndarray] = []
        self.new_vectors: list[np.ndarray] = []

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)

    def commit(self, faiss_index, manifest: dict) -> str:
        import faiss

        self.db.commit()
        self.db.close()
        faiss.write_index(faiss_index, str(self.path / VECTORS))
        files = {}
        for name in (VECTORS, META):
            file = self.path / name
            _fsync_file(file)
            files[name] = {"bytes": file.stat().st_size, "sha256": _sha256(file)}
        manifest = dict(manifest, files=files)
        with open(self.path / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(self.path)
        return self.store._publish(self.path)


def new_manifest(**fields) -> dict:
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **fields,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


_REQUIRED = {
    "format": str,
    "format_version": int,
    "model": str,
    "dimension": int,
    "normalized": bool,
    "settings": dict,
    "counts": dict,
    "index": dict,
    "files": dict,
}


def _check_manifest(manifest: object, path: Path) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise IndexCorrupt(f"{path} is not a qa index manifest; {REBUILD_HINT}")
    version = manifest.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise IndexIncompatible(
            f"{path} is format version {version}, newer than this qa understands ({FORMAT_VERSION}); "
            f"upgrade qa or {REBUILD_HINT}"
        )
    for key, kind in _REQUIRED.items():
        if not isinstance(manifest.get(key), kind):
            raise IndexCorrupt(f"{path}: field {key!r} is missing or has the wrong type; {REBUILD_HINT}")
    if version != FORMAT_VERSION:
        raise IndexIncompatible(f"{path} is format version {version}; {REBUILD_HINT}")
    for key in ("documents", "chunks", "sentences"):
        if not isinstance(manifest["counts"].get(key), int):
            raise IndexCorrupt(f"{path}: counts.{key} is missing; {REBUILD_HINT}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
