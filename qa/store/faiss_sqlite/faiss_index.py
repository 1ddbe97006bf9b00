"""Which FAISS index a segment of vectors gets for its size, and how to search it.

Exact search (a flat inner-product index in IndexIDMap2) up to
`Settings.exact_max_vectors`. Above that, an inverted file with 8-bit scalar
quantisation (`IVF{nlist},SQ8`): a quarter of the memory of the raw vectors,
milliseconds per search at the recall measured in docs/benchmarks.md, and, unlike
HNSW, it reconstructs vectors by id for merges. Either way a vector's id is its
chunk's id in the metadata, never reused (qa/segments.py keeps the segments).
"""

from __future__ import annotations

import math

import numpy as np

from ...config import Settings

TRAINING_POINTS_PER_LIST = 64
"""k-means sample per inverted list; FAISS warns below 39."""


def ivf_lists(n_vectors: int) -> int:
    """About 4·√n inverted lists, a power of two, never more than the data can train."""
    wanted = 2 ** round(math.log2(max(1.0, 4 * math.sqrt(n_vectors))))
    return int(max(1, min(wanted, n_vectors // 39)))


def index_description(n_vectors: int, settings: Settings) -> dict:
    if n_vectors <= settings.exact_max_vectors:
        return {"type": "flat", "factory": "IDMap2,Flat", "metric": "inner_product"}
    nlist = ivf_lists(n_vectors)
    return {
        "type": "ivf",
        "factory": f"IVF{nlist},SQ8",
        "metric": "inner_product",
        "nlist": nlist,
        "nprobe": min(nlist, settings.ivf_nprobe),
    }


def configure(index, description: dict) -> None:
    """Search-time parameters, which FAISS does not keep in the file."""
    import faiss

    if description.get("type") == "ivf":
        faiss.extract_index_ivf(index).nprobe = description["nprobe"]
    elif description.get("type") == "hnsw":  # written by qa 0.1 before IVF replaced HNSW
        faiss.downcast_index(index.index).hnsw.efSearch = description.get("ef_search", 64)


def search_parameters(description: dict, nprobe: int | None, selector=None):
    """Per-search parameters: the configured `ivf_nprobe` applies to any IVF index, whenever it
    was built; `selector` (a FAISS IDSelector) leaves ids out of the search."""
    import faiss

    if description.get("type") == "ivf" and (nprobe or selector is not None):
        params = faiss.SearchParametersIVF(nprobe=min(int(nprobe or description["nprobe"]), description["nlist"]))
    elif selector is not None:
        params = faiss.SearchParameters()
    else:
        return None
    if selector is not None:
        params.sel = selector  # FAISS keeps a bare pointer: the caller keeps the selector alive
    return params


def make_index(vectors: np.ndarray, ids: np.ndarray, description: dict):
    import faiss

    dim = vectors.shape[1]
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if description["type"] == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    else:
        index = faiss.index_factory(dim, description["factory"], faiss.METRIC_INNER_PRODUCT)
        sample = min(len(vectors), TRAINING_POINTS_PER_LIST * description["nlist"])
        pick = np.random.default_rng(0).choice(len(vectors), sample, replace=False)
        index.train(vectors[np.sort(pick)])
        # A hash-table direct map gives reconstruct(id) and remove_ids for arbitrary ids.
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        configure(index, description)
    if len(ids):
        index.add_with_ids(vectors, ids)
    return index


def stored_ids(index) -> np.ndarray:
    """Every id in the index, in storage order."""
    import faiss

    if hasattr(index, "id_map"):
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    ivf = faiss.extract_index_ivf(index)
    lists = ivf.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy() for i in range(ivf.nlist) if lists.list_size(i)
    ]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
