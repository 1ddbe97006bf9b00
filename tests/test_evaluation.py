from __future__ import annotations

from conftest import DATA
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from qa import QA
from qa.evaluation.questions import LabelledQuestion, own_questions, squad_to_corpus, twin_sources
from qa.evaluation.runner import Outcome, format_table, metrics, run
from qa.indexing.indexer import Indexer


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


def test_an_identical_copy_of_the_source_counts_as_retrieving_it(tmp_path):
    # The BBC set holds duplicate files: finding the copy finds the article.
    news = tmp_path / "news" / "bbc" / "tech"
    news.mkdir(parents=True)
    (news / "001.txt").write_text("Chips get faster.\n\nIntel said so.", encoding="utf-8")
    (news / "002.txt").write_text("Chips get  faster.\nIntel said so.\n", encoding="utf-8")  # whitespace only
    (news / "003.txt").write_text("Chips get slower.", encoding="utf-8")
    twins = twin_sources(tmp_path / "news", {"tech/001.txt", "tech/003.txt"}, "bbc/")
    assert twins == {"tech/001.txt": frozenset({"tech/002.txt"}), "tech/003.txt": frozenset()}

    q = LabelledQuestion("Who said chips get faster?", True, "tech/001.txt", ["Intel said so."])

    def outcome(retrieved):
        return Outcome(q, retrieved, False, [], 0.5, 1.0, twins=twins["tech/001.txt"])

    assert metrics([outcome(["tech/003.txt", "tech/002.txt"])])["retrieval_hit@3"] == 1.0
    assert metrics([outcome(["tech/002.txt"])])["retrieval_hit@1"] == 1.0
    assert metrics([outcome(["tech/003.txt", "tech/004.txt"])])["retrieval_hit@5"] == 0.0


def test_refusals_are_counted_apart_for_near_misses_and_other_news():
    # A near-miss names its article (a detail the story does not give); other news names none.
    near = LabelledQuestion("What did the Intel chip cost?", False, "tech/001.txt")
    other = LabelledQuestion("Who won the 2005 Tour de France?", False, None)

    def outcome(q, refused):
        return Outcome(q, [], refused, [], 0.1, 1.0)

    m = metrics([outcome(near, False), outcome(near, True), outcome(other, True)])
    assert m["refused_near_miss"] == 0.5 and m["refused_off_topic"] == 1.0
    assert abs(m["refusal_recall"] - 2 / 3) < 1e-9
    assert "near-misses refused" in format_table([{"suite": "s", **m}])
    assert "refused_off_topic" not in metrics([outcome(near, True)])


def test_own_question_files_are_well_formed():
    for name in ("seed", "bbc"):
        questions = own_questions(DATA / "questions" / f"{name}.json")
        assert sum(q.answerable for q in questions) >= 10
        assert sum(not q.answerable for q in questions) >= 5
        assert all(q.answers and q.source for q in questions if q.answerable)


class _QuotingModel(BaseChatModel):
    """Scripted: quotes the first words of passage 1 correctly and invents a second quote."""

    @property
    def _llm_type(self) -> str:
        return "quoting-test-model"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        prompt = str(messages[-1].text)
        first = prompt.split("[1] (", 1)[1].split("\n", 1)[1]
        words = " ".join(first.split()[:8])
        reply = f'The article says "{words}" [1] and "nothing like this sentence appears anywhere" [2].'
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])


def test_generative_faithfulness_metrics(seed_index, embedder):
    questions = [q for q in own_questions(DATA / "questions" / "seed.json")][:6]
    qa = QA.load(seed_index, embedder=embedder, llm=_QuotingModel())
    outcomes = run(qa, questions, progress=False, mode="generative")
    m = metrics(outcomes)
    answered = [o for o in outcomes if not o.refused]
    assert answered and m["written_share"] == 1.0
    # One quote of two is real in every written answer.
    assert m["model_quotes"]["removed"] == len(answered)
    assert m["quotes_verified"] == 0.5
    assert "quotes verified" in format_table([{"suite": "seed (generative)", **m}])
