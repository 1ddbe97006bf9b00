"""Find the passages most likely to answer a question: dense + lexical, fused by rank."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Settings
from ..store import Snapshot
from ..types import Passage
from ..words import content_words, stems, with_spellings


@dataclass
class Retrieved:
    passages: list[Passage]
    query_vector: np.ndarray


class Retriever:
    """Dense (FAISS) and lexical (SQLite FTS5, BM25) search, merged with reciprocal-rank fusion.

    Dense search finds paraphrases; BM25 finds names and rare words the small
    embedding model blurs. RRF needs no score calibration between the two.
    """

    def __init__(self, snapshot: Snapshot, embed_query, settings: Settings):
        self.snapshot = snapshot
        self.embed_query = embed_query
        self.settings = settings

    def search(self, question: str, k: int | None = None, query_vector: np.ndarray | None = None) -> Retrieved:
        s = self.settings
        k = k or s.k
        if query_vector is None:
            query_vector = self.embed_query(question)
        dense = self.snapshot.search_dense(query_vector, s.candidates, nprobe=s.ivf_nprobe)
        lexical = self.snapshot.search_lexical(self._affordable(with_spellings(content_words(question))), s.candidates)

        fused: dict[int, float] = {}
        dense_rank: dict[int, int] = {}
        lexical_rank: dict[int, int] = {}
        for rank, (cid, _) in enumerate(dense, 1):
            fused[cid] = fused.get(cid, 0.0) + s.dense_weight / (s.rrf_k + rank)
            dense_rank[cid] = rank
        for rank, (cid, _) in enumerate(lexical, 1):
            fused[cid] = fused.get(cid, 0.0) + s.lexical_weight / (s.rrf_k + rank)
            lexical_rank[cid] = rank
        if not fused:
            return Retrieved([], query_vector)

        ranked = sorted(fused, key=lambda cid: -fused[cid])
        pool = ranked[: max(k * 4, k)] if s.mmr else ranked[:k]
        vectors = self.snapshot.chunk_vectors(pool)
        cosine = vectors @ query_vector
        if s.mmr and len(pool) > k:
            order = _mmr([fused[c] for c in pool], vectors, k, s.mmr_lambda)
            pool, cosine = [pool[i] for i in order], cosine[order]

        rows = self.snapshot.chunks(pool)
        passages = []
        for cid, cos in zip(pool, cosine, strict=True):
            row = rows.get(cid)
            if row is None:
                continue
            passages.append(
                Passage(
                    chunk_id=cid,
                    doc_id=row.doc_id,
                    source=row.source,
                    title=row.title,
                    start=row.start,
                    end=row.end,
                    text=row.text,
                    score=fused[cid],
                    dense_score=float(cos),
                    dense_rank=dense_rank.get(cid),
                    lexical_rank=lexical_rank.get(cid),
                )
            )
        return Retrieved(passages, query_vector)

    def _affordable(self, terms: list[str]) -> list[str]:
        """The rarest `terms` whose chunks add up to `lexical_max_matches` (all of them in an
        index that small): common words cost most in BM25 and weigh least in its score."""
        budget = self.settings.lexical_max_matches
        if len(terms) <= 1 or self.snapshot.counts["chunks"] <= budget:
            return terms
        stemmed = stems(terms)
        freq = self.snapshot.doc_freq(sorted(set(stemmed)))
        kept, total = [], 0
        for i in sorted(range(len(terms)), key=lambda i: freq.get(stemmed[i], 0)):
            n = freq.get(stemmed[i], 0)
            if kept and total + n > budget:
                break
            kept.append(terms[i])
            total += n
        return kept


def _mmr(relevance: list[float], vectors: np.ndarray, k: int, lam: float) -> list[int]:
    """Maximal marginal relevance: trade a little relevance for less repetition."""
    rel = np.asarray(relevance, dtype=np.float32)
    rel = (rel - rel.min()) / (np.ptp(rel) or 1.0)
    sims = vectors @ vectors.T
    chosen = [int(np.argmax(rel))]
    while len(chosen) < min(k, len(rel)):
        redundancy = sims[:, chosen].max(axis=1)
        score = lam * rel - (1 - lam) * redundancy
        score[chosen] = -np.inf
        chosen.append(int(np.argmax(score)))
    return chosen


def as_langchain_retriever(qa, k: int | None = None):
    """A LangChain `BaseRetriever` over a loaded `QA` (imported lazily: LangChain is heavy)."""
    from ..langchain import QARetriever

    return QARetriever(qa=qa, k=k or qa.settings.k)
