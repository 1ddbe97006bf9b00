"""What an index folder holds (format 2, docs/format.md): names, schema, manifests, errors.

    index/
      CURRENT                 the live version's name (v000012), swapped atomically
      .lock                   held by the one process that writes
      versions/v000012.json   one small manifest per version: the live one and the one before
      meta-v000003.sqlite     metadata (WAL mode), updated in place; every document row says
                              which versions hold it, so each version reads its own snapshot
      segments/s000012-1.faiss  immutable FAISS files; a version lists the ones it uses

Nothing is pickled: FAISS files, SQLite and JSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import uuid
from pathlib import Path

from ..base import REBUILD_HINT, IndexCorrupt, IndexIncompatible

FORMAT_NAME = "qa-index"
FORMAT_VERSION = 2
CURRENT = "CURRENT"
LOCK = ".lock"
VERSIONS = "versions"
SEGMENTS = "segments"
VERSION_NAME = re.compile(r"^v(\d{6,})$")

SCHEMA = """
PRAGMA auto_vacuum = INCREMENTAL;
CREATE TABLE documents (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: tombstones name old ids
    source  TEXT NOT NULL,
    title   TEXT NOT NULL,
    sha256  TEXT NOT NULL,
    stat    TEXT,                               -- corpus.file_stat when read: unchanged means same bytes
    meta    TEXT NOT NULL,
    text    TEXT NOT NULL,
    added   TEXT NOT NULL,
    since   INTEGER NOT NULL,                   -- the first version that holds it
    until   INTEGER                             -- the version that removed it; NULL: indexed
);
CREATE UNIQUE INDEX documents_live ON documents (source) WHERE until IS NULL;
CREATE INDEX documents_by_source ON documents (source);
CREATE INDEX documents_by_sha ON documents (sha256);
CREATE INDEX documents_since ON documents (since);
CREATE INDEX documents_until ON documents (until) WHERE until IS NOT NULL;
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
    id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- = the FAISS id; never reused
    doc_id          INTEGER NOT NULL,
    start           INTEGER NOT NULL,
    end             INTEGER NOT NULL,
    first_sentence  INTEGER NOT NULL,
    last_sentence   INTEGER NOT NULL
);
CREATE INDEX chunks_by_doc ON chunks (doc_id);
CREATE TABLE tombstones (
    chunk_id  INTEGER PRIMARY KEY,  -- a deleted chunk whose vector
    segment   TEXT NOT NULL,        -- this segment file still stores,
    version   INTEGER NOT NULL      -- deleted by this version
);
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
    body, content='', tokenize='porter unicode61 remove_diacritics 2'
);
"""

_REQUIRED = {
    "format": str,
    "format_version": int,
    "version": str,
    "model": str,
    "dimension": int,
    "normalized": bool,
    "settings": dict,
    "counts": dict,
    "index": dict,
    "metadata": str,
    "segments": list,
}


def version_number(name: str) -> int:
    return int(name[1:])


def version_name(number: int) -> str:
    return f"v{number:06d}"


def new_manifest(**fields) -> dict:
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **fields,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def check_manifest(manifest: object, path: Path) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise IndexCorrupt(f"{path} is not a qa index manifest; {REBUILD_HINT}")
    version = manifest.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise IndexIncompatible(
            f"{path} is format version {version}, newer than this qa understands ({FORMAT_VERSION}); "
            f"upgrade qa or {REBUILD_HINT}"
        )
    if version != FORMAT_VERSION:
        raise IndexIncompatible(f"{path} is format version {version}; {REBUILD_HINT}")
    for key, kind in _REQUIRED.items():
        if not isinstance(manifest.get(key), kind):
            raise IndexCorrupt(f"{path}: field {key!r} is missing or has the wrong type; {REBUILD_HINT}")
    for key in ("documents", "chunks", "sentences"):
        if not isinstance(manifest["counts"].get(key), int):
            raise IndexCorrupt(f"{path}: counts.{key} is missing; {REBUILD_HINT}")
    for entry in manifest["segments"]:
        if not isinstance(entry, dict) or not {"name", "vectors", "bytes", "sha256", "index"} <= set(entry):
            raise IndexCorrupt(f"{path}: a segment entry is incomplete; {REBUILD_HINT}")


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that a crash leaves either the old file or the whole new one."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_manifest(path: Path, manifest: dict) -> None:
    write_atomically(path, json.dumps(manifest, indent=2) + "\n")


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
