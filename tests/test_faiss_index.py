"""The FAISS layer: layout by size, in-place updates, and the switch from exact to IVF."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from qa.faiss_index import index_description, ivf_lists, stored_ids, updated_index


def unit_vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def as_snapshot(index, settings, n):
    return SimpleNamespace(faiss=index, manifest={"index": index_description(n, settings)})


def test_layout_follows_size(settings):
    assert index_description(settings.exact_max_vectors, settings)["type"] == "flat"
    big = index_description(1_000_000, settings)
    assert big["type"] == "ivf" and big["factory"] == "IVF4096,SQ8" and big["nprobe"] == settings.ivf_nprobe
    assert ivf_lists(100_000) == 1024
    assert ivf_lists(200) == 200 // 39  # never more lists than the data can train


def test_ivf_update_in_place_removes_and_adds(settings):
    settings = settings.replace(exact_max_vectors=100)
    vectors = unit_vectors(3000)
    index = updated_index(None, set(), np.arange(3000), vectors, settings)
    assert index_description(3000, settings)["type"] == "ivf" and not hasattr(index, "id_map")

    removed = set(range(0, 3000, 10))
    fresh = unit_vectors(40, seed=1)
    new_ids = np.arange(5000, 5040)
    updated = updated_index(as_snapshot(index, settings, 3000), removed, new_ids, fresh, settings)
    assert updated is not index and index.ntotal == 3000  # readers of the old version are untouched
    expected = (set(range(3000)) - removed) | set(new_ids.tolist())
    assert set(stored_ids(updated).tolist()) == expected and updated.ntotal == len(expected)
    _, found = updated.search(fresh[:5], 1)
    assert found[:, 0].tolist() == new_ids[:5].tolist()
    _, found = updated.search(vectors[[0, 10, 20]], 5)
    assert not set(found.ravel().tolist()) & removed
    assert np.allclose(updated.reconstruct(5001), fresh[1], atol=0.02)  # id lookups survive the copy

    # The same again from a saved and re-read index, as the indexer does between versions.
    import faiss

    reread = faiss.deserialize_index(faiss.serialize_index(updated))
    again = updated_index(
        as_snapshot(reread, settings, len(expected)), {5000, 1}, np.zeros(0, np.int64), fresh[:0], settings
    )
    assert set(stored_ids(again).tolist()) == expected - {5000, 1}


@pytest.mark.parametrize("start", [50, 80])
def test_crossing_the_threshold_rebuilds_with_the_same_ids(settings, start):
    settings = settings.replace(exact_max_vectors=100)
    vectors = unit_vectors(start + 200)
    flat = updated_index(None, set(), np.arange(start), vectors[:start], settings)
    assert hasattr(flat, "id_map")
    grown = updated_index(
        as_snapshot(flat, settings, start), {0}, np.arange(start, start + 200), vectors[start:], settings
    )
    assert not hasattr(grown, "id_map")
    assert set(stored_ids(grown).tolist()) == set(range(1, start + 200))
    back = grown.reconstruct_batch(np.array([1, start + 5]))
    assert np.allclose(back, vectors[[1, start + 5]], atol=0.02)  # 8-bit codes: close, not exact


def test_nprobe_is_a_search_time_setting(settings):
    """Changing `ivf_nprobe` changes searches of an index built before, without a rebuild."""
    from qa.faiss_index import search_parameters

    settings = settings.replace(exact_max_vectors=100)
    vectors = unit_vectors(4000, dim=16)
    index = updated_index(None, set(), np.arange(4000), vectors, settings)
    description = index_description(4000, settings)
    assert search_parameters({"type": "flat"}, 8) is None
    queries = unit_vectors(50, dim=16, seed=3)
    found = {}
    for nprobe in (1, description["nlist"]):
        _, ids = index.search(queries, 1, params=search_parameters(description, nprobe))
        found[nprobe] = float(np.mean(ids[:, 0] == np.argsort(-(queries @ vectors.T), axis=1)[:, 0]))
    assert found[1] < found[description["nlist"]]  # one list misses neighbours that all lists find
    assert search_parameters(description, 10**6).nprobe == description["nlist"]
