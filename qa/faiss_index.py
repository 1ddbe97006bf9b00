"""Which FAISS index to build for how many vectors, and how to update it in place.

Exact search (a flat inner-product index in IndexIDMap2) up to
`Settings.exact_max_vectors`. Above that, an inverted file with 8-bit scalar
quantisation (`IVF{nlist},SQ8`): a quarter of the memory of the raw vectors,
milliseconds per search at the recall measured in docs/benchmarks.md, and, unlike
HNSW, it can delete vectors, so an update touches only the changed articles.
Either way a vector's id is its chunk's id in the metadata, stable across updates.
"""

from __future__ import annotations

import math

import numpy as np

from .config import Settings

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


def search_parameters(description: dict, nprobe: int | None):
    """Per-search parameters: the configured `ivf_nprobe` applies to any IVF index, whenever it was built."""
    if description.get("type") != "ivf" or not nprobe:
        return None
    import faiss

    return faiss.SearchParametersIVF(nprobe=min(int(nprobe), description["nlist"]))


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


def updated_index(snapshot, removed: set[int], new_ids: np.ndarray, new_vectors: np.ndarray, settings: Settings):
    """The next version's index: the current one minus `removed` plus the new vectors.

    Edited in place (on a copy: readers still search the current one) when the
    layout stays the same; rebuilt from the kept vectors when the corpus crosses a
    size threshold (flat → IVF, or a different number of lists).
    """
    import faiss

    dim = new_vectors.shape[1]  # the caller shapes even an empty array (0, dim)
    old = snapshot.manifest["index"] if snapshot is not None else None
    total = (snapshot.faiss.ntotal if snapshot is not None else 0) - len(removed) + len(new_ids)
    wanted = index_description(total, settings)
    if snapshot is not None and _layout(old) == _layout(wanted):
        index = faiss.clone_index(snapshot.faiss)
        if wanted["type"] == "ivf":
            index.set_direct_map_type(faiss.DirectMap.Hashtable)  # clone_index leaves it out
        configure(index, wanted)
        if removed:
            gone = np.fromiter(removed, dtype=np.int64, count=len(removed))
            index.remove_ids(faiss.IDSelectorArray(len(gone), faiss.swig_ptr(gone)))
        if len(new_ids):
            index.add_with_ids(np.ascontiguousarray(new_vectors, np.float32), np.ascontiguousarray(new_ids, np.int64))
        return index
    ids, vectors = kept_vectors(snapshot, removed)
    ids = np.concatenate([ids, new_ids])
    vectors = np.concatenate([vectors.reshape(-1, dim), new_vectors.reshape(-1, dim)])
    return make_index(vectors, ids, wanted)


def _layout(description: dict | None) -> tuple | None:
    return None if description is None else (description.get("type"), description.get("factory"))


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


def kept_vectors(snapshot, removed: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Ids and vectors of the current version, minus the removed chunks.

    From an IVF index the vectors come back decoded from 8 bits per dimension,
    close to (not exactly) the originals; that only happens when the corpus
    crosses a size threshold.
    """
    if snapshot is None or snapshot.faiss.ntotal == 0:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    index = snapshot.faiss
    ids = stored_ids(index)
    keep = ~np.isin(ids, np.fromiter(removed, dtype=np.int64, count=len(removed)))
    if hasattr(index, "id_map"):
        return ids[keep], index.index.reconstruct_n(0, index.ntotal)[keep]
    return ids[keep], index.reconstruct_batch(ids[keep])
