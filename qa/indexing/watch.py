"""Keep the index in step with the corpus folder while qa runs (watchfiles)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from ..config import SUPPORTED_SUFFIXES
from ..ingestion.files import SIDECAR_SUFFIX
from .indexer import BuildReport

log = logging.getLogger("qa.watch")


def _relevant(change_path: str) -> bool:
    name = Path(change_path).name
    if name.startswith("."):
        return False  # our own temporary upload files, editor swap files
    return name.endswith(SIDECAR_SUFFIX) or Path(name).suffix.lower() in SUPPORTED_SUFFIXES


def watch_corpus(
    corpus_dir: Path,
    update: Callable[[set[str] | None], BuildReport],
    stop: threading.Event,
    on_report: Callable[[BuildReport], None] | None = None,
) -> None:
    """Run `update(changed)` each time articles are added, changed or removed, until `stop` is set.

    `changed` holds the corpus-relative paths the events named, so the update looks at
    those files only; None (the catch-up when watching starts) means look at everything.
    watchfiles batches a burst of file events (a folder copied in) into one change set,
    so a hundred new files make one incremental build, not a hundred.
    """
    from watchfiles import watch

    corpus_dir = Path(corpus_dir)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    while not stop.is_set():
        _watch_once(watch, corpus_dir, update, stop, on_report)
        # The corpus folder itself went away (deleted, or replaced by a copy): the OS watch on
        # it is dead. Wait for a folder there again, then watch it afresh, catching up first.
        while not stop.is_set() and not corpus_dir.is_dir():
            stop.wait(1.0)


def _watch_once(watch, corpus_dir: Path, update, stop: threading.Event, on_report) -> None:
    """Watch `corpus_dir` until `stop` is set or the folder is gone."""
    live = False
    roots = {str(corpus_dir.absolute()), str(corpus_dir.resolve())}
    events = watch(corpus_dir, stop_event=stop, debounce=800, step=200, rust_timeout=500, yield_on_timeout=True)
    for changes in _until_gone(events):
        changed: set[str] | None = None
        if not corpus_dir.is_dir():
            log.warning("the corpus folder %s is gone: watching for it to come back", corpus_dir)
            return
        if not changes:
            if live:
                continue
            # The first quiet tick means the OS watcher is running: one catch-up
            # update covers whatever changed while it was starting.
            live = True
        elif not any(_matters(path) for _, path in changes):
            continue
        else:
            changed = _relative(roots, [path for _, path in changes])
        try:
            report = update(changed)
        except Exception as exc:  # a watcher must outlive one bad update
            log.error("index update failed: %s", exc)
            continue
        # What changed is the caller's to say (the CLI prints its report, the chat its log).
        if on_report is not None:
            on_report(report)


def _until_gone(events):
    """watchfiles' change sets, ending (not raising) if the watched folder disappears under it."""
    try:
        yield from events
    except (FileNotFoundError, NotADirectoryError):
        return


def _matters(path: str) -> bool:
    """An event worth an update: an article or sidecar, or a folder moved in or out. A path
    that is gone may have been a folder of articles ("archive.2019": a dot is no file type),
    so it is looked at too; the update of a path that held nothing indexed costs nothing."""
    if Path(path).name.startswith("."):
        return False
    return _relevant(path) or os.path.isdir(path) or not os.path.lexists(path)


def _relative(roots: set[str], paths: list[str]) -> set[str] | None:
    """The paths relative to the corpus folder, or None if one lies outside it (look at everything)."""
    out = set()
    for path in paths:
        root = next((r for r in roots if path.startswith(r + os.sep)), None)
        if root is None:
            return None
        out.add(Path(os.path.relpath(path, root)).as_posix())
    return out


def start_watcher(
    corpus_dir: Path, update: Callable[[set[str] | None], BuildReport], on_report=None
) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(
        target=watch_corpus, args=(corpus_dir, update, stop, on_report), name="qa-watch", daemon=True
    )
    thread.start()
    return thread, stop
