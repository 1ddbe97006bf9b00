"""Hard negatives found the way qa finds candidates at answer time.

The first stage of training (data.py) takes its negatives from the question's own
paragraph and article, ranked by shared words. At answer time the reader sees something
else: qa's best `reader_candidates` sentences from many articles, ranked by qa's own
signals (cosine, coverage, the passage's score). This module indexes SQuAD 1.1 train
paragraphs as a qa corpus (each paragraph one article, as `qa eval` does with SQuAD
dev), asks qa without a reader for each question's candidates, and adds the best ones
that do not hold the answer to the question's group as negatives. For a SQuAD 2.0
unanswerable question every candidate is a negative: exactly the sentences qa would
otherwise quote.

A candidate holding the answer text is never a negative (it may well answer, even in
another paragraph); nor is a sentence already in the group.

`mine_written` does the same for the questions written over BBC articles: it indexes the
BBC train split (only those articles may be learned from) and adds qa's best candidates,
from any of them, to each written question's group. For a near-miss question those are
exactly the sentences qa would quote where it should refuse.

SQuAD 2.0 dev half A, the evaluation set, is never read here.
"""

from __future__ import annotations

import random
from pathlib import Path

from tqdm import tqdm

from ..evaluation.questions import write_paragraph
from .data import (
    SPLIT_FILE,
    UNANSWERABLE_FILE,
    Group,
    merge_unanswerable,
    read_groups,
    squad_articles,
    squad_groups,
    write_groups,
)


def write_corpus(articles: list[dict], chosen: list[int], corpus: Path) -> None:
    """Each paragraph of the chosen articles as one file, as `qa eval` writes SQuAD dev."""
    corpus.mkdir(parents=True, exist_ok=True)
    for a in chosen:
        article = articles[a]
        title = article["title"].replace("_", " ")
        for p, paragraph in enumerate(article["paragraphs"]):
            write_paragraph(corpus, f"{a:03d}-{p:03d}.txt", paragraph["context"], title)


def mine(
    data_dir: Path,
    work: Path,
    articles: int = 160,
    per_question: int = 4,
    seed: int = 0,
) -> list[Group]:
    """Groups for the chosen SQuAD 1.1 train articles (answerable and SQuAD 2.0 train
    unanswerable questions), each with up to `per_question` negatives qa itself ranked
    highest. Cached in `work/mined.jsonl`; the index in `work/mine-index` is reused."""
    done = work / "mined.jsonl"
    if done.exists():
        return read_groups(done)
    all_articles = squad_articles(Path(data_dir) / "squad1.1-train.json")
    merge_unanswerable(all_articles, Path(data_dir) / UNANSWERABLE_FILE)
    rng = random.Random(seed + 1)  # another stream than stage one's: its draws stay as they were
    chosen = sorted(rng.sample(range(len(all_articles)), min(articles, len(all_articles))))
    corpus = work / "mine-corpus"
    write_corpus(all_articles, chosen, corpus)
    groups = list(squad_groups([all_articles[a] for a in chosen], rng, "squad1.1-train-mined"))
    for g in groups:
        if not any(g.labels):
            g.origin = "squad2-train-unanswerable-mined"
    _add_candidates(groups, corpus, work / "mine-index", per_question)
    write_groups(done, groups)
    return groups


def mine_written(groups: list[Group], data_dir: Path, work: Path, per_question: int = 4) -> list[Group]:
    """The written questions' groups (data.written_groups), each with up to `per_question` more
    negatives: qa's best candidates over the BBC train split. Cached in `work/written-mined.jsonl`."""
    done = work / "written-mined.jsonl"
    if done.exists():
        return read_groups(done)
    data_dir = Path(data_dir)
    corpus = work / "written-corpus"
    for name in (data_dir / SPLIT_FILE).read_text(encoding="utf-8").split():
        target = corpus / "bbc" / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((data_dir / "bbc" / name).read_bytes())
    # A file given twice (--written F --written F) is mined once; both copies get the
    # negatives. Mined on copies: the caller's groups stay as they were.
    unique = [g.copy() for g in {g.question: g for g in groups}.values()]
    _add_candidates(unique, corpus, work / "written-index", per_question)
    mined = {g.question: g for g in unique}
    groups = [mined[g.question].copy() for g in groups]
    write_groups(done, groups)
    return groups


def _add_candidates(groups: list[Group], corpus: Path, index: Path, per_question: int) -> None:
    """Index `corpus` (reusing `index`) and append to each group, as negatives, the best
    candidates qa ranks without a reader that are not in the group, do not hold its answer
    text and are not part of (or hold) its positive."""
    # Upward imports, on purpose: training is a shell over the whole pipeline, like `qa eval`.
    from ..answering.answerer import Answerer
    from ..config import Settings
    from ..engine import QA
    from ..indexing.indexer import Indexer
    from ..search.retriever import Retriever

    settings = Settings(reader=None, llm=None, verify=False)
    Indexer(settings.replace(corpus_dir=corpus, index_dir=index)).build(corpus, index)
    qa = QA.load(index, settings=settings)
    answerer = Answerer(qa.snapshot, qa.settings, reader=None)
    retriever = Retriever(qa.snapshot, None, qa.settings)
    wanted = qa.settings.reader_candidates
    batch = 64
    for b in tqdm(range(0, len(groups), batch), desc="mining negatives", unit="batch", mininterval=10):
        part = groups[b : b + batch]
        vectors = qa.encoder.embed_queries([g.question for g in part])
        for g, vec in zip(part, vectors, strict=True):
            passages = retriever.search(g.question, qa.settings.k, query_vector=vec).passages
            have = set(g.sentences)
            positives = [s for s, y in zip(g.sentences, g.labels, strict=True) if y]
            answer = g.answer.lower() if g.answer else None
            added = 0
            for c in answerer.score_sentences(g.question, vec, passages)[:wanted]:
                if added == per_question:
                    break
                if c.text in have or (answer and answer in c.text.lower()):
                    continue
                if any(c.text in p or p in c.text for p in positives):
                    continue
                g.sentences.append(c.text)
                g.labels.append(0)
                have.add(c.text)
                added += 1
