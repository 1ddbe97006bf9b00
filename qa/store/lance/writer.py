"""Writing the next version of a Lance index."""

from __future__ import annotations

import datetime as dt
import json
import logging

import numpy as np

from ...config import Settings
from ...types import Document
from ..base import Writer
from .database import LanceDatabase
from .snapshot import LanceSnapshot
from .tables import (
    ANN_MIN_ROWS,
    CLEANUP_MARGIN,
    FLUSH_ROWS,
    FORMAT,
    FORMAT_VERSION,
    KEEP,
    TABLES,
    fts_terms,
    id_list,
    schemas,
)

log = logging.getLogger("qa.index")


class LanceWriter(Writer):
    """Writes the next version's rows into the tables; nothing is published until `Store.publish`."""

    def __init__(self, database: LanceDatabase, number: int, base: LanceSnapshot | None, previous: dict | None,
                 keep: dict, settings: Settings) -> None:  # fmt: skip
        self.database = database
        self.keep = keep
        """Table versions of the qa version before the current one: the oldest still needed."""
        self.number = number
        self.base = base
        self.settings = settings
        ids = (previous or {}).get("next_ids", {"document": 1, "chunk": 1})
        self.next_doc, self.next_chunk = ids["document"], ids["chunk"]
        self.counts = dict(base.manifest["counts"]) if base else {"documents": 0, "chunks": 0, "sentences": 0}
        self._removed: list[int] = []
        self._rows: dict[str, list[dict]] = {name: [] for name in TABLES}
        self._written: set[str] = set()  # tables already given rows (a full build overwrites first)
        self._now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._dim: int | None = base.manifest["dimension"] if base else None

    def remove_document(self, doc_id: int) -> None:
        chunks = self.base._tables["chunks"].count_rows(f"doc_id = {int(doc_id)}")
        sentences = self.base._tables["sentences"].count_rows(f"doc_id = {int(doc_id)}")
        self._removed.append(int(doc_id))
        self.counts["documents"] -= 1
        self.counts["chunks"] -= chunks
        self.counts["sentences"] -= sentences

    def add_document(self, doc: Document, sentences, chunks, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(chunks), -1)
        self._dim = self._dim or vectors.shape[1]
        doc_id, self.next_doc = self.next_doc, self.next_doc + 1
        self._rows["documents"].append(
            {"id": doc_id, "source": doc.source, "title": doc.title, "sha256": doc.sha256, "stat": doc.stat,
             "meta": json.dumps(doc.meta, ensure_ascii=False), "text": doc.text, "added": self._now}
        )  # fmt: skip
        self._rows["sentences"] += [
            {"doc_id": doc_id, "idx": j, "start": s, "end": e, "vector": v.astype(np.float16)}
            for j, (s, e, v) in enumerate(sentences)
        ]
        for (start, end, first, last), vector in zip(chunks, vectors, strict=True):
            self._rows["chunks"].append(
                {"id": self.next_chunk, "doc_id": doc_id, "start": start, "end": end, "first_sentence": first,
                 "last_sentence": last, "terms": fts_terms(doc.title, doc.text[start:end]), "vector": vector}
            )  # fmt: skip
            self.next_chunk += 1
        self.counts["documents"] += 1
        self.counts["chunks"] += len(chunks)
        self.counts["sentences"] += len(sentences)
        if len(self._rows["chunks"]) >= FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        shapes = schemas(self._dim)
        for name in TABLES:
            rows = self._rows[name]
            if not rows and (name in self._written or self.base is not None):
                continue
            data = pa.Table.from_pylist(rows, schema=shapes[name])
            table = self.database.existing(name)  # opened once: the check opens it anyway
            if table is None:
                table = self.database.db.create_table(f"qa_{name}", schema=shapes[name])
            # A full build replaces each table with its first rows: a new table version, so
            # readers of the published one (which names its own) are not disturbed.
            table.add(data, mode="append" if name in self._written or self.base is not None else "overwrite")
            self._written.add(name)
            self._rows[name] = []

    def commit(self, fields: dict) -> dict:
        if self._dim is None:
            self._dim = fields["dimension"]
        self._flush()
        tables = {name: self.database.table(name) for name in TABLES}
        if self._removed:
            gone = id_list(self._removed)
            tables["documents"].delete(f"id IN ({gone})")
            tables["chunks"].delete(f"doc_id IN ({gone})")
            tables["sentences"].delete(f"doc_id IN ({gone})")
        kind = self.base.manifest["index"]["kind"] if self.base else "exact"
        if self.base is None or not tables["chunks"].list_indices():
            # A full build; or an index that was empty until now (Lance indexes no empty table),
            # which would otherwise never get them: every search and lookup a full scan.
            self._index(tables)
        if kind == "exact" and self.counts["chunks"] >= ANN_MIN_ROWS:
            tables["chunks"].create_index(metric="dot", vector_column_name="vector", index_type="IVF_PQ",
                                          num_sub_vectors=self._dim // 8)  # fmt: skip
            kind = "IVF_PQ"
        for name, table in tables.items():
            table.optimize(cleanup_older_than=KEEP)  # compact small fragments, fold new rows into the indexes
            self._drop_unneeded(name, table)
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "version": f"v{self.number:06d}",
            "number": self.number,
            **fields,
            "index": {"kind": kind},
            "counts": self.counts,
            "tables": {name: tables[name].version for name in TABLES},
            "next_ids": {"document": self.next_doc, "chunk": self.next_chunk},
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }

    def _drop_unneeded(self, name: str, table) -> None:
        """Drop the table versions well older than the one the previous qa version names (the
        oldest a reader may hold). Lance cleans up by age, measured back from when it runs: the
        age is taken between the table's own timestamps just before (so time zones cancel out),
        with `CLEANUP_MARGIN` to spare for any delay and clock change. Never fatal."""
        stamps = {v["version"]: v["timestamp"] for v in table.list_versions()}
        keep = self.keep.get(name)
        if keep not in stamps or min(stamps) >= keep:
            return
        age = max(stamps.values()) - stamps[keep] + CLEANUP_MARGIN
        try:
            table.optimize(cleanup_older_than=age)
        except Exception as exc:  # old versions only cost disk: the next commit tries again
            log.warning("qa: could not drop old versions of %s (%s)", name, exc)

    def _index(self, tables: dict) -> None:
        """The full-text and lookup indexes of a full build (updates keep them current)."""
        if tables["chunks"].count_rows():
            tables["chunks"].create_fts_index(
                "terms", use_tantivy=False, base_tokenizer="whitespace", stem=False, remove_stop_words=False,
                lower_case=False, ascii_folding=False, with_position=False, replace=True,
            )  # fmt: skip
        for name, column in (("chunks", "id"), ("chunks", "doc_id"), ("sentences", "doc_id"), ("documents", "id"),
                             ("documents", "source"), ("documents", "sha256")):  # fmt: skip
            if tables[name].count_rows():
                tables[name].create_scalar_index(column, replace=True)

    def abort(self) -> None:
        """Nothing to undo now: unpublished table versions are rolled back by the next `tidy`."""
