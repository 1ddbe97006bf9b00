"""The chunk vectors of an index version: immutable FAISS segment files, minus tombstones.

An update writes only its new vectors, as one small new segment, and records the chunks
it deletes as tombstones in the metadata; nothing already written is copied, so an
update costs what changed (docs/format.md, format 2). Search runs over every segment
and drops tombstoned ids. A merge policy folds small segments together and rewrites a
segment that is mostly tombstones, the way Lucene's tiered merges keep the count low;
`qa index --compact` merges everything into one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...config import Settings
from .faiss_index import configure, index_description, make_index, search_parameters, stored_ids
from .format import fsync_file, sha256_of

OVERFETCH_MAX = 64
"""Up to this many tombstones in a segment, search asks for k + that many and filters;
above, FAISS skips them itself with an id selector (slower per vector, exact either way)."""
SMALL_SEGMENT = 8192
"""Flat segments up to this size are searched together, as one matrix product: many small
segments then cost about what one merged segment costs, not one FAISS call each."""
REWRITE_DELETED = 0.2
"""A segment whose vectors are this share tombstones is rewritten by the next merge."""


class Segment:
    """One FAISS file, loaded; immutable, so snapshots of several versions share it."""

    def __init__(self, path: Path, info: dict):
        import faiss

        self.name = info["name"]
        self.info = info
        self.index = faiss.read_index(str(path))
        configure(self.index, info["index"])
        self.ids = np.sort(stored_ids(self.index))

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def holds(self, ids: np.ndarray) -> np.ndarray:
        """Which of `ids` are stored in this segment."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self.ids):
            return np.zeros(len(ids), bool)
        pos = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        return self.ids[pos] == ids

    def vectors(self, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Ids and vectors stored here, minus `exclude` (from an IVF segment: decoded from 8 bits)."""
        ids = stored_ids(self.index)
        keep = ~np.isin(ids, exclude) if exclude is not None and len(exclude) else np.ones(len(ids), bool)
        if hasattr(self.index, "id_map"):
            return ids[keep], self.index.index.reconstruct_n(0, self.ntotal)[keep]
        return ids[keep], self.index.reconstruct_batch(ids[keep])


class SegmentSet:
    """The segments one version lists, with that version's tombstones applied (thread-safe reads)."""

    def __init__(self, segments: list[Segment], tombstones: dict[str, np.ndarray], dimension: int):
        self.segments = segments
        self.dimension = dimension
        self.deleted = {s.name: tombstones.get(s.name, np.zeros(0, np.int64)) for s in segments}
        small = [s for s in segments if s.info["index"]["type"] == "flat" and s.ntotal <= SMALL_SEGMENT]
        if len(small) < 2:
            small = []
        self._searched_alone = [s for s in segments if s not in small]
        self._selectors = {}
        for s in self._searched_alone:
            gone = self.deleted[s.name]
            if len(gone) > OVERFETCH_MAX:
                self._selectors[s.name] = _excluding(gone)
        # The small segments' live vectors, stacked (a copy of at most a few MB per version).
        parts = [s.vectors(exclude=self.deleted[s.name]) for s in small]
        self._small_ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        self._small = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, dimension), np.float32)

    @property
    def ntotal(self) -> int:
        """Live vectors: stored minus tombstoned."""
        return sum(s.ntotal - len(self.deleted[s.name]) for s in self.segments)

    def live_ids(self) -> np.ndarray:
        parts = [s.ids[~np.isin(s.ids, self.deleted[s.name])] for s in self.segments]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def search(self, query: np.ndarray, k: int, nprobe: int | None = None) -> list[tuple[int, float]]:
        """The `k` nearest live chunks over all segments, best first."""
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        found: list[tuple[int, float]] = []
        for s in self._searched_alone:
            gone = self.deleted[s.name]
            selector = self._selectors.get(s.name)
            want = min(s.ntotal, k if selector is not None else k + len(gone))
            if want <= 0:
                continue
            params = search_parameters(s.info["index"], nprobe, selector)
            scores, ids = s.index.search(query, want, params=params)
            hits = [(int(i), float(v)) for i, v in zip(ids[0], scores[0], strict=True) if i >= 0]
            if selector is None and len(gone):
                dead = set(gone.tolist())
                hits = [h for h in hits if h[0] not in dead]
            found += hits[:k]
        if len(self._small_ids):
            scores = self._small @ query[0]
            top = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
            found += [(int(self._small_ids[i]), float(scores[i])) for i in top]
        found.sort(key=lambda h: -h[1])
        return found[:k]

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of `ids` (each must be live in this version)."""
        out = np.zeros((len(ids), self.dimension), np.float32)
        wanted = np.asarray(ids, dtype=np.int64)
        todo = np.ones(len(wanted), bool)
        for s in self.segments:
            here = todo & s.holds(wanted)
            for row in np.flatnonzero(here):
                out[row] = s.index.reconstruct(int(wanted[row]))
            todo &= ~here
        if todo.any():
            raise KeyError(f"no vector for chunk(s) {wanted[todo][:5].tolist()}")
        return out


def _excluding(ids: np.ndarray):
    import faiss

    return faiss.IDSelectorNot(faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64)))


# --------------------------------------------------------------------------
# Writing


def write_segment(folder: Path, name: str, index, layout: dict) -> dict:
    """Write `index` as the immutable segment file `folder/name` (fsynced, renamed into place);
    returns its manifest entry."""
    import faiss

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tmp-{name}"
    faiss.write_index(index, str(tmp))
    fsync_file(tmp)
    os.replace(tmp, folder / name)
    return {
        "name": name,
        "vectors": int(index.ntotal),
        "bytes": (folder / name).stat().st_size,
        "sha256": sha256_of(folder / name),
        "index": layout,
    }


def new_index(ids: np.ndarray, vectors: np.ndarray, settings: Settings):
    """A segment's FAISS index for these vectors: exact up to `exact_max_vectors`, IVF above."""
    layout = index_description(len(ids), settings)
    return make_index(vectors, ids, layout), layout


def merge_plan(entries: list[dict], deleted: dict[str, int], max_segments: int) -> list[str]:
    """Names of the segments the automatic policy merges now (empty: none).

    A segment that is mostly tombstones is rewritten. When there are more than
    `max_segments`, the smallest are merged until half that many remain, so a merge
    rarely touches the big segments and each vector is rewritten about log(n) times.
    """
    live = {e["name"]: e["vectors"] - deleted.get(e["name"], 0) for e in entries}
    chosen = {
        e["name"] for e in entries if e["vectors"] and deleted.get(e["name"], 0) >= REWRITE_DELETED * e["vectors"]
    }
    if len(entries) > max_segments:
        by_size = sorted(live, key=lambda n: live[n])
        chosen |= set(by_size[: len(entries) - max(1, max_segments // 2) + 1])
    if len(chosen) == 1 and not any(deleted.get(n, 0) for n in chosen):
        return []  # merging one clean segment into itself would only copy it
    return [e["name"] for e in entries if e["name"] in chosen]


def merged_index(segments: list[Segment], tombstones: dict[str, np.ndarray], extra: tuple, settings: Settings):
    """One index of the live vectors of `segments` plus `extra` (ids, vectors)."""
    id_parts, vec_parts = [extra[0]], [extra[1]]
    for s in segments:
        ids, vecs = s.vectors(exclude=tombstones.get(s.name))
        id_parts.append(ids)
        vec_parts.append(vecs.reshape(-1, extra[1].shape[1]))
    ids = np.concatenate(id_parts).astype(np.int64)
    vectors = np.concatenate(vec_parts).astype(np.float32)
    order = np.argsort(ids, kind="stable")  # the same vectors make the same file, whatever the merge order
    return new_index(ids[order], vectors[order], settings)
