"""One published version of a Lance index, open for reading."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from ...words import stems, words
from ..base import REBUILD_HINT, ChunkRow, DocumentInfo, IndexCorrupt, SentenceRow, Snapshot
from .database import LanceDatabase
from .tables import CACHED_DOCUMENTS, DOC_FREQ_CAP, NPROBES, REFINE_FACTOR, TABLES, id_list, sql_string


class LanceSnapshot(Snapshot):
    """One published version: each table checked out at the version the manifest names."""

    def __init__(self, database: LanceDatabase, manifest: dict):
        self.database = database
        self.manifest = manifest
        self.version = manifest["version"]
        self.number = manifest["number"]
        self._tables = {}
        try:
            for name in TABLES:
                table = database.table(name)
                table.checkout(manifest["tables"][name])
                self._tables[name] = table
        except Exception as exc:
            raise IndexCorrupt(
                f"{database.location}: version {self.version} cannot be read ({exc}); {REBUILD_HINT}"
            ) from None
        # A version never changes: documents and their sentences, once read, are kept (a few
        # hundred, least recently used out first), and read together, one query per table.
        self._cache: OrderedDict[int, tuple[tuple[str, str, str], list[SentenceRow]]] = OrderedDict()
        self._lock = threading.Lock()

    def _query(self, name: str, where: str, columns: list[str], limit: int | None = None):
        return self._tables[name].search().where(where).select(columns).limit(limit).to_arrow()

    def _read(self, doc_ids: Collection[int]) -> None:
        """Bring these documents and all their sentences into the cache."""
        with self._lock:
            missing = sorted({int(d) for d in doc_ids} - self._cache.keys())
        if not missing:
            return
        docs = self._query("documents", f"id IN ({id_list(missing)})", ["id", "source", "title", "text"]).to_pylist()
        table = self._query("sentences", f"doc_id IN ({id_list(missing)})", ["doc_id", "idx", "start", "end", "vector"])
        vectors = _vectors(table)
        rows: dict[int, list] = {}
        for r, v in zip(table.select(["doc_id", "idx", "start", "end"]).to_pylist(), vectors, strict=True):
            rows.setdefault(r["doc_id"], []).append((r, v))
        with self._lock:
            for d in docs:
                text = d["text"]
                found = sorted(rows.get(d["id"], []), key=lambda rv: rv[0]["idx"])
                sentences = [SentenceRow(d["id"], r["idx"], r["start"], r["end"], text[r["start"] : r["end"]], v)
                             for r, v in found]  # fmt: skip
                self._cache[d["id"]] = ((d["source"], d["title"], text), sentences)
            while len(self._cache) > CACHED_DOCUMENTS:
                self._cache.popitem(last=False)

    def _entry(self, doc_id: int) -> tuple[tuple[str, str, str], list[SentenceRow]]:
        self._read([doc_id])
        with self._lock:
            if doc_id not in self._cache:
                raise KeyError(doc_id)
            self._cache.move_to_end(doc_id)
            return self._cache[doc_id]

    def _docs(self, doc_id: int) -> tuple[str, str, str]:
        return self._entry(doc_id)[0]

    def gone(self) -> bool:
        current = self.database.current_version()
        return current is not None and int(current[1:]) > self.number + 1

    def describe(self) -> dict:
        m = self.manifest
        size = None
        if self.database.local:
            size = sum(f.stat().st_size for f in Path(self.database.location).rglob("*") if f.is_file())
        return self._describe(
            self.database.location,
            "lance",
            size,
            vector_index=m["index"]["kind"],
            table_versions=", ".join(f"{k} {v}" for k, v in m["tables"].items()),
        )

    def check(self) -> list[str]:
        problems = []
        docs = self._tables["documents"].to_arrow().select(["id", "source", "text"]).to_pylist()
        lengths = {d["id"]: len(d["text"]) for d in docs}
        sources = [d["source"] for d in docs]
        if len(set(sources)) != len(sources):
            problems.append(f"{len(sources) - len(set(sources))} sources indexed twice in {self.version}")
        chunks = self._tables["chunks"].to_arrow().select(["id", "doc_id", "start", "end"]).to_pylist()
        sentences = self._tables["sentences"].to_arrow().select(["doc_id", "start", "end"]).to_pylist()
        if len({c["id"] for c in chunks}) != len(chunks):
            problems.append("chunk ids repeat")
        orphans = sum(1 for r in chunks + sentences if r["doc_id"] not in lengths)
        if orphans:
            problems.append(f"{orphans} chunks or sentences of no document")
        bad = sum(
            1
            for r in chunks + sentences
            if r["doc_id"] in lengths and not 0 <= r["start"] < r["end"] <= lengths[r["doc_id"]]
        )
        if bad:
            problems.append(f"{bad} spans outside their document's text")
        for name, n in (("documents", len(docs)), ("chunks", len(chunks)), ("sentences", len(sentences))):
            if n != self.manifest["counts"][name]:
                problems.append(f"{name}: {n} rows, the manifest says {self.manifest['counts'][name]}")
        return problems

    # -- documents ---------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        import pyarrow.compute as pc

        per_doc = pc.value_counts(self._tables["chunks"].to_arrow().column("doc_id")).to_pylist()
        counts = {c["values"]: c["counts"] for c in per_doc}
        table = self._tables["documents"].to_arrow()
        rows = table.select(["id", "source", "title", "sha256", "added"]).to_pylist()
        chars = pc.utf8_length(table.column("text")).to_pylist()
        out = [
            DocumentInfo(r["id"], r["source"], r["title"], r["sha256"], n, counts.get(r["id"], 0), r["added"])
            for r, n in zip(rows, chars, strict=True)
        ]
        return sorted(out, key=lambda d: d.source)

    def document_text(self, doc_id: int) -> str:
        return self._docs(doc_id)[2]

    def document_by_source(self, source: str) -> tuple[int, str, str] | None:
        rows = self._query("documents", f"source = {sql_string(source)}", ["id", "title", "text"], 1).to_pylist()
        return (rows[0]["id"], rows[0]["title"], rows[0]["text"]) if rows else None

    def indexed(self, paths: Collection[str] | None = None) -> dict[str, tuple[int, str, str | None]]:
        columns = ["id", "source", "sha256", "stat"]
        if paths is None:
            rows = self._tables["documents"].to_arrow().select(columns).to_pylist()
        else:
            rows = []
            for path in paths:  # "0" sorts right after "/": the range is everything under path/
                where = f"source = {sql_string(path)} OR (source > {sql_string(path + '/')} AND source < {sql_string(path + '0')})"
                rows += self._query("documents", where, columns).to_pylist()
        return {r["source"]: (r["id"], r["sha256"], r["stat"]) for r in rows}

    def sources_with_hash(self, sha256: str) -> list[str]:
        return self._query("documents", f"sha256 = {sql_string(sha256)}", ["source"]).column("source").to_pylist()

    # -- search ------------------------------------------------------------

    def search_dense(self, query: np.ndarray, k: int, nprobe: int | None = None) -> list[tuple[int, float]]:
        if k <= 0 or not self.manifest["counts"]["chunks"]:
            return []
        q = self._tables["chunks"].search(np.asarray(query, np.float32).ravel(), vector_column_name="vector")
        q = q.distance_type("dot").select(["id", "_distance"]).limit(k)
        if self.manifest["index"]["kind"] != "exact":
            # PQ codes alone find the right neighbours poorly (recall@10 0.22 at 1M rows): re-rank
            # the best REFINE_FACTOR × k by their full vectors (0.99, ~18 ms; docs/scaling.md).
            q = q.nprobes(NPROBES).refine_factor(REFINE_FACTOR)
        result = q.to_arrow()
        # Lance's dot "distance" is 1 - inner product.
        return list(
            zip(result.column("id").to_pylist(), (1 - result.column("_distance").to_numpy()).tolist(), strict=True)
        )

    def _fts(self, text: str, limit: int):
        q = self._tables["chunks"].search(text, query_type="fts", fts_columns="terms")
        return q.select(["id", "_score"]).limit(limit).to_arrow()

    def search_lexical(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        wanted = " ".join(dict.fromkeys(stems([w for t in terms for w in words(t)])))
        if not wanted or k <= 0 or not self.manifest["counts"]["chunks"]:
            return []
        result = self._fts(wanted, k)
        return list(zip(result.column("id").to_pylist(), result.column("_score").to_pylist(), strict=True))

    def doc_freq(self, stems: Sequence[str]) -> dict[str, int]:
        """Counted from the full-text index, up to `DOC_FREQ_CAP` chunks a term (a term found in
        more is common: its weight is near zero either way)."""
        if not self.manifest["counts"]["chunks"]:
            return {}
        counts = {}
        for stem in dict.fromkeys(stems):
            if stem and " " not in stem:
                n = self._fts(stem, DOC_FREQ_CAP).num_rows
                if n:
                    counts[stem] = n
        return counts

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        if not ids:
            return {}
        columns = ["id", "doc_id", "start", "end", "first_sentence", "last_sentence"]
        found = self._query("chunks", f"id IN ({id_list(ids)})", columns).to_pylist()
        self._read({r["doc_id"] for r in found})  # their sentences are asked for next
        out = {}
        for r in found:
            source, title, text = self._docs(r["doc_id"])
            out[r["id"]] = ChunkRow(
                r["id"], r["doc_id"], source, title, r["start"], r["end"], r["first_sentence"], r["last_sentence"],
                text[r["start"] : r["end"]],
            )  # fmt: skip
        return out

    def sentences(self, doc_id: int, first: int, last: int) -> list[SentenceRow]:
        try:
            rows = self._entry(doc_id)[1]
        except KeyError:
            return []
        return rows[max(first, 0) : last + 1]  # a document's sentences are numbered 0, 1, 2…

    def chunk_vectors(self, ids: Sequence[int]) -> np.ndarray:
        table = self._query("chunks", f"id IN ({id_list(ids)})", ["id", "vector"])
        by_id = dict(zip(table.column("id").to_pylist(), _vectors(table), strict=True))
        return (
            np.stack([by_id[int(i)] for i in ids])
            if len(ids)
            else np.zeros((0, self.manifest["dimension"]), np.float32)
        )


def _vectors(table) -> np.ndarray:
    """The `vector` column of a query's result as a float32 matrix, one row per result."""
    flat = np.asarray(table.column("vector").combine_chunks().flatten(), dtype=np.float32)
    return flat.reshape(table.num_rows, -1) if table.num_rows else flat.reshape(0, 0)
