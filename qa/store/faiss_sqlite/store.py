"""The on-disk index (format 2, docs/format.md): finds, opens and publishes versions.

A version is a small manifest naming the metadata file and the FAISS segment files it
uses. Writers hold `.lock`; an update edits the metadata in place and adds a segment,
so it costs what changed. CURRENT moves to a new version only once everything it names
is on disk, so a crash at any moment leaves the previous version whole, and readers
keep the version they opened until they choose to reload.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from ...config import Settings
from ..base import (
    REBUILD_HINT,
    IndexCorrupt,
    IndexError_,
    IndexIncompatible,
    IndexMissing,
    Store,
    check_expected,
    folder_lock,
)
from .format import (
    CURRENT,
    LOCK,
    SEGMENTS,
    VERSION_NAME,
    VERSIONS,
    check_manifest,
    sha256_of,
    version_number,
    write_atomically,
    write_manifest,
)
from .segments import Segment
from .snapshot import FaissSnapshot
from .writer import FaissWriter, open_for_writing, purge, rollback_unpublished

_LEFTOVER = re.compile(r"^\.(tmp-|CURRENT\.|v\d+\.json\.)")


class FaissStore(Store):
    """The index folder: finds, validates and opens versions; makes new ones."""

    kind = "faiss"

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.location = str(self.root)

    def exists(self) -> bool:
        return (self.root / CURRENT).is_file()

    def _check_folder(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise IndexError_(f"{self.root} is a file, not an index folder: give the folder `qa index` builds")

    def current_version(self) -> str | None:
        self._check_folder()
        try:
            name = (self.root / CURRENT).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise IndexCorrupt(f"{self.root / CURRENT} cannot be read ({exc}); {REBUILD_HINT}") from None
        if not VERSION_NAME.match(name):
            raise IndexCorrupt(f"{self.root / CURRENT} names no index version ({name[:40]!r}); {REBUILD_HINT}")
        return name

    def missing(self) -> IndexMissing:
        """The error for an index folder without a published version."""
        if self._being_built():
            return IndexMissing(
                f"the first index in {self.root}/ is being built right now: ask again when `qa index` has finished"
            )
        return IndexMissing(f"no index in {self.root}/: run `qa index` to build one")

    def _being_built(self) -> bool:
        """Whether a writer holds the lock (probed without waiting)."""
        if not (self.root / LOCK).exists():
            return False
        from filelock import FileLock, Timeout

        probe = FileLock(str(self.root / LOCK))
        try:
            probe.acquire(timeout=0)
        except Timeout:
            return True
        probe.release()
        return False

    def _is_format_1(self, version: str) -> bool:
        return (self.root / version / "manifest.json").is_file()

    def read_manifest(self, version: str | None = None) -> dict:
        version = version or self.current_version()
        if version is None:
            raise self.missing()
        path = self.root / VERSIONS / f"{version}.json"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if self._is_format_1(version):
                raise IndexIncompatible(
                    f"the index in {self.root}/ is in format 1, which this qa upgrades: run `qa index` once "
                    "(it converts the index in place, without embedding anything again)"
                ) from None
            raise IndexCorrupt(f"{path} is missing; {REBUILD_HINT}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise IndexCorrupt(f"{path} is not valid JSON ({exc}); {REBUILD_HINT}") from None
        check_manifest(manifest, path)
        if manifest["version"] != version:
            raise IndexCorrupt(f"{path} describes version {manifest['version']!r}; {REBUILD_HINT}")
        return manifest

    def open(
        self,
        expect_model: str | None = None,
        expect_dim: int | None = None,
        reuse: dict[str, Segment] | None = None,
    ) -> FaissSnapshot:
        """The current version; `reuse`: segments already loaded (by name) from an older snapshot."""
        for attempt in range(3):
            version = self.current_version()
            if version is None:
                raise self.missing()
            try:
                manifest = self.read_manifest(version)
                check_expected(f"{self.root}/", manifest, expect_model, expect_dim)
                return FaissSnapshot(self.root, manifest, reuse)
            except (IndexCorrupt, IndexMissing):
                # Two versions published while this one was opening pruned its files: open the newest.
                if attempt == 2 or self.current_version() == version:
                    raise
        raise AssertionError("unreachable")

    def verify_hashes(self) -> list[str]:
        """Problems found by hashing every segment file of the current version (empty: all good)."""
        manifest = self.read_manifest()
        problems = []
        for entry in manifest["segments"]:
            file = self.root / SEGMENTS / entry["name"]
            if not file.is_file():
                problems.append(f"{entry['name']}: missing")
            elif sha256_of(file) != entry["sha256"]:
                problems.append(f"{entry['name']}: content differs from the manifest's hash")
        return problems

    # -- writing -----------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, timeout: float = 0) -> Iterator[None]:
        self._check_folder()
        with folder_lock(self.root / LOCK, f"{self.root}/", timeout):
            yield

    def upgrade(self) -> str | None:
        """Convert a format-1 index to format 2 in place (call within `lock()`); the new version's
        name, or None when there was nothing to convert."""
        current = self.current_version() if self.exists() else None
        if current is None or not self._is_format_1(current):
            return None
        from .migrate import migrate_format_1

        self._remove_leftovers()
        manifest = migrate_format_1(self.root, current)
        self.publish(manifest)
        for path in self.root.iterdir():  # format 1's version folders: readers keep open files
            if path.is_dir() and VERSION_NAME.match(path.name):
                shutil.rmtree(path, ignore_errors=True)
        return manifest["version"]

    def begin(self, settings: Settings, base: FaissSnapshot | None, compact: bool = False) -> FaissWriter:
        """Start the next version: an update of `base`, the current version (open, and tidied
        with `tidy()`), or with None a full build into a new metadata file. Call within `lock()`."""
        current = self.current_version() if self.exists() else None
        if base is not None and base.version != current:
            raise IndexError_(f"{self.root}/: version {base.version} is no longer the current one ({current})")
        number = version_number(current) + 1 if current else self._next_number()
        return FaissWriter(self.root, number, base, settings, compact=compact)

    def _next_number(self) -> int:
        names = [p.stem for p in (self.root / VERSIONS).glob("v*.json")] + [p.name for p in self.root.iterdir()]
        numbers = [version_number(n) for n in names if VERSION_NAME.match(n)]
        return max(numbers, default=0) + 1

    def publish(self, manifest: dict) -> str:
        """Write the version's manifest, point CURRENT at it, then drop what no kept version needs."""
        name = manifest["version"]
        (self.root / VERSIONS).mkdir(exist_ok=True)
        write_manifest(self.root / VERSIONS / f"{name}.json", manifest)
        write_atomically(self.root / CURRENT, name + "\n")
        self.tidy()
        return name

    def tidy(self) -> None:
        """Keep the current version and the one before it (its readers go on) and drop the rest;
        undo or finish what a writer that crashed left. Call within `lock()`; cheap when all is tidy."""
        self._remove_leftovers()
        current = self.current_version() if self.exists() else None
        if current is None or self._is_format_1(current):
            return
        manifests = {p.stem: p for p in (self.root / VERSIONS).glob("v*.json") if VERSION_NAME.match(p.stem)}
        older = sorted(n for n in manifests if version_number(n) < version_number(current))
        for name in older[:-1]:
            manifests.pop(name).unlink(missing_ok=True)
        self._drop_unreferenced()
        try:
            live = self.read_manifest(current)
        except IndexError_:
            return  # a damaged index: the next build rebuilds it, and its publication tidies up
        before = None
        if older:
            try:
                before = self.read_manifest(older[-1])
            except IndexError_:  # a damaged old manifest must not block updates: its version is gone
                manifests[older[-1]].unlink(missing_ok=True)
                self._drop_unreferenced()
        shared = before is not None and before["metadata"] == live["metadata"]
        segments = {e["name"] for m in (live, before if shared else None) if m for e in m["segments"]}
        db = open_for_writing(self.root / live["metadata"])
        try:
            rollback_unpublished(db, version_number(current))
            purge(db, version_number(before["version"] if shared else current), segments)
        finally:
            db.close()

    def _drop_unreferenced(self) -> None:
        """Segment and metadata files that no manifest in versions/ names."""
        kept = []
        for path in (self.root / VERSIONS).glob("v*.json"):
            with contextlib.suppress(ValueError, OSError):
                kept.append(json.loads(path.read_text(encoding="utf-8")))
        segments = {e["name"] for m in kept for e in m.get("segments", [])}
        metadata = {m.get("metadata") for m in kept}
        for path in (self.root / SEGMENTS).glob("*") if (self.root / SEGMENTS).is_dir() else []:
            if path.name not in segments:
                path.unlink(missing_ok=True)
        for path in self.root.glob("meta-*.sqlite*"):
            if path.name.split(".sqlite")[0] + ".sqlite" not in metadata:
                path.unlink(missing_ok=True)

    def _remove_leftovers(self) -> None:
        """What a writer that crashed left: temporary files, a manifest it never published,
        segment and metadata files no published version names."""
        for folder in (self.root, self.root / SEGMENTS, self.root / VERSIONS):
            for path in folder.glob(".*") if folder.is_dir() else []:
                if _LEFTOVER.match(path.name):
                    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        current = self.current_version() if self.exists() else None
        if current is None or self._is_format_1(current):
            shutil.rmtree(self.root / VERSIONS, ignore_errors=True)  # a first build or upgrade that never published
            shutil.rmtree(self.root / SEGMENTS, ignore_errors=True)
            for path in self.root.glob("meta-*.sqlite*"):
                path.unlink(missing_ok=True)
            return
        for path in (self.root / VERSIONS).glob("v*.json"):
            if VERSION_NAME.match(path.stem) and version_number(path.stem) > version_number(current):
                path.unlink(missing_ok=True)
