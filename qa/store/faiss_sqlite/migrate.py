"""Format 1 (a full copy of the index per version) to format 2, without embedding anything again."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from pathlib import Path

from .format import SCHEMA, SEGMENTS, fsync_dir, fsync_file, new_manifest, version_name, version_number

_COPY = """
INSERT INTO documents (id, source, title, sha256, meta, text, added, since)
    SELECT id, source, title, sha256, meta, text, added, {since} FROM old.documents;
INSERT INTO sentences SELECT * FROM old.sentences;
INSERT INTO chunks SELECT * FROM old.chunks;
INSERT INTO chunks_fts (rowid, body)
    SELECT c.id, d.title || char(10) || substr(d.text, c.start + 1, c.end - c.start)
    FROM chunks c JOIN documents d ON d.id = c.doc_id;
"""


def migrate_format_1(root: Path, current: str) -> dict:
    """Write format 2's files for the format-1 version `current`; returns the manifest to publish.

    The vectors file becomes the first segment as it is (a hard link where the file system
    allows: no copy); the metadata is copied into the new schema, whose full-text index is
    filled again from the documents (contentless FTS5 rows cannot be copied).
    """
    old = root / current
    manifest = json.loads((old / "manifest.json").read_text(encoding="utf-8"))
    number = version_number(current) + 1
    name = version_name(number)

    tmp = root / f".tmp-{uuid.uuid4().hex[:12]}.sqlite"
    db = sqlite3.connect(tmp)
    db.execute("PRAGMA journal_mode = OFF")
    db.executescript(SCHEMA)
    db.execute("ATTACH DATABASE ? AS old", (str(old / "meta.sqlite"),))
    db.executescript(_COPY.format(since=number))
    db.commit()
    db.execute("DETACH DATABASE old")
    db.execute("PRAGMA journal_mode = WAL")
    db.close()
    fsync_file(tmp)
    metadata = f"meta-{name}.sqlite"
    tmp.rename(root / metadata)

    segment = f"s{number:06d}-1.faiss"
    (root / SEGMENTS).mkdir(exist_ok=True)
    try:
        os.link(old / "vectors.faiss", root / SEGMENTS / segment)
    except OSError:
        shutil.copyfile(old / "vectors.faiss", root / SEGMENTS / segment)
    fsync_dir(root / SEGMENTS)
    fsync_dir(root)
    files = manifest["files"]["vectors.faiss"]
    kept = ("model", "dimension", "normalized", "metric", "max_tokens", "settings", "counts")
    return new_manifest(
        version=name,
        **{k: manifest[k] for k in kept},
        index=manifest["index"],
        metadata=metadata,
        segments=[
            {
                "name": segment,
                "vectors": manifest["counts"]["chunks"],
                "bytes": files["bytes"],
                "sha256": files["sha256"],
                "index": manifest["index"],
                "deleted": 0,
            }
        ],
    )
