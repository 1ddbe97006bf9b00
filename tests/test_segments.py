"""Vector segments: layout by size, search minus tombstones, merges (real FAISS, real files)."""

from __future__ import annotations

import numpy as np
import pytest

from qa.store.faiss_sqlite import segments as segments_module
from qa.store.faiss_sqlite.faiss_index import index_description, ivf_lists, search_parameters
from qa.store.faiss_sqlite.segments import Segment, SegmentSet, merge_plan, merged_index, new_index, write_segment


def unit_vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def segment(tmp_path, name, ids, vectors, settings) -> Segment:
    index, layout = new_index(np.asarray(ids, np.int64), vectors, settings)
    entry = write_segment(tmp_path, name, index, layout)
    return Segment(tmp_path / name, entry)


def test_layout_follows_size(settings):
    assert index_description(settings.exact_max_vectors, settings)["type"] == "flat"
    big = index_description(1_000_000, settings)
    assert big["type"] == "ivf" and big["factory"] == "IVF4096,SQ8" and big["nprobe"] == settings.ivf_nprobe
    assert ivf_lists(100_000) == 1024
    assert ivf_lists(200) == 200 // 39  # never more lists than the data can train


@pytest.mark.parametrize("deleted", [5, 400])  # filtered after the search / skipped by FAISS itself
@pytest.mark.parametrize("small", [True, False], ids=["stacked", "faiss"])
def test_search_over_segments_equals_one_exact_search_without_the_tombstones(
    tmp_path, settings, deleted, small, monkeypatch
):
    if not small:  # every segment searched by FAISS on its own, as big ones are
        monkeypatch.setattr(segments_module, "SMALL_SEGMENT", 0)
    vectors = unit_vectors(3000)
    parts = [(0, 2000), (2000, 2900), (2900, 3000)]
    segments = [segment(tmp_path, f"s{i}.faiss", range(a, b), vectors[a:b], settings) for i, (a, b) in enumerate(parts)]
    gone = np.random.default_rng(1).choice(2000, deleted, replace=False).astype(np.int64)
    gone = np.concatenate([gone, [2950]])
    live = SegmentSet(segments, {"s0.faiss": np.sort(gone[:-1]), "s2.faiss": gone[-1:]}, 32)
    assert live.ntotal == 3000 - deleted - 1 and len(live.live_ids()) == live.ntotal
    keep = np.ones(3000, bool)
    keep[gone] = False
    for q in unit_vectors(20, seed=7):
        scores = vectors @ q
        scores[~keep] = -np.inf
        expected = np.argsort(-scores)[:10].tolist()
        assert [i for i, _ in live.search(q, 10)] == expected
    assert np.allclose(live.vectors([5, 2500, 2999]), vectors[[5, 2500, 2999]])
    with pytest.raises(KeyError):
        live.vectors([99999])


def test_merge_drops_tombstones_and_keeps_ids_and_vectors(tmp_path, settings):
    vectors = unit_vectors(600)
    a = segment(tmp_path, "a.faiss", range(0, 300), vectors[:300], settings)
    b = segment(tmp_path, "b.faiss", range(300, 600), vectors[300:], settings)
    extra = (np.arange(1000, 1010, dtype=np.int64), unit_vectors(10, seed=2))
    index, layout = merged_index([a, b], {"a.faiss": np.arange(0, 300, 3)}, extra, settings)
    merged = Segment(tmp_path / "m.faiss", write_segment(tmp_path, "m.faiss", index, layout))
    assert merged.ntotal == 200 + 300 + 10 and layout["type"] == "flat"
    assert set(merged.ids.tolist()) == set(range(0, 600)) - set(range(0, 300, 3)) | set(range(1000, 1010))
    assert np.allclose(merged.index.reconstruct(301), vectors[301])


def test_merges_grow_an_ivf_segment_past_the_exact_limit(tmp_path, settings):
    settings = settings.replace(exact_max_vectors=100)
    vectors = unit_vectors(300)
    small = segment(tmp_path, "a.faiss", range(80), vectors[:80], settings)
    assert small.info["index"]["type"] == "flat"
    index, layout = merged_index([small], {}, (np.arange(80, 300), vectors[80:]), settings)
    assert layout["type"] == "ivf" and index.ntotal == 300
    assert np.allclose(index.reconstruct_batch(np.array([1, 205])), vectors[[1, 205]], atol=0.02)  # 8-bit codes


def test_merge_plan():
    def entries(*sizes):
        return [{"name": f"s{i}", "vectors": n} for i, n in enumerate(sizes)]

    assert merge_plan(entries(1000, 10, 10), {}, max_segments=10) == []
    # A segment that is mostly deleted is rewritten; one clean segment alone is not.
    assert merge_plan(entries(1000, 10), {"s1": 5}, max_segments=10) == ["s1"]
    assert merge_plan(entries(1000), {"s0": 50}, max_segments=10) == []
    # Too many: the smallest are merged until half the limit remains; the big one stays.
    plan = merge_plan(entries(1000, *range(1, 11)), {}, max_segments=10)
    assert "s0" not in plan and len(plan) == 11 - 5 + 1


def test_nprobe_is_a_search_time_setting(settings):
    """Changing `ivf_nprobe` changes searches of an index built before, without a rebuild."""
    settings = settings.replace(exact_max_vectors=100)
    vectors = unit_vectors(4000, dim=16)
    index, description = new_index(np.arange(4000), vectors, settings)
    assert search_parameters({"type": "flat"}, 8) is None
    queries = unit_vectors(50, dim=16, seed=3)
    found = {}
    for nprobe in (1, description["nlist"]):
        _, ids = index.search(queries, 1, params=search_parameters(description, nprobe))
        found[nprobe] = float(np.mean(ids[:, 0] == np.argsort(-(queries @ vectors.T), axis=1)[:, 0]))
    assert found[1] < found[description["nlist"]]  # one list misses neighbours that all lists find
    assert search_parameters(description, 10**6).nprobe == description["nlist"]
