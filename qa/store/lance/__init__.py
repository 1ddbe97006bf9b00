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
writer restores each table to the published version first (`tidy`). Versions older than
the one before the current are cleaned up, as in the default store. Lance compacts small
fragments and folds new rows into its indexes (`optimize`) after each update.

Needs `pip install "qa[lance]"`. Nothing is pickled: Lance files and JSON.
"""

from __future__ import annotations

from .store import LanceStore
from .tables import MARKER

__all__ = ["MARKER", "LanceStore"]
