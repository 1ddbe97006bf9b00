"""Writing the next version: O(change) updates, crash-safe publication, clean-up after.

An update opens the metadata file in place and makes all its edits in one SQLite
transaction: new documents carry `since = N`, removed ones get `until = N` and their
chunks become tombstones; older versions' readers still see their rows. The new vectors
go into one new segment file. Only after the transaction commits is the manifest of N
written and CURRENT pointed at it; a crash before that leaves rows no published version
can see, which the next writer rolls back (`rollback_unpublished`). A full build writes
a new metadata file instead, so readers of the old one are not disturbed either.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...config import Settings
from ...types import Document
from ..base import Writer
from .faiss_index import index_description
from .format import SCHEMA, SEGMENTS, fsync_dir, fsync_file, new_manifest, version_name
from .segments import merge_plan, merged_index, new_index, write_segment
from .snapshot import FaissSnapshot


class FaissWriter(Writer):
    """Builds version `number` on top of `base` (None: a full build into a new metadata file)."""

    def __init__(self, root: Path, number: int, base: FaissSnapshot | None, settings: Settings, compact: bool = False):
        self.root = root
        self.number = number
        self.base = base
        self.settings = settings
        self.compact = compact
        self.name = version_name(number)
        if base is None:
            self.db_name = f"meta-{self.name}.sqlite"
            self._tmp_db = root / f".tmp-{uuid.uuid4().hex[:12]}.sqlite"
            self.db = sqlite3.connect(self._tmp_db)
            self.db.execute("PRAGMA journal_mode = OFF")  # a new file: the rename is the transaction
            self.db.execute("PRAGMA synchronous = OFF")
            self.db.executescript(SCHEMA)
            self.counts = {"documents": 0, "chunks": 0, "sentences": 0}
        else:
            self.db_name = base.manifest["metadata"]
            self._tmp_db = None
            self.db = open_for_writing(root / self.db_name)
            self.db.execute("BEGIN IMMEDIATE")
            self.counts = dict(base.manifest["counts"])
        self._new_ids: list[np.ndarray] = []
        self._new_vectors: list[np.ndarray] = []
        self._tombstones: list[int] = []
        self._now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    # -- edits -------------------------------------------------------------

    def remove_document(self, doc_id: int) -> None:
        """Take a document out of this version; its rows stay for readers of older ones."""
        chunk_ids = [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,))]
        sentences = self.db.execute("SELECT COUNT(*) FROM sentences WHERE doc_id = ?", (doc_id,)).fetchone()[0]
        self.db.execute("UPDATE documents SET until = ? WHERE id = ?", (self.number, doc_id))
        self._tombstones += chunk_ids
        self.counts["documents"] -= 1
        self.counts["chunks"] -= len(chunk_ids)
        self.counts["sentences"] -= sentences

    def add_document(
        self,
        doc: Document,
        sentences: Sequence[tuple[int, int, np.ndarray]],
        chunks: Sequence[tuple[int, int, int, int]],
        vectors: np.ndarray,
    ) -> None:
        """Insert a document with its sentences (start, end, vector), chunks (start, end, first
        and last sentence) and one vector per chunk."""
        cur = self.db.execute(
            "INSERT INTO documents (source, title, sha256, stat, meta, text, added, since) VALUES (?,?,?,?,?,?,?,?)",
            (
                doc.source,
                doc.title,
                doc.sha256,
                doc.stat,
                json.dumps(doc.meta, ensure_ascii=False),
                doc.text,
                self._now,
                self.number,
            ),
        )
        doc_id = cur.lastrowid
        self.db.executemany(
            "INSERT INTO sentences (doc_id, idx, start, end, vector) VALUES (?,?,?,?,?)",
            [(doc_id, j, s, e, v.astype(np.float16).tobytes()) for j, (s, e, v) in enumerate(sentences)],
        )
        ids = []
        for start, end, first, last in chunks:
            cur = self.db.execute(
                "INSERT INTO chunks (doc_id, start, end, first_sentence, last_sentence) VALUES (?,?,?,?,?)",
                (doc_id, start, end, first, last),
            )
            ids.append(cur.lastrowid)
        self.db.executemany(
            "INSERT INTO chunks_fts (rowid, body) VALUES (?, ?)",
            [(cid, fts_body(doc.title, doc.text[s:e])) for cid, (s, e, _, _) in zip(ids, chunks, strict=True)],
        )
        self._new_ids.append(np.asarray(ids, dtype=np.int64))
        self._new_vectors.append(np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1))
        self.counts["documents"] += 1
        self.counts["chunks"] += len(ids)
        self.counts["sentences"] += len(sentences)

    # -- publication -------------------------------------------------------

    def commit(self, fields: dict) -> dict:
        """Write the segments, commit the metadata and return the manifest to publish
        (the store writes it and moves CURRENT)."""
        dim = fields["dimension"]
        ids = np.concatenate([np.zeros(0, np.int64), *self._new_ids])
        vectors = np.concatenate([np.zeros((0, dim), np.float32), *self._new_vectors])
        folder = self.root / SEGMENTS
        entries = [] if self.base is None else [dict(e) for e in self.base.manifest["segments"]]
        added = self._write_tombstones()
        counts = {e["name"]: e.get("deleted", 0) + len(added.get(e["name"], ())) for e in entries}
        serial = 0

        def name() -> str:
            nonlocal serial
            serial += 1
            return f"s{self.number:06d}-{serial}.faiss"

        chosen = (
            [e["name"] for e in entries] if self.compact else merge_plan(entries, counts, self.settings.max_segments)
        )
        if chosen or (self.compact and len(ids)):
            merging, deleted = self._to_merge(chosen, added)
            index, layout = merged_index(merging, deleted, (ids, vectors), self.settings)
            entries = [e for e in entries if e["name"] not in chosen]
            if index.ntotal:
                entries.append(write_segment(folder, name(), index, layout))
        elif len(ids):
            index, layout = new_index(ids, vectors, self.settings)
            entries.append(write_segment(folder, name(), index, layout))
        for e in entries:
            e["deleted"] = counts.get(e["name"], 0)  # 0 for the segments written just now
        if entries:
            fsync_dir(folder)

        if self._tmp_db is not None:
            self.db.commit()
            self.db.execute("PRAGMA journal_mode = WAL")  # readers and the next writer share it from now on
            self.db.close()
            fsync_file(self._tmp_db)
            self._tmp_db.rename(self.root / self.db_name)
            fsync_dir(self.root)
            self._tmp_db = None
        else:
            self.db.execute("COMMIT")
            self.db.close()
        return new_manifest(
            version=self.name,
            **fields,
            index=index_description(self.counts["chunks"], self.settings),
            metadata=self.db_name,
            segments=entries,
            counts=self.counts,
        )

    def _to_merge(self, chosen: list[str], added: dict[str, np.ndarray]) -> tuple[list, dict[str, np.ndarray]]:
        """The chosen segments, read now, and all their tombstones (the base's and this version's)."""
        if not chosen:
            return [], {}
        live = self.base.vectors
        loaded = {s.name: s for s in live.segments}
        deleted = {n: np.concatenate([live.deleted[n], added.get(n, live.deleted[n][:0])]) for n in chosen}
        return [loaded[n] for n in chosen], deleted

    def _write_tombstones(self) -> dict[str, np.ndarray]:
        """Record which segment holds each removed chunk's vector; returns them by segment. Only
        an update that removes something reads the segments (to find where each vector is)."""
        if not self._tombstones:
            return {}
        gone = np.asarray(self._tombstones, dtype=np.int64)
        found = {}
        for segment in self.base.vectors.segments:
            here = gone[segment.holds(gone)]
            if len(here):
                self.db.executemany(
                    "INSERT INTO tombstones (chunk_id, segment, version) VALUES (?, ?, ?)",
                    [(int(c), segment.name, self.number) for c in here],
                )
                found[segment.name] = here
        return found

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            if self._tmp_db is None:
                self.db.execute("ROLLBACK")
            self.db.close()
        if self._tmp_db is not None:
            self._tmp_db.unlink(missing_ok=True)


def open_for_writing(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)  # transactions are explicit
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")  # a published version survives a power cut too
    db.execute("PRAGMA busy_timeout = 10000")
    db.execute("PRAGMA journal_size_limit = 4194304")  # the log shrinks back after a big update
    return db


def fts_body(title: str, text: str) -> str:
    return f"{title}\n{text}"


def forget_documents(db: sqlite3.Connection, where: str, params: tuple) -> int:
    """Delete documents matching `where` with their sentences, chunks and full-text rows."""
    docs = db.execute(f"SELECT id, title, text FROM documents WHERE {where}", params).fetchall()
    for doc_id, title, text in docs:
        rows = db.execute("SELECT id, start, end FROM chunks WHERE doc_id = ?", (doc_id,)).fetchall()
        # A contentless FTS5 table forgets a row only when given the text it indexed.
        db.executemany(
            "INSERT INTO chunks_fts (chunks_fts, rowid, body) VALUES ('delete', ?, ?)",
            [(cid, fts_body(title, text[s:e])) for cid, s, e in rows],
        )
        db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        db.execute("DELETE FROM sentences WHERE doc_id = ?", (doc_id,))
        db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
    return len(docs)


def rollback_unpublished(db: sqlite3.Connection, current: int) -> bool:
    """Undo what a writer that crashed after committing metadata, but before publishing its
    version, left behind: rows no published version can see. True if there was any."""
    found = db.execute(
        "SELECT EXISTS (SELECT 1 FROM documents WHERE since > ?1 OR until > ?1) "
        "OR EXISTS (SELECT 1 FROM tombstones WHERE version > ?1)",
        (current,),
    ).fetchone()[0]
    if not found:
        return False
    db.execute("BEGIN IMMEDIATE")
    forget_documents(db, "since > ?", (current,))
    db.execute("UPDATE documents SET until = NULL WHERE until > ?", (current,))
    db.execute("DELETE FROM tombstones WHERE version > ?", (current,))
    db.execute("COMMIT")
    return True


def purge(db: sqlite3.Connection, oldest_kept: int, kept_segments: set[str]) -> None:
    """Drop the rows no kept version sees any more, and the tombstones of segment files that
    no kept version uses."""
    names = sorted(kept_segments)
    marks = ",".join("?" * len(names))
    found = db.execute(
        "SELECT EXISTS (SELECT 1 FROM documents WHERE until IS NOT NULL AND until <= ?) "
        f"OR EXISTS (SELECT 1 FROM tombstones WHERE segment NOT IN ({marks}))",
        (oldest_kept, *names),
    ).fetchone()[0]
    if not found:
        return
    db.execute("BEGIN IMMEDIATE")
    forget_documents(db, "until IS NOT NULL AND until <= ?", (oldest_kept,))
    db.execute(f"DELETE FROM tombstones WHERE segment NOT IN ({marks})", names)
    db.execute("COMMIT")
