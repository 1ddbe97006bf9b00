"""From article files to what the index stores: each file loaded, split into sentences and
chunks, and embedded. One small interface, two implementations chosen once from settings:

- `local.py`: in this process (the default);
- `ray.py`: as Ray Data over a cluster's workers (`qa index --ray auto|ADDRESS`; docs/scaling.md).

Both use the functions below, so they make the same chunks and the same vectors; the indexer
writes what they yield, in the order of the files, with the one writer it holds.
"""

from __future__ import annotations

from collections.abc import Callable

from ...config import Settings
from .base import Job, Prepared, Preparer, chunker_for, embed, split

__all__ = ["Job", "Prepared", "Preparer", "chunker_for", "embed", "preparer_for", "split"]


def preparer_for(settings: Settings, embedder: Callable[[], object], say: Callable[[str], None]) -> Preparer:
    """`embedder`: the indexer's own (loaded on first use), for the in-process preparer."""
    if settings.ray:
        from .ray import RayPreparer

        return RayPreparer(settings, say)
    from .local import LocalPreparer

    return LocalPreparer(settings, embedder)
