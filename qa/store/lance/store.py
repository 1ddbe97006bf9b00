"""Finding, opening, publishing and tidying versions of a Lance index."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from ...config import Settings
from ..base import (
    REBUILD_HINT,
    IndexCorrupt,
    IndexError_,
    IndexIncompatible,
    IndexLocked,
    IndexMissing,
    Store,
    check_expected,
    folder_lock,
)
from .database import LanceDatabase
from .snapshot import LanceSnapshot
from .tables import FORMAT, FORMAT_VERSION, MARKER, TABLES, VERSIONS_TABLE_KEEP, id_list
from .writer import LanceWriter


class LanceStore(Store):
    kind = "lance"

    def __init__(self, location: str | Path):
        self.location = str(location)
        self.database = LanceDatabase(self.location)

    def exists(self) -> bool:
        if self.database.local and not (Path(self.location) / MARKER).exists():
            return False
        return bool(self.database.rows())

    def current_version(self) -> str | None:
        return self.database.current_version()

    def missing(self) -> IndexMissing:
        return IndexMissing(f"no index in {self.location}: run `qa index --store lance --index {self.location}`")

    def read_manifest(self, version: str | None = None) -> dict:
        rows = self.database.rows()
        if not rows:
            raise self.missing()
        for row in reversed(rows):
            try:
                manifest = json.loads(row["manifest"])
            except ValueError:
                raise IndexCorrupt(f"{self.location}: a version's manifest is not JSON; {REBUILD_HINT}") from None
            if version is None or manifest.get("version") == version:
                break
        else:
            raise IndexMissing(f"{self.location}: version {version} has been removed; QA.reload() opens the newest")
        if manifest.get("format") != FORMAT:
            raise IndexCorrupt(f"{self.location} is not a qa index; {REBUILD_HINT}")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexIncompatible(
                f"{self.location} is lance store format {manifest.get('format_version')}, this qa reads "
                f"{FORMAT_VERSION}; {REBUILD_HINT}"
            )
        return manifest

    def open(self, expect_model=None, expect_dim=None, reuse=None) -> LanceSnapshot:
        manifest = self.read_manifest()
        check_expected(self.location, manifest, expect_model, expect_dim)
        return LanceSnapshot(self.database, manifest)

    @contextlib.contextmanager
    def lock(self, timeout: float = 0) -> Iterator[None]:
        """A lock file in a local folder; on object storage there is none to take, and the
        publication refuses a version whose base is no longer current instead."""
        if not self.database.local:
            yield
            return
        with folder_lock(Path(self.location) / ".lock", self.location, timeout):
            yield

    def tidy(self) -> None:
        """Roll each table back to the published version: a killed writer's rows go. (Versions
        no kept qa version needs are dropped by the next writer's commit.)"""
        rows = self.database.rows()
        if not rows:
            return
        try:
            live = json.loads(rows[-1]["manifest"])
        except ValueError:
            return  # a damaged index: the next build rebuilds it
        for name in TABLES:
            table = self.database.table(name)
            if table.version != live["tables"][name]:
                table.checkout(live["tables"][name])
                table.restore()

    def begin(self, settings: Settings, base: LanceSnapshot | None, compact: bool = False) -> LanceWriter:
        rows = self.database.rows()
        previous = json.loads(rows[-1]["manifest"]) if rows else None
        if base is not None and (previous is None or base.version != previous["version"]):
            raise IndexError_(f"{self.location}: version {base.version} is no longer the current one")
        number = previous["number"] + 1 if previous else 1
        keep = json.loads(rows[-2]["manifest"])["tables"] if len(rows) > 1 else (previous or {}).get("tables", {})
        # `compact` needs nothing more: every commit ends with Lance's compaction (`optimize`).
        return LanceWriter(self.database, number, base, previous, keep, settings)

    def publish(self, manifest: dict) -> str:
        import pyarrow as pa

        current = self.database.rows()
        latest = json.loads(current[-1]["manifest"])["number"] if current else 0
        if latest >= manifest["number"]:
            raise IndexLocked(f"another writer published version {latest} of {self.location} meanwhile; run again")
        row = pa.table({"number": [manifest["number"]], "manifest": [json.dumps(manifest)]})
        versions = self.database.existing("versions")
        if versions is None:
            self.database.db.create_table("qa_versions", data=row)
            return manifest["version"]
        versions.add(row)
        old = [r["number"] for r in current[:-1]]  # with the new one, the current becomes the previous
        if old:
            versions.delete(f"number IN ({id_list(old)})")
            versions.optimize(cleanup_older_than=VERSIONS_TABLE_KEEP)
        return manifest["version"]
