"""Incremental index builds: embed only what is new or changed, then swap atomically."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from ..config import INDEX_SHAPING, SUPPORTED_KINDS, Settings
from ..embedding import onnx as query_encoder
from ..embedding.model import Embedder, resolve_model_path
from ..embedding.onnx import OnnxEmbedder
from ..ingestion.files import CorpusFile, Skipped, check_corpus, discover, file_stat, fingerprint
from ..store import IndexError_, Snapshot, Store, Writer, open_store
from .prepare import Job, preparer_for

log = logging.getLogger("qa.index")


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kept_old: list[str] = field(default_factory=list)
    """Changed files that no longer load: their previous version stays indexed."""
    embedded_chunks: int = 0
    documents: int = 0
    chunks: int = 0
    sentences: int = 0
    version: str | None = None
    rebuilt: bool = False
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.rebuilt)

    def summary(self) -> str:
        parts = f"+{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed"
        if self.skipped:
            parts += f", {len(self.skipped)} skipped"
        return parts

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
            "notes": self.notes,
            "kept_old": self.kept_old,
            "embedded_chunks": self.embedded_chunks,
            "documents": self.documents,
            "chunks": self.chunks,
            "sentences": self.sentences,
            "version": self.version,
            "rebuilt": self.rebuilt,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


class Indexer:
    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        self._embedder = embedder
        self._told: set[str] = set()
        """What the last build said: a watcher rebuilding again and again repeats none of it,
        but a file that is mended and breaks again is reported again."""
        self._copies: dict[str, set[str]] = {}
        """sha256 -> the files this indexer skipped as copies of an indexed one: when that one
        leaves or changes, an update of its path alone must index a copy in its place."""
        self._reusable: dict = {}
        """What the last build's snapshot held in memory (the FAISS store's segments): the next
        build reads only what is new from disk."""

    @property
    def embedder(self) -> Embedder | OnnxEmbedder:
        """The ONNX export of the model when this machine has one (no PyTorch import: an
        update's few articles are embedded in well under a second), else PyTorch."""
        if self._embedder is None:
            self._embedder = query_encoder.article_embedder(self.settings)
        return self._embedder

    def build(
        self,
        corpus_dir: Path | None = None,
        index_dir: Path | None = None,
        rebuild: bool = False,
        wait: float = 0,
        progress: bool | None = None,
        on_message: Callable[[str], None] | None = None,
        compact: bool = False,
        only: Collection[str] | None = None,
    ) -> BuildReport:
        """Bring the index in line with the corpus folder; returns what changed.
        `compact`: also merge the vector segments into one (docs/format.md). `only`:
        corpus-relative paths known to have changed (what the folder watcher saw): just
        those are looked at, so an update costs the same in a corpus of any size."""
        settings = self.settings
        if self._embedder is None:
            resolve_model_path(settings.model)  # a wrong model fails now, not after the scan
        corpus_dir = check_corpus(Path(corpus_dir or settings.corpus_dir))  # before the lock makes a folder
        store = open_store(index_dir or settings.index_dir, settings.store)
        say = on_message or log.info
        started = time.perf_counter()
        report = BuildReport()
        with store.lock(timeout=wait):
            say = self._once(say)
            upgraded = store.upgrade()
            if upgraded:
                say(f"upgraded {store.location} to index format 2 ({upgraded}), without embedding anything again")
            store.tidy()  # before anything reads it: undo or finish what a killed `qa index` left
            files, report.skipped, other = discover(corpus_dir, settings, only)
            for item in report.skipped:
                say(f"skipped {item}")
            if other:
                shown = ", ".join(other[:3]) + (f" and {len(other) - 3:,} more" if len(other) > 3 else "")
                say(f"left out {len(other):,} file(s) of other types ({shown}): qa reads {SUPPORTED_KINDS}")
            if not files and only is None:
                say(f"no articles found in {corpus_dir}/ (qa reads {SUPPORTED_KINDS})")
            snapshot, rebuild = self._open_current(store, rebuild, say)
            if snapshot is None and only is not None:  # nothing to update in part: look at everything
                files, report.skipped, _ = discover(corpus_dir, settings)
            scanned = len(report.skipped)
            plan = _Plan.of(files, snapshot, only if snapshot is not None else None, report.skipped)
            copies = self._copies_of(plan, only) if snapshot is not None and only is not None else set()
            if copies:  # an indexed original leaves or changes: its skipped copies are looked at too
                only = set(only) | copies
                files, report.skipped, _ = discover(corpus_dir, settings, only)
                scanned = len(report.skipped)
                plan = _Plan.of(files, snapshot, only, report.skipped)
            for item in report.skipped[scanned:]:
                say(f"skipped {item}")
            for item in report.skipped:  # refused now but indexed before: nothing is lost until it is mended
                if item.source in plan.old:
                    report.kept_old.append(item.source)
                    say(f"kept the previously indexed version of {item.source}")
            report.rebuilt = rebuild or snapshot is None
            report.unchanged = len(plan.hashes) - len(plan.todo)
            report.timings["scan"] = time.perf_counter() - started
            if not plan.todo and not plan.gone and not report.rebuilt and not compact:
                if snapshot is not None:
                    snapshot.close()
                self._finish(report, snapshot.manifest if snapshot else None, started)
                self._export_query_encoder()
                return report

            writer = store.begin(settings, base=snapshot, compact=compact)
            try:
                self._apply(writer, plan, snapshot, report, progress, say)
                if not report.changed_anything and snapshot is not None and not compact:
                    writer.abort()
                    self._finish(report, snapshot.manifest, started)
                    return report
                t0 = time.perf_counter()
                manifest = writer.commit(self._fields(snapshot))
                report.version = store.publish(manifest)
                report.timings["publish"] = time.perf_counter() - t0
            except BaseException:
                writer.abort()
                raise
            finally:
                if snapshot is not None:
                    snapshot.close()
            self._reusable = snapshot.reusable if snapshot is not None else {}
            self._finish(report, manifest, started)
            self._export_query_encoder()
        return report

    def _copies_of(self, plan: _Plan, only: Collection[str]) -> set[str]:
        """The skipped copies of the indexed documents this update replaces or drops, outside `only`."""
        leaving = {plan.old[src][1] for src in plan.leaving if src in plan.old}
        return {c for sha in leaving for c in self._copies.get(sha, ())} - set(only)

    def _open_current(self, store: Store, rebuild: bool, say) -> tuple[Snapshot | None, bool]:
        """The current version to update, or None and whether that means a full rebuild."""
        if not store.exists() or rebuild:
            return None, rebuild
        reason = self._needs_rebuild(store)
        if reason:
            say(f"{reason}: rebuilding the whole index")
            return None, True
        try:
            return store.open(reuse=self._reusable), False
        except IndexError_ as exc:
            say(f"the existing index cannot be used ({exc}): rebuilding the whole index")
            return None, True

    def _once(self, say: Callable[[str], None]) -> Callable[[str], None]:
        """`say`, silent for lines the previous build said too."""
        before, self._told = self._told, set()

        def say_once(line: str) -> None:
            if line not in before:
                say(line)
            self._told.add(line)

        return say_once

    def _export_query_encoder(self) -> None:
        """Leave a fast-starting copy of the model for question time, once per machine and model
        (loading the model for it only when the copy is missing: an up-to-date index needs none)."""
        if not self.settings.fast_query_encoder:
            return
        if query_encoder.exported(self.settings.cache_dir, self.settings.model):
            return
        if not isinstance(self.embedder, Embedder):
            return
        query_encoder.export(self.settings.cache_dir, self.embedder)

    # -- steps -------------------------------------------------------------

    def _needs_rebuild(self, store: Store) -> str | None:
        try:
            manifest = store.read_manifest()
        except Exception as exc:  # unreadable or foreign index: start over
            return f"the existing index cannot be used ({exc})"
        wanted = {k: getattr(self.settings, k) for k in INDEX_SHAPING}
        have = manifest.get("settings", {})
        diff = [k for k, v in wanted.items() if have.get(k) != v]
        if diff:
            return "settings changed (" + ", ".join(f"{k}: {have.get(k)!r} -> {wanted[k]!r}" for k in diff) + ")"
        return None

    def _apply(self, writer: Writer, plan: _Plan, snapshot: Snapshot | None, report, progress, say) -> None:
        t0 = time.perf_counter()
        old = plan.old
        kept = len(report.kept_old)  # the scan's were told already
        for source in plan.gone:
            writer.remove_document(old[source][0])
        report.removed = sorted(plan.gone)
        jobs = []
        for file in plan.todo:
            sha = plan.hashes[file.source]
            twin = plan.twin(file.source, sha, snapshot)
            if twin is not None:
                self._copies.setdefault(sha, set()).add(file.source)
                report.skipped.append(Skipped(file.source, f"same content as {twin}, which is indexed"))
                say(f"skipped {report.skipped[-1]}")
                if file.source in old:  # edited into a copy: its old text is no longer in the file
                    writer.remove_document(old[file.source][0])
                    report.removed.append(file.source)
            else:
                jobs.append(Job(file, sha, plan.stats[file.source]))
        preparer = preparer_for(self.settings, self._embedder_for(say), say)
        for item in preparer.prepare(jobs, progress):
            for note in item.loaded.notes:
                report.notes.append(f"{item.source}: {note}")
                say(f"note: {item.source}: {note}")
            if item.loaded.skipped is not None:
                self._skip(report, item.loaded.skipped, old, say)
                continue
            if item.source in old:  # a changed file that loads: its old version goes now
                writer.remove_document(old[item.source][0])
            (report.changed if item.source in old else report.added).append(item.source)
            self._copies.get(item.document.sha256, set()).discard(item.source)
            writer.add_document(item.document, item.sentences, item.chunks, item.vectors)
        report.embedded_chunks += preparer.embedded_chunks
        for source in report.kept_old[kept:]:
            say(f"kept the previously indexed version of {source}")
        report.timings["prepare+store"] = time.perf_counter() - t0

    @staticmethod
    def _skip(report: BuildReport, skipped: Skipped, old: dict, say) -> None:
        report.skipped.append(skipped)
        say(f"skipped {skipped}")
        if skipped.source in old:  # a changed file that no longer loads keeps its indexed version
            report.kept_old.append(skipped.source)

    def _embedder_for(self, say) -> Callable[[], Embedder | OnnxEmbedder]:
        def embedder() -> Embedder | OnnxEmbedder:
            if self._embedder is None:
                say(f"loading the embedding model ({self.settings.model})")
            return self.embedder

        return embedder

    def _fields(self, snapshot: Snapshot | None) -> dict:
        """What the manifest records about how the index was made."""
        s = self.settings
        return {
            "model": s.model,
            "dimension": snapshot.manifest["dimension"] if snapshot else self.embedder.dim,
            "normalized": True,
            "metric": "inner_product",
            "max_tokens": snapshot.manifest["max_tokens"] if snapshot else self.embedder.max_tokens,
            "settings": {k: getattr(s, k) for k in INDEX_SHAPING},
        }

    def _finish(self, report: BuildReport, manifest: dict | None, started: float) -> None:
        if manifest is not None:
            report.documents = manifest["counts"]["documents"]
            report.chunks = manifest["counts"]["chunks"]
            report.sentences = manifest["counts"]["sentences"]
        report.seconds = time.perf_counter() - started


@dataclass
class _Plan:
    """What an update has to do: the indexed documents in its scope and the corpus files."""

    old: dict[str, tuple[int, str, str | None]]
    """source -> (id, sha256, stat) of the indexed documents the update looks at."""
    todo: list[CorpusFile]
    """New files and files whose content changed."""
    gone: list[str]
    """Indexed sources whose files are gone."""
    hashes: dict[str, str]
    stats: dict[str, str | None]
    leaving: set[str] = field(default_factory=set)
    """Sources whose indexed version this update replaces or drops."""
    _taken: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, files: list[CorpusFile], snapshot: Snapshot | None, only: Collection[str] | None, skipped: list[Skipped]
    ) -> _Plan:
        """`skipped`: files the scan refused, to which this adds the ones that cannot be read
        now; those that were indexed stay (they are not gone, only unreadable for now)."""
        stats = {f.source: file_stat(f) for f in files}  # before reading: a later change shows
        scope = None if only is None else set(only) | {f.source for f in files}  # a sidecar's article too
        old = snapshot.indexed(scope) if snapshot is not None else {}
        hashes = {}
        readable = []
        for f in files:  # an unchanged stat means unchanged bytes: a big corpus is not read again
            known = old.get(f.source)
            same = known is not None and stats[f.source] is not None and stats[f.source] == known[2]
            try:
                hashes[f.source] = known[1] if same else fingerprint(f)
            except FileNotFoundError:
                continue  # deleted since the scan: gone, as the next scan would say
            except OSError as exc:
                skipped.append(Skipped(f.source, f"cannot read ({exc.strerror or exc})"))
                continue
            readable.append(f)
        present = {f.source for f in readable} | {s.source for s in skipped}
        todo = [f for f in readable if f.source not in old or old[f.source][1] != hashes[f.source]]
        gone = [src for src in old if src not in present]
        return cls(old, todo, gone, hashes, stats, {f.source for f in todo} | set(gone))

    def twin(self, source: str, sha: str, snapshot: Snapshot | None) -> str | None:
        """An indexed (or earlier in this update) file with the same content, if any: identical
        files would only repeat each other's quotes, so the first one is indexed."""
        if snapshot is not None:
            for other in snapshot.sources_with_hash(sha):
                if other not in self.leaving:
                    return other
        first = self._taken.setdefault(sha, source)
        return None if first == source else first
