from __future__ import annotations

from conftest import DATA

from qa import QA
from qa.evaluation import format_table, metrics, own_questions, run, squad_to_corpus
from qa.indexing import Indexer


def test_squad_slice_end_to_end(tmp_path, settings, embedder):
    corpus = tmp_path / "squad"
    questions = squad_to_corpus(DATA / "squad-slice.json", corpus)
    assert len(list(corpus.glob("*.txt"))) == 12
    assert any(q.answerable for q in questions) and any(not q.answerable for q in questions)
    Indexer(settings, embedder).build(corpus, tmp_path / "index", progress=False)
    qa = QA.load(tmp_path / "index", embedder=embedder)
    outcomes = run(qa, questions, progress=False)
    m = metrics(outcomes)
    assert m["questions"] == len(questions)
    # Twelve paragraphs on two subjects: the right one is nearly always retrieved.
    assert m["retrieval_hit@5"] >= 0.9 and m["retrieval_hit@1"] >= 0.6
    assert m["answer_top3"] >= 0.5
    for o in outcomes:  # every quote is the paragraph's own text
        for source, start, end, quote in o.quotes:
            assert (corpus / source).read_text(encoding="utf-8")[start:end] == quote
    table = format_table([{"suite": "slice", **m}])
    assert "hit@1" in table and "slice" in table


def test_own_question_files_are_well_formed():
    for name in ("seed", "bbc"):
        questions = own_questions(DATA / "questions" / f"{name}.json")
        assert sum(q.answerable for q in questions) >= 10
        assert sum(not q.answerable for q in questions) >= 5
        assert all(q.answers and q.source for q in questions if q.answerable)
