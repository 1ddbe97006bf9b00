"""Generative mode with scripted LangChain chat models over the real seed index:
verified quotes, re-attribution, removal, refusals, fallback, streaming, follow-ups."""

from __future__ import annotations

import pytest
from conftest import SEED
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage

from qa import QA, Answer, Citation, Settings
from qa.answering.followup import carry_over, leans_on_context

SEED_TEXT = SEED.read_text(encoding="utf-8")
ANNOUNCED = (
    "Russia announced on Mar. 25 that it planned to deploy missile defense systems and military drones "
    "on the disputed Kuril Islands by the end of the year"
)
QUESTION = "What did Russia announce on Mar. 25?"


def scripted(*replies: str) -> GenericFakeChatModel:
    """A chat model that streams these replies word by word, one per call, and fails if called again."""
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


@pytest.fixture
def make_qa(seed_index, embedder):
    def make(llm):
        return QA.load(seed_index, embedder=embedder, llm=llm)

    return make


def _assert_verbatim(answer: Answer) -> None:
    for c in answer.citations:
        assert SEED_TEXT[c.start : c.end] == c.quote


def _number_of_passage_with(qa: QA, text: str, question: str = QUESTION) -> tuple[int, int]:
    """(1-based number of a passage containing `text`, of one that doesn't) in the prompt."""
    passages = qa.search(question)[: qa.settings.llm_passages]
    having = [n for n, p in enumerate(passages, 1) if text in p.text]
    lacking = [n for n, p in enumerate(passages, 1) if text not in p.text]
    assert having and lacking, "the seed index should give several passages"
    return having[0], lacking[0]


def test_verified_quotes_become_citations(make_qa):
    qa = make_qa(None)
    n, _ = _number_of_passage_with(qa, ANNOUNCED)
    # Curly quotes, a re-flowed space and a lower-case start: still the article's words.
    written = ANNOUNCED.replace("missile defense", "missile  defense")
    qa = make_qa(scripted(f"Russia said it “{written}” [{n}]."))
    answer = qa.ask(QUESTION)
    assert answer.mode == "generative" and not answer.refused
    (c,) = answer.citations
    assert c.quote == ANNOUNCED and not c.reattributed
    _assert_verbatim(answer)
    assert answer.answer == f"Russia said it “{ANNOUNCED}” [1]."
    assert answer.quotes == {"verified": 1, "reattributed": 0, "removed": 0, "copied": 0}
    assert answer.to_dict()["mode"] == "generative"


def test_invented_quote_is_cut_and_misattributed_one_is_moved(make_qa):
    qa = make_qa(None)
    right, wrong = _number_of_passage_with(qa, ANNOUNCED)
    invented = "Japan will buy Russian gas from the Kuril Islands next year"
    qa = make_qa(scripted(f'It "{ANNOUNCED}" [{wrong}]. Tokyo replied that "{invented}" [{right}].'))
    answer = qa.ask(QUESTION)
    _assert_verbatim(answer)
    assert [c.quote for c in answer.citations] == [ANNOUNCED]
    assert answer.citations[0].reattributed
    assert invented not in answer.answer and invented not in str(answer.to_dict()["citations"])
    assert "[quote removed: not found in the articles]" in answer.answer
    assert answer.quotes == {"verified": 0, "reattributed": 1, "removed": 1, "copied": 0}


def test_model_finding_no_answer_falls_back_unless_it_may_refuse(make_qa, seed_index, embedder):
    answer = make_qa(scripted("NOT IN THE ARTICLES")).ask(QUESTION)
    # By default the calibrated decision stands: qa's own quotes, marked as such.
    assert answer.mode == "fallback" and not answer.refused and answer.quotes["model_found_no_answer"] == 1
    assert ANNOUNCED in answer.citations[0].quote
    _assert_verbatim(answer)

    trusting = QA.load(
        seed_index, settings=Settings(llm_may_refuse=True), embedder=embedder, llm=scripted("NOT IN THE ARTICLES")
    )
    answer = trusting.ask(QUESTION)
    assert answer.refused and answer.citations == [] and answer.mode == "generative"
    assert "don't say" in answer.answer


def test_unchecked_prose_falls_back_to_extractive_quotes(make_qa):
    answer = make_qa(scripted("Russia is moving weapons to some islands, which upset Japan.")).ask(QUESTION)
    assert answer.mode == "fallback" and not answer.refused
    assert answer.citations and ANNOUNCED in answer.citations[0].quote
    assert "upset Japan" not in answer.answer
    _assert_verbatim(answer)


def test_refused_questions_never_reach_the_model(make_qa):
    # The scripted model has no replies: calling it would raise.
    answer = make_qa(scripted()).ask("Who won the football World Cup in 2010?")
    assert answer.refused and "generate_ms" not in answer.timings


def test_stream_yields_text_then_citations_then_the_answer(make_qa):
    qa = make_qa(None)
    n, _ = _number_of_passage_with(qa, ANNOUNCED)
    qa = make_qa(scripted(f'Russia said it "{ANNOUNCED}" [{n}] and nothing else.'))
    events = list(qa.stream(QUESTION))
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "str" and kinds[-1] == "Answer"
    assert kinds.count("Answer") == 1 and kinds.count("Citation") == 1
    cited_at = kinds.index("Citation")
    # The citation is announced while text is still streaming, not only at the end.
    assert "str" in kinds[cited_at + 1 : -1]
    provisional = next(e for e in events if isinstance(e, Citation))
    assert SEED_TEXT[provisional.start : provisional.end] == provisional.quote == ANNOUNCED
    assert "".join(e for e in events if isinstance(e, str)).startswith("Russia said it")


def test_the_stream_announces_only_the_quotes_the_answer_cites(make_qa):
    # A short quote with no passage number stays plain words in the answer: the stream must
    # not have announced it as a checked quote first. ("Russia" is in the passages.)
    qa = make_qa(None)
    n, _ = _number_of_passage_with(qa, ANNOUNCED)
    qa = make_qa(scripted(f'The "Russia" question: it "{ANNOUNCED}" [{n}] and more.'))
    events = list(qa.stream(QUESTION))
    streamed = [e.quote for e in events if isinstance(e, Citation)]
    assert streamed == [c.quote for c in events[-1].citations] == [ANNOUNCED]
    assert events[-1].answer.startswith("The Russia question:")


def test_generative_mode_needs_a_model(seed_qa):
    with pytest.raises(ValueError, match="language model"):
        seed_qa.ask(QUESTION, mode="generative")
    with pytest.raises(ValueError, match="unknown answer mode"):
        seed_qa.ask(QUESTION, mode="poetry")


# -- follow-up questions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "leans"),
    [
        ("And what did Japan do then?", True),
        ("What did he discuss there?", True),
        ("What about China?", True),
        ("Why?", True),
        ("What did Russia announce on Mar. 25?", False),
        ("Who visited Moscow before the crisis in Ukraine?", False),
    ],
)
def test_which_questions_lean_on_context(question, leans):
    assert leans_on_context(question) is leans


def test_carry_over_appends_the_previous_subject():
    previous = ["Who visited Moscow one year before the crisis in Ukraine?"]
    assert carry_over("What did he discuss there?", previous) == (
        "What did he discuss there? (visited Moscow one year crisis Ukraine)"
    )
    assert carry_over("What did Abe discuss in Moscow?", previous) == "What did Abe discuss in Moscow?"
    assert carry_over("What did he discuss there?", []) == "What did he discuss there?"


def test_carry_over_is_bounded_whatever_the_history_holds():
    # A client's history may hold any text: a 20,000-word "question" costs a linear pass, and at
    # most CARRIED_TERMS terms of it travel with the follow-up.
    import time

    from qa.answering.followup import CARRIED_TERMS

    words = " ".join(f"w{i}" for i in range(20_000))
    started = time.perf_counter()
    rewritten = carry_over("when?", [words])
    assert time.perf_counter() - started < 1.0  # quadratic took 7 s here; linear takes milliseconds
    assert rewritten == "when? (" + " ".join(f"w{i}" for i in range(CARRIED_TERMS)) + ")"


def test_a_follow_up_to_a_long_turn_is_not_too_long_itself(seed_qa):
    # The limit is on the question as sent ("when?"), not on what qa carries over to it.
    earlier = "Who visited Moscow one year before the crisis in Ukraine, " + "and " * 300 + "why?"
    answer = seed_qa.ask("When?", history=[(earlier, "Abe.")] * 50)
    assert answer.standalone_question.startswith("When? (visited Moscow one year")


def test_extractive_follow_up_in_a_session(seed_qa):
    evidence = "Japanese Prime Minister Shinzō Abe visited Moscow to discuss Japan-Russia collaboration"
    alone = seed_qa.ask("What did he talk about?")
    assert alone.refused

    session = seed_qa.session()
    first = session.ask("Who visited Moscow one year before the crisis in Ukraine?")
    assert any(evidence in c.quote for c in first.citations)
    follow = session.ask("What did he talk about?")
    assert follow.standalone_question and "Moscow" in follow.standalone_question
    assert any(evidence in c.quote for c in follow.citations)
    assert follow.to_dict()["standalone_question"] == follow.standalone_question


def test_chat_messages_api(seed_qa):
    messages = [
        {"role": "user", "content": "Who visited Moscow one year before the crisis in Ukraine?"},
        {"role": "assistant", "content": "…"},
        {"role": "user", "content": "What did he talk about?"},
    ]
    answer = seed_qa.chat(messages)
    assert "Moscow" in answer.standalone_question and not answer.refused


def test_generative_follow_up_is_rewritten_by_the_model(make_qa):
    rewrite = "What did Shinzo Abe discuss in Moscow one year before the crisis in Ukraine?"
    evidence = "Japanese Prime Minister Shinzō Abe visited Moscow to discuss Japan-Russia collaboration on a variety of fronts."
    llm = FakeListChatModel(
        responses=[rewrite, 'He went "to discuss Japan-Russia collaboration on a variety of fronts" [1].']
    )
    qa = make_qa(llm)
    answer = qa.ask("What did he discuss there?", history=[("Who visited Moscow before the Ukraine crisis?", "Abe.")])
    assert answer.standalone_question == rewrite
    assert answer.mode == "generative"
    assert answer.citations and answer.citations[0].quote in evidence
    _assert_verbatim(answer)


def test_a_rambling_rewrite_falls_back_to_the_rule(make_qa):
    llm = FakeListChatModel(responses=["Sure! Here is the question:\nWhat did he discuss?", "NOT IN THE ARTICLES"])
    answer = make_qa(llm).ask("What did he discuss there?", history=[("Who visited Moscow?", "Abe.")])
    assert answer.standalone_question == "What did he discuss there? (visited Moscow)"
