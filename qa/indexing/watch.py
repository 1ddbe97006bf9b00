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
    live = False
    roots = {str(corpus_dir.absolute()), str(corpus_dir.resolve())}
    for changes in watch(corpus_dir, stop_event=stop, debounce=800, step=200, rust_timeout=500, yield_on_timeout=True):
        changed: set[str] | None = None
        if not changes:
            if live:
                continue
            # The first quiet tick means the OS watcher is running: one catch-up
            # update covers whatever changed while it was starting.
            live = True
        elif not any(_relevant(path) or not Path(path).suffix for _, path in changes):
            continue  # (a path without a suffix may be a folder moved in or out)
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
