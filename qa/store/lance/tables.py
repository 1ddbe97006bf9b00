"""The Lance tables: names, schemas, and the helpers every part of the store shares."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Collection

from ...words import stems, words
from ..base import (
    IndexError_,
)

FORMAT = "qa-index-lance"
FORMAT_VERSION = 1
TABLES = ("documents", "chunks", "sentences")
MARKER = "qa_versions.lance"
"""What LanceDB makes for the versions table: how a local folder is known to hold this store."""
FLUSH_ROWS = 2048
"""Chunks buffered before a write: bounds memory on a large build."""
ANN_MIN_ROWS = 25_000
"""From this many chunks on, vector search uses an IVF_PQ index (built once, re-ranked by full
vectors: recall@10 0.99); below, an exact scan (~0.1 s at 100,000 rows; docs/scaling.md)."""
NPROBES = 64
"""Above `ANN_MIN_ROWS`, IVF partitions searched per question (the store's own setting: FAISS's
`ivf_nprobe` does not carry over)."""
REFINE_FACTOR = 50
"""Above `ANN_MIN_ROWS`, IVF_PQ candidates re-ranked by their full vectors, per result wanted."""
DOC_FREQ_CAP = 30_000
"""Chunks counted per term for its weight: a term in more is common (weight near zero either way)."""
CACHED_DOCUMENTS = 512
"""Documents (with their sentences) a snapshot keeps in memory once read."""
KEEP = dt.timedelta(days=365 * 100)
"""`optimize` drops no table version older than this ("never") until one is not needed."""
CLEANUP_MARGIN = dt.timedelta(hours=2)
"""Table versions younger than this before the oldest one still needed are kept too: room for
any delay before Lance computes its cut-off, and for a clock moved back an hour."""
VERSIONS_TABLE_KEEP = dt.timedelta(hours=2)
"""Old versions of the small versions table go after this: a reader reads its newest one."""


def lancedb_module():
    os.environ.setdefault("LANCE_LOG", "error")  # Lance's Rust log writes deprecation notes to stderr
    try:
        import lancedb
    except ImportError:
        raise IndexError_('the lance store needs LanceDB: pip install "qa[lance]" (or pip install lancedb)') from None
    return lancedb


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def id_list(ids: Collection[int]) -> str:
    return ",".join(str(int(i)) for i in ids) or "-1"


def fts_terms(title: str, text: str) -> str:
    """The chunk's words as qa's lexical search sees them: Porter stems, as in the default store."""
    return " ".join(stems(words(f"{title}\n{text}")))


def schemas(dim: int) -> dict:
    import pyarrow as pa

    return {
        "documents": pa.schema(
            [
                ("id", pa.int64()),
                ("source", pa.string()),
                ("title", pa.string()),
                ("sha256", pa.string()),
                ("stat", pa.string()),
                ("meta", pa.string()),
                ("text", pa.large_string()),
                ("added", pa.string()),
            ]
        ),
        "chunks": pa.schema(
            [
                ("id", pa.int64()),
                ("doc_id", pa.int64()),
                ("start", pa.int32()),
                ("end", pa.int32()),
                ("first_sentence", pa.int32()),
                ("last_sentence", pa.int32()),
                ("terms", pa.string()),
                ("vector", pa.list_(pa.float32(), dim)),
            ]
        ),
        "sentences": pa.schema(
            [
                ("doc_id", pa.int64()),
                ("idx", pa.int32()),
                ("start", pa.int32()),
                ("end", pa.int32()),
                ("vector", pa.list_(pa.float16(), dim)),
            ]
        ),
    }
