from __future__ import annotations

import pytest
from conftest import SEED
from langchain_tests.integration_tests import RetrieversIntegrationTests

from qa.langchain import QARetriever


def test_search_returns_ranked_passages_with_offsets(seed_qa):
    text = SEED.read_text(encoding="utf-8")
    passages = seed_qa.search("plans to deploy military drones on the disputed islands", k=3)
    assert len(passages) == 3
    assert passages[0].score >= passages[1].score >= passages[2].score
    for p in passages:
        assert text[p.start : p.end] == p.text
    assert "military drones" in passages[0].text


def test_lexical_search_finds_rare_names(seed_qa):
    hits = seed_qa.snapshot.search_lexical(["okinawa"], 5)
    assert hits
    rows = seed_qa.snapshot.chunks([hits[0][0]])
    assert "Okinawa" in rows[hits[0][0]].text


def test_langchain_retriever(seed_qa):
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    retriever = seed_qa.as_retriever(k=2)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("What is Moscow's pivot to the East?")
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    text = SEED.read_text(encoding="utf-8")
    for d in docs:
        assert d.metadata["source"] == SEED.name and d.metadata["title"]
        assert text[d.metadata["start"] : d.metadata["end"]] == d.page_content
    # `k` per call, the async way as the sync one (LangChain's default async path takes none).
    import asyncio

    question = "What is Moscow's pivot to the East?"
    assert len(retriever.invoke(question, k=1)) == 1 and len(asyncio.run(retriever.ainvoke(question, k=1))) == 1
    assert [len(d) for d in asyncio.run(retriever.abatch([question, "Kuril Islands"], k=3))] == [3, 3]
    assert asyncio.run(retriever.ainvoke(question)) == docs


def test_mmr_keeps_k_and_the_best(seed_qa):
    from qa.search.retriever import Retriever

    settings = seed_qa.settings.replace(mmr=True)
    vector = seed_qa.embedder.embed_queries(["Japan-U.S. alliance"])[0]
    plain = Retriever(seed_qa.snapshot, None, seed_qa.settings).search("Japan-U.S. alliance", 4, vector).passages
    diverse = Retriever(seed_qa.snapshot, None, settings).search("Japan-U.S. alliance", 4, vector).passages
    assert len(diverse) == 4 and diverse[0].chunk_id == plain[0].chunk_id


def test_a_big_index_leaves_its_commonest_words_out_of_bm25(seed_qa):
    """Above `lexical_max_matches` chunks, the lexical query keeps the rarest words whose chunks
    fit the budget (BM25 scores every matching chunk); below it, every word is searched."""
    from qa.search.retriever import Retriever

    snap = seed_qa.snapshot
    words = ["japan", "russia", "okinawa"]
    freq = snap.doc_freq(words)
    assert freq["okinawa"] < freq["japan"] and freq["okinawa"] < freq["russia"]
    whole = Retriever(snap, None, seed_qa.settings)
    assert whole._affordable(words) == words  # 12 chunks: far below the budget
    tight = Retriever(snap, None, seed_qa.settings.replace(lexical_max_matches=freq["okinawa"]))
    assert tight._affordable(words) == ["okinawa"]  # the rarest is always kept
    embed = lambda q: seed_qa.encoder.embed_queries([q])[0]  # noqa: E731
    passages = Retriever(snap, embed, tight.settings).search("Japan Russia Okinawa", k=3).passages
    assert any("Okinawa" in p.text for p in passages)


class TestLangChainStandardRetriever(RetrieversIntegrationTests):
    """LangChain's own standard tests for retrievers (`langchain-tests`), on the real seed index."""

    @pytest.fixture(autouse=True)
    def _seed_qa(self, seed_qa):
        type(self).qa = seed_qa

    @property
    def retriever_constructor(self) -> type[QARetriever]:
        return QARetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"qa": self.qa}

    @property
    def retriever_query_example(self) -> str:
        return "What did Russia announce on Mar. 25?"
