"""qa: ask questions of a folder of articles; every answer quotes them verbatim, or refuses.

from qa import QA
qa = QA.load("index")
answer = qa.ask("What are the Kuril Islands?")
"""

from __future__ import annotations

from pathlib import Path

from . import config as _config  # noqa: F401  (sets the offline environment first)
from .config import Settings
from .config import __version__ as __version__
from .engine import QA
from .indexing.indexer import BuildReport
from .types import Answer, Citation, Document, InvalidQuestion, Passage

__all__ = [
    "QA",
    "Answer",
    "BuildReport",
    "Citation",
    "Document",
    "InvalidQuestion",
    "Passage",
    "Settings",
    "ask",
    "build_index",
]

_loaded: dict[str, QA] = {}


def ask(question: str, index_dir: str | Path = "index") -> Answer:
    """One-off question: loads the index once per process, then reuses it."""
    key = str(Path(index_dir).resolve())
    qa = _loaded.get(key)
    if qa is None:
        qa = _loaded[key] = QA.load(index_dir)
    else:
        qa.reload()
    return qa.ask(question)


def build_index(
    corpus_dir: str | Path = "corpus",
    index_dir: str | Path = "index",
    rebuild: bool = False,
    settings: Settings | None = None,
    **kwargs,
) -> BuildReport:
    """Index `corpus_dir` into `index_dir` (incremental unless `rebuild`)."""
    from .indexing.indexer import Indexer

    settings = (settings or Settings()).replace(corpus_dir=Path(corpus_dir), index_dir=Path(index_dir))
    return Indexer(settings).build(rebuild=rebuild, **kwargs)
