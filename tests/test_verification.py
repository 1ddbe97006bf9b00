"""Answers checked by a language model: the verdict's arithmetic, and a real GGUF model giving one."""

from __future__ import annotations

import math

import pytest
from conftest import SEED, smollm2
from langchain_core.messages import AIMessage

from qa import QA, Settings
from qa.llm import chat_model
from qa.verification import Verdict, Verifier, first_token_logprobs, option_probabilities, verified_probability


def test_option_probabilities_are_renormalised_over_the_sentence_numbers():
    logprobs = {"2": math.log(0.5), "0": math.log(0.2), "The": math.log(0.2)}
    probs = option_probabilities(logprobs, ["0", "1", "2"])
    assert sum(probs) == pytest.approx(1.0)
    # "1" was not among the model's top tokens: rarer than every number it did list.
    assert probs[2] > probs[0] > probs[1] > 0
    assert option_probabilities({"The": -0.1}, ["0", "1"]) is None


def test_a_number_with_or_without_a_leading_space_is_the_same_answer():
    alternatives = [("0", 0.4), (" 1", 0.3), ("1", 0.2), ("Sentence", 0.1)]
    reply = AIMessage(
        content="0",
        response_metadata={
            "logprobs": {
                "content": [
                    {
                        "token": "0",
                        "logprob": math.log(0.4),
                        "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in alternatives],
                    }
                ]
            }
        },
    )
    logprobs = first_token_logprobs(reply)
    assert math.exp(logprobs["1"]) == pytest.approx(0.5)
    assert first_token_logprobs(AIMessage(content="0")) == {}


def test_the_verdict_moves_the_probability_the_way_it_points():
    sure = Verdict(none=0.05, first=0.8, choice=1, ms=0.0)
    doubtful = Verdict(none=0.8, first=0.05, choice=0, ms=0.0)
    for confidence in (0.1, 0.3, 0.6):
        assert verified_probability(confidence, doubtful) < verified_probability(confidence, sure)
    assert verified_probability(0.2, sure) < verified_probability(0.6, sure)


@pytest.mark.slow
def test_a_real_local_model_gives_a_verdict():
    verifier = Verifier(chat_model(str(smollm2()), Settings(llm_context_tokens=2048)))
    sentences = [
        "Tokyo and Moscow signed a peace treaty in 1956.",
        "The Kuril Islands lie north of Hokkaido.",
        "Russia announced military drills on the islands.",
    ]
    verdict = verifier.run("Where do the Kuril Islands lie?", sentences)
    assert 0.0 <= verdict.none <= 1.0 and 0.0 <= verdict.first <= 1.0
    assert verdict.none + verdict.first <= 1.0 + 1e-9
    assert verdict.choice in range(len(sentences) + 1) and verdict.ms > 0


@pytest.mark.slow
def test_verified_answers_carry_the_verdict_and_quote_verbatim(seed_index, embedder):
    settings = Settings(llm=str(smollm2()), llm_context_tokens=2048)
    checked = QA.load(seed_index, settings=settings.replace(verify=True), embedder=embedder)
    plain = QA.load(seed_index, settings=settings, embedder=embedder)
    seed_text = SEED.read_text(encoding="utf-8")
    question = "What did Russia announce on Mar. 25?"
    answer, unchecked = checked.ask(question, mode="extractive"), plain.ask(question, mode="extractive")
    assert answer.timings["verify_ms"] > 0 and "verify_ms" not in unchecked.timings
    assert answer.confidence != unchecked.confidence  # the verdict moved the calibrated probability
    for c in answer.citations:
        assert seed_text[c.start : c.end] == c.quote

    with pytest.raises(ValueError, match="needs a language model"):
        QA.load(seed_index, settings=Settings(llm=None, verify=True), embedder=embedder).ask(question)
