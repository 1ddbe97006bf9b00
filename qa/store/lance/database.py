"""The Lance database under a store's location: its tables and the published versions.

The store, its snapshots and its writer all read and write through this one object, so
none of them needs the others': the store opens snapshots and begins writers; snapshots
and writers only see the database."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path

from ..base import REBUILD_HINT, IndexCorrupt, IndexError_, first_line
from .tables import lancedb_module


class LanceDatabase:
    def __init__(self, location: str | Path):
        self.location = str(location)
        self.local = "://" not in self.location

    @functools.cached_property
    def db(self):
        # Read consistency 0: a table opened here always sees the latest published row.
        return lancedb_module().connect(self.location, read_consistency_interval=dt.timedelta(0))

    def table(self, name: str):
        return self.db.open_table(f"qa_{name}")

    def existing(self, name: str):
        """The table, or None where there is none. What a writer killed inside LanceDB's
        create_table leaves (data files, no version yet) is listed but does not open: it counts
        as no table (creating the table again writes over it), not as a damaged index that every
        later build would fail on."""
        if f"qa_{name}" not in self.db.list_tables().tables:
            return None
        try:
            return self.table(name)
        except ValueError as exc:
            if "not found" in str(exc):  # LanceDB's words for it: "Table 'qa_…' was not found"
                return None
            raise

    def rows(self) -> list[dict]:
        """The published versions' rows, oldest first. Whatever goes wrong reading them (storage
        unreachable, files damaged) is an `IndexError_`: a long-lived QA keeps its open version."""
        try:
            table = self.existing("versions")
            return [] if table is None else table.to_arrow().sort_by("number").to_pylist()
        except IndexError_:
            raise
        except Exception as exc:
            raise IndexCorrupt(f"{self.location} cannot be read right now ({first_line(exc)})") from None

    def current_version(self) -> str | None:
        rows = self.rows()
        try:
            return json.loads(rows[-1]["manifest"])["version"] if rows else None
        except (ValueError, KeyError, TypeError):
            raise IndexCorrupt(f"{self.location}: the current version's manifest is damaged; {REBUILD_HINT}") from None
