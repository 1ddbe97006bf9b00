"""Keep the index in step with the corpus folder while qa runs (watchfiles)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from .config import SUPPORTED_SUFFIXES
from .corpus import SIDECAR_SUFFIX
from .indexing import BuildReport

log = logging.getLogger("qa.watch")


def _relevant(change_path: str) -> bool:
    name = Path(change_path).name
    if name.startswith("."):
        return False  # our own temporary upload files, editor swap files
    return name.endswith(SIDECAR_SUFFIX) or Path(name).suffix.lower() in SUPPORTED_SUFFIXES


def watch_corpus(
    corpus_dir: Path,
    update: Callable[[], BuildReport],
    stop: threading.Event,
    on_report: Callable[[BuildReport], None] | None = None,
) -> None:
    """Run `update()` each time articles are added, changed or removed, until `stop` is set.

    watchfiles batches a burst of file events (a folder copied in) into one change set,
    so a hundred new files make one incremental build, not a hundred.
    """
    from watchfiles import watch

    corpus_dir = Path(corpus_dir)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    live = False
    for changes in watch(corpus_dir, stop_event=stop, debounce=800, step=200, rust_timeout=500, yield_on_timeout=True):
        if not changes:
            if live:
                continue
            # The first quiet tick means the OS watcher is running: one catch-up
            # update covers whatever changed while it was starting.
            live = True
        elif not any(_relevant(path) for _, path in changes):
            continue
        try:
            report = update()
        except Exception as exc:  # a watcher must outlive one bad update
            log.error("index update failed: %s", exc)
            continue
        # What changed is the caller's to say (the CLI prints its report, the chat its log).
        if on_report is not None:
            on_report(report)


def start_watcher(
    corpus_dir: Path, update: Callable[[], BuildReport], on_report=None
) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(
        target=watch_corpus, args=(corpus_dir, update, stop, on_report), name="qa-watch", daemon=True
    )
    thread.start()
    return thread, stop
