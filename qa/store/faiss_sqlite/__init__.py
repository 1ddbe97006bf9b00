"""The default store: FAISS segment files and one SQLite file in a local folder (format 2,
docs/format.md). An update adds a segment and edits the metadata in place, so it costs
what changed; a version is published by swapping CURRENT."""

from .format import CURRENT, FORMAT_VERSION
from .snapshot import FaissSnapshot
from .store import FaissStore
from .writer import FaissWriter

__all__ = ["CURRENT", "FORMAT_VERSION", "FaissSnapshot", "FaissStore", "FaissWriter"]
