"""Where an index lives, behind one small interface (`base.py`): the store a location holds
is chosen here, once.

- `faiss`: FAISS segment files + SQLite in a local folder (the default; `faiss_sqlite/`).
- `lance`: LanceDB tables in a local folder or on object storage, `s3://…`, `gs://…`,
  `az://…` (`lance/`; `pip install "qa[lance]"`; docs/scaling.md).

An existing index says which it is; `kind` (`--store`) picks for a new one.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import (
    REBUILD_HINT,
    ChunkRow,
    DocumentInfo,
    IndexCorrupt,
    IndexError_,
    IndexIncompatible,
    IndexLocked,
    IndexMissing,
    SentenceRow,
    Snapshot,
    Store,
    Writer,
)

KINDS = ("faiss", "lance")
_URI = re.compile(r"^([a-z][a-z0-9+.-]+):/+")


def location_of(index: str | Path) -> str:
    """The location as given: a folder, or a URI that `Path` collapsed (s3:/b -> s3://b)."""
    text = str(index)
    match = _URI.match(text)
    if not match:
        return text
    # A file URI has no host: file:///abs/path. Rebuilt as file://abs/path, LanceDB would read
    # it as a path relative to the working folder and put the index somewhere else.
    slashes = ":///" if match.group(1) == "file" else "://"
    return f"{match.group(1)}{slashes}{text[match.end() :]}"


def is_uri(location: str) -> bool:
    return bool(_URI.match(location)) and not re.match(r"^[a-zA-Z]:[\\/]", location)


def kind_at(location: str | Path) -> str | None:
    """The kind of index a location holds, or None when it holds none (yet)."""
    location = location_of(location)
    if is_uri(location):
        from .lance import LanceStore

        return "lance" if LanceStore(location).exists() else None
    folder = Path(location)
    from .lance import MARKER

    if (folder / "CURRENT").is_file():  # faiss_sqlite.format.CURRENT, named here so FAISS need not load
        return "faiss"
    if (folder / MARKER).exists():
        return "lance"
    return None


def open_store(location: str | Path, kind: str | None = None) -> Store:
    """The store at `location`: the kind it holds; for a new index, `kind` (default faiss)."""
    location = location_of(location)
    if kind is not None and kind not in KINDS:
        raise IndexError_(f"unknown store {kind!r}: choose one of {', '.join(KINDS)}")
    held = kind_at(location)
    if held is not None and kind is not None and held != kind:
        raise IndexIncompatible(
            f"{location} holds a {held} index, not {kind}: leave out --store to use it, "
            f"or give another --index for a new {kind} index"
        )
    chosen = held or kind or ("lance" if is_uri(location) else "faiss")
    if chosen == "lance":
        from .lance import LanceStore

        return LanceStore(location)
    if is_uri(location):
        raise IndexError_(f"{location}: the faiss store needs a local folder; use --store lance for object storage")
    from .faiss_sqlite import FaissStore

    return FaissStore(location)


__all__ = [
    "KINDS",
    "REBUILD_HINT",
    "ChunkRow",
    "DocumentInfo",
    "IndexCorrupt",
    "IndexError_",
    "IndexIncompatible",
    "IndexLocked",
    "IndexMissing",
    "SentenceRow",
    "Snapshot",
    "Store",
    "Writer",
    "kind_at",
    "location_of",
    "open_store",
]
