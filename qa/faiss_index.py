"""Which FAISS index to build for how many vectors, and how to carry vectors between versions.

Exact search (a flat inner-product index) up to `Settings.exact_max_vectors`;
above that, HNSW, which answers in about a millisecond at a recall measured in
docs/benchmarks.md. Both are wrapped in IndexIDMap2 so a vector's id is its
chunk's id in the metadata, stable across incremental updates.
"""

from __future__ import annotations

import numpy as np

from .config import Settings


def index_description(n_vectors: int, settings: Settings) -> dict:
    if n_vectors <= settings.exact_max_vectors:
        return {"type": "flat", "factory": "IDMap2,Flat", "metric": "inner_product"}
    return {
        "type": "hnsw",
        "factory": f"IDMap2,HNSW{settings.hnsw_m}",
        "metric": "inner_product",
        "m": settings.hnsw_m,
        "ef_construction": settings.hnsw_ef_construction,
        "ef_search": settings.hnsw_ef_search,
    }


def make_index(vectors: np.ndarray, ids: np.ndarray, settings: Settings):
    import faiss

    dim = vectors.shape[1]
    desc = index_description(len(ids), settings)
    if desc["type"] == "flat":
        inner = faiss.IndexFlatIP(dim)
    else:
        inner = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = settings.hnsw_ef_construction
        inner.hnsw.efSearch = settings.hnsw_ef_search
    index = faiss.IndexIDMap2(inner)
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64))
    return index


def kept_vectors(snapshot, removed: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Ids and vectors of the current version, minus the removed chunks."""
    import faiss

    if snapshot is None or snapshot.faiss.ntotal == 0:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    index = snapshot.faiss
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    vectors = index.index.reconstruct_n(0, index.ntotal)
    if removed:
        keep = ~np.isin(ids, np.fromiter(removed, dtype=np.int64, count=len(removed)))
        ids, vectors = ids[keep], vectors[keep]
    return ids, vectors
