"""The LanceDB store: qa's index as Lance tables, in a local folder or on object storage.

    PATH_OR_URI/
      qa_documents.lance   id, source, title, sha256, stat, meta, text, added
      qa_chunks.lance      id, doc_id, start, end, first/last sentence, terms (Porter stems,
                           full-text indexed), vector
      qa_sentences.lance   doc_id, idx, start, end, vector (float16)
      qa_versions.lance    one row per published version: its number and manifest (JSON)

Every Lance write makes a new table version and keeps the old ones, so a qa version is
just the three table versions its manifest names: a reader checks those out and never sees
a later write. Publishing appends the manifest's row to `qa_versions`; that append is the
commit point. A writer killed before it leaves table versions no manifest names: the next
writer restores each table to the published version first (`tidy`). Each commit ends with
Lance's `optimize`: small fragments compacted, new rows folded into the indexes, and the
table versions older than the qa version before the current one dropped (so, as in the
default store, the current and the previous versions stay readable).

Needs `pip install "qa[lance]"`. Nothing is pickled: Lance files and JSON.
"""

from __future__ import annotations

from .store import LanceStore
from .tables import MARKER

__all__ = ["MARKER", "LanceStore"]
