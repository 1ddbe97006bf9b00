"""One version of the index, open for reading: what questions are answered from."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from ..base import REBUILD_HINT, ChunkRow, DocumentInfo, IndexCorrupt, IndexMissing, SentenceRow, Snapshot, first_line
from .format import SEGMENTS, version_number
from .segments import Segment, SegmentSet

# Each reading connection gets temporary views named like the tables: SQLite looks in
# `temp` before `main`, so every query sees the documents of this version only (rows
# written by newer versions, or kept for older readers, are invisible), and no query can
# forget the filter. The writer's connection has no such views.
_VIEWS = """
CREATE TEMP VIEW documents AS
    SELECT * FROM main.documents WHERE since <= {v} AND (until IS NULL OR until > {v});
CREATE TEMP VIEW chunks AS
    SELECT c.* FROM main.chunks c JOIN main.documents d ON d.id = c.doc_id
    WHERE d.since <= {v} AND (d.until IS NULL OR d.until > {v});
CREATE TEMP VIEW sentences AS
    SELECT s.* FROM main.sentences s JOIN main.documents d ON d.id = s.doc_id
    WHERE d.since <= {v} AND (d.until IS NULL OR d.until > {v});
"""


class FaissSnapshot(Snapshot):
    """One published version of the index, open for reading (thread-safe).

    It keeps answering from its version while writers publish newer ones: the segment
    files it loaded never change, and the metadata rows it sees are kept until two
    newer versions have been published (docs/format.md).
    """

    def __init__(self, root: Path, manifest: dict, reuse: dict[str, Segment] | None = None):
        self.root = root
        self.manifest = manifest
        self.version = manifest["version"]
        self.number = version_number(self.version)
        self.path = root / manifest["metadata"]
        self._local = threading.local()
        self._reuse = {e["name"]: (reuse or {}).get(e["name"]) for e in manifest["segments"]}
        for entry in manifest["segments"]:
            if self._reuse[entry["name"]] is None:
                _check_segment_file(root, entry)  # a missing or truncated file is refused now
        self._vectors: SegmentSet | None = None
        self._loading = threading.Lock()
        self.db  # noqa: B018 -- the metadata opens now: a damaged file is refused at once

    @property
    def vectors(self) -> SegmentSet:
        """The version's live vectors, read on first use: an update that only adds articles, or
        finds nothing to do, never reads the big segments (QA.load reads them at once)."""
        if self._vectors is None:
            with self._loading:
                if self._vectors is None:
                    segments = [
                        self._reuse[e["name"]] or _load_segment(self.root, e) for e in self.manifest["segments"]
                    ]
                    vectors = SegmentSet(segments, read_tombstones(self.db, self.number), self.manifest["dimension"])
                    self._check_counts(vectors)
                    self._vectors = vectors
        return self._vectors

    def _check_counts(self, vectors: SegmentSet) -> None:
        m = self.manifest
        for s in vectors.segments:
            if s.index.d != m["dimension"] or s.ntotal != s.info["vectors"]:
                raise IndexCorrupt(
                    f"{self.version}: segment {s.name} holds {s.ntotal} vectors of dimension {s.index.d}, "
                    f"the manifest says {s.info['vectors']} of {m['dimension']}; {REBUILD_HINT}"
                )
        live = vectors.ntotal
        if live != m["counts"]["chunks"]:
            raise IndexCorrupt(
                f"{self.version}: the segments hold {live} live vectors, the manifest counts "
                f"{m['counts']['chunks']} chunks; {REBUILD_HINT}"
            )

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path.exists():
                raise IndexMissing(
                    f"index version {self.version} was removed after newer ones were published: "
                    "QA.reload() opens the newest"
                )
            try:
                conn = sqlite3.connect(f"file:{self.path.as_posix()}?mode=ro", uri=True, check_same_thread=False)
                conn.executescript(_VIEWS.format(v=self.number))
                conn.execute("SELECT 1 FROM documents LIMIT 1")
            except sqlite3.DatabaseError as exc:
                raise IndexCorrupt(f"{self.path} cannot be read ({exc}); {REBUILD_HINT}") from None
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.vocab = False

    def warm(self) -> None:
        self.vectors  # noqa: B018 -- reads the segments

    def gone(self) -> bool:
        return not self.path.exists()

    @property
    def reusable(self) -> dict[str, Segment]:
        """The segments of this version already in memory, by name (a newer snapshot reuses them)."""
        if self._vectors is not None:
            return {s.name: s for s in self._vectors.segments}
        return {name: s for name, s in self._reuse.items() if s is not None}

    # -- counts and listings -----------------------------------------------

    def describe(self) -> dict:
        """What `qa info` shows: size, model and layout of this version."""
        m = self.manifest
        layouts = sorted({s["index"]["factory"] for s in m["segments"]}) or [m["index"]["factory"]]
        tombstones = sum(e.get("deleted", 0) for e in m["segments"])  # from the manifest: no segment read
        return self._describe(
            str(self.root),
            "faiss",
            self.size_bytes(),
            faiss=" + ".join(layouts),
            segments=len(m["segments"]),
            deleted_vectors=tombstones,
        )

    def size_bytes(self) -> int:
        """The metadata file (with its write-ahead log) plus this version's segments."""
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        return sum(f.stat().st_size for f in files if f.exists()) + sum(s["bytes"] for s in self.manifest["segments"])

    def documents(self) -> list[DocumentInfo]:
        rows = self.db.execute(
            "SELECT d.id, d.source, d.title, d.sha256, length(d.text), "
            "(SELECT COUNT(*) FROM main.chunks c WHERE c.doc_id = d.id), d.added "
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

    def indexed(self, paths: Collection[str] | None = None) -> dict[str, tuple[int, str, str | None]]:
        """source -> (id, sha256, the file's stat when read) of the documents this version holds;
        with `paths`, only those sources and the ones under them as folders."""
        query = "SELECT id, source, sha256, stat FROM documents"
        if paths is None:
            rows = self.db.execute(query).fetchall()
        else:
            rows = []
            for path in paths:  # "0" sorts right after "/": the range is everything under path/
                where = " WHERE source = ? OR (source > ? AND source < ?)"
                rows += self.db.execute(query + where, (path, path + "/", path + "0")).fetchall()
        return {src: (doc_id, sha, stat) for doc_id, src, sha, stat in rows}

    def sources_with_hash(self, sha256: str) -> list[str]:
        """The sources whose content has this fingerprint (an identical file is indexed once)."""
        return [r[0] for r in self.db.execute("SELECT source FROM documents WHERE sha256 = ?", (sha256,))]

    def check(self) -> list[str]:
        """Deep consistency check (slow on big indexes); an empty list means all is well."""
        problems = []
        ids = set(self.vectors.live_ids().tolist())
        rows = {r[0] for r in self.db.execute("SELECT id FROM chunks")}
        if ids != rows:
            problems.append(f"{len(ids - rows)} vectors without a chunk, {len(rows - ids)} chunks without a vector")
        for doc_id, source, length in self.db.execute("SELECT id, source, length(text) FROM documents"):
            bad = self.db.execute(
                "SELECT COUNT(*) FROM (SELECT start, end FROM main.chunks WHERE doc_id = ?1 "
                "UNION ALL SELECT start, end FROM main.sentences WHERE doc_id = ?1) "
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
            "SELECT COUNT(*) FROM main.chunks c LEFT JOIN main.documents d ON d.id = c.doc_id WHERE d.id IS NULL"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} chunks of no document")
        twins = self.db.execute("SELECT COUNT(*) - COUNT(DISTINCT source) FROM documents").fetchone()[0]
        if twins:
            problems.append(f"{twins} sources indexed twice in {self.version}")
        integrity = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if integrity != "ok":
            problems.append(f"{self.path.name}: {integrity}")
        return problems

    # -- search ------------------------------------------------------------

    def search_dense(self, query: np.ndarray, k: int, nprobe: int | None = None) -> list[tuple[int, float]]:
        """The `k` nearest chunks; `nprobe` (inverted lists searched) applies to IVF segments only."""
        return self.vectors.search(query, k, nprobe) if k > 0 else []

    def search_lexical(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        if not terms or k <= 0:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        # The full-text table also holds chunks of the version before and of one being written:
        # rank first (joining every match with its document would cost more than BM25 itself),
        # then keep this version's, asking for more in the rare case too few remain.
        limit = k + 16
        while True:
            rows = self.db.execute(
                "SELECT rowid, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?",
                (match, limit),
            ).fetchall()
            marks = ",".join("?" * len(rows))
            mine = {r[0] for r in self.db.execute(f"SELECT id FROM chunks WHERE id IN ({marks})", [r[0] for r in rows])}
            hits = [(int(r), -float(s)) for r, s in rows if r in mine]
            if len(hits) >= k or len(rows) < limit:
                return hits[:k]
            limit *= 4

    def doc_freq(self, stems: Sequence[str]) -> dict[str, int]:
        """How many chunks each (Porter-stemmed) term occurs in (chunks of the versions
        the metadata still keeps: at most two updates' worth more than this one's)."""
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
            f"substr(d.text, c.start + 1, c.end - c.start) FROM main.chunks c JOIN documents d ON d.id = c.doc_id "
            f"WHERE c.id IN ({marks})",
            list(ids),
        ).fetchall()
        return {row[0]: ChunkRow(*row) for row in rows}

    def sentences(self, doc_id: int, first: int, last: int) -> list[SentenceRow]:
        rows = self.db.execute(
            "SELECT s.idx, s.start, s.end, substr(d.text, s.start + 1, s.end - s.start), s.vector "
            "FROM main.sentences s JOIN documents d ON d.id = s.doc_id "
            "WHERE s.doc_id = ? AND s.idx BETWEEN ? AND ? ORDER BY s.idx",
            (doc_id, first, last),
        ).fetchall()
        return [
            SentenceRow(doc_id, idx, start, end, text, np.frombuffer(blob, dtype=np.float16).astype(np.float32))
            for idx, start, end, text, blob in rows
        ]

    def chunk_vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self.vectors.vectors(ids)


def _load_segment(root: Path, entry: dict) -> Segment:
    path = _check_segment_file(root, entry)
    try:
        return Segment(path, entry)
    except RuntimeError as exc:
        raise IndexCorrupt(f"{path} cannot be read ({first_line(exc)}); {REBUILD_HINT}") from None


def _check_segment_file(root: Path, entry: dict) -> Path:
    path = root / SEGMENTS / entry["name"]
    if not path.is_file():
        raise IndexCorrupt(f"{path} is missing; {REBUILD_HINT}")
    if path.stat().st_size != entry["bytes"]:
        raise IndexCorrupt(
            f"{path} has {path.stat().st_size} bytes, the manifest says {entry['bytes']} "
            f"(truncated or changed); {REBUILD_HINT}"
        )
    return path


def read_tombstones(db: sqlite3.Connection, version: int) -> dict[str, np.ndarray]:
    """Segment name -> ids of the vectors it stores that `version` has deleted."""
    rows = db.execute("SELECT segment, chunk_id FROM tombstones WHERE version <= ? ORDER BY segment", (version,))
    found: dict[str, list[int]] = {}
    for segment, chunk_id in rows:
        found.setdefault(segment, []).append(chunk_id)
    return {name: np.asarray(ids, dtype=np.int64) for name, ids in found.items()}
