"""Answers checked by a language model: the verdict's arithmetic, and a real GGUF model giving one."""

from __future__ import annotations

import math

import pytest
from conftest import SEED, smollm2
from langchain_core.messages import AIMessage

from qa import QA, Settings
from qa.answering.llm import chat_model
from qa.answering.verification import (
    Verdict,
    Verifier,
    VerifierUnavailable,
    calibrated_for,
    first_token_logprobs,
    option_probabilities,
    verdict_from,
    verified_probability,
)


def test_option_probabilities_are_renormalised_over_the_sentence_numbers():
    logprobs = {"2": math.log(0.5), "0": math.log(0.2), "The": math.log(0.2)}
    probs = option_probabilities(logprobs, ["0", "1", "2"])
    assert sum(probs) == pytest.approx(1.0)
    # "1" was not among the model's top tokens: rarer than every number it did list.
    assert probs[2] > probs[0] > probs[1] > 0
    assert option_probabilities({"The": -0.1}, ["0", "1"]) is None


def _reply(alternatives: list[tuple[str, float | None]]) -> AIMessage:
    """A chat model's reply as LangChain carries OpenAI-style logprobs (probabilities given)."""
    top = [{"token": t, "logprob": math.log(p) if p else p} for t, p in alternatives]
    return AIMessage(content=top[0]["token"], response_metadata={"logprobs": {"content": [{"top_logprobs": top}]}})


def test_one_digit_written_any_way_is_the_same_answer():
    logprobs = first_token_logprobs(_reply([("0", 0.4), (" 1", 0.3), ("1", 0.1), ("1.", 0.1), ("Sentence", 0.1)]))
    assert math.exp(logprobs["1"]) == pytest.approx(0.5)
    assert Verifier(None, sentences=12).sentences == 9  # a "1" must not also be the start of "10"
    assert first_token_logprobs(AIMessage(content="0")) == {}


def test_odd_log_probabilities_neither_crash_nor_count():
    reply = AIMessage(
        content="1",
        response_metadata={
            "logprobs": {
                "content": [
                    {
                        "top_logprobs": [
                            {"token": "1", "logprob": -9999.0},
                            {"token": " 1", "logprob": -9999.5},
                            {"token": "0", "logprob": None},
                            {"token": "2", "logprob": float("-inf")},
                            {"token": "3", "logprob": -0.5},
                        ]
                    }
                ]
            }
        },
    )
    logprobs = first_token_logprobs(reply)
    assert set(logprobs) == {"1", "3"} and math.isfinite(logprobs["1"])
    verdict = verdict_from(logprobs, 3)
    assert verdict.choice == 3 and sum([verdict.none, verdict.first]) < 0.01


def test_a_model_that_does_not_answer_with_a_number_is_not_counted():
    # Mostly the start of a sentence, a little "1": renormalising alone would read a confident "1".
    verdict = verdict_from(first_token_logprobs(_reply([("The", 0.9), ("1", 0.05), ("0", 0.01)])), 6)
    assert verdict.first > 0.8 and not verdict.counted
    assert verdict_from(first_token_logprobs(_reply([("2", 0.7), ("0", 0.2)])), 6).counted
    assert verdict_from({"The": -0.1}, 6) is None


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
    assert set(answer.to_dict()["verdict"]) == {"none", "first", "choice", "counted"}
    assert "verdict" not in unchecked.to_dict()
    if answer.verdict["counted"]:
        assert answer.confidence != unchecked.confidence  # the verdict moved the calibrated probability
    else:
        assert answer.confidence == unchecked.confidence
    for c in answer.citations:
        assert seed_text[c.start : c.end] == c.quote

    with pytest.raises(VerifierUnavailable, match="needs a language model"):
        QA.load(seed_index, settings=Settings(llm=None, verify=True), embedder=embedder).ask(question)
    with pytest.raises(VerifierUnavailable, match="Ollama does not report"):
        QA.load(seed_index, settings=Settings(llm="ollama:qwen2.5", verify=True), embedder=embedder).ask(question)


def test_the_weights_are_known_to_fit_one_model_only():
    assert calibrated_for("models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    assert not calibrated_for(str(smollm2())) and not calibrated_for("openai:gpt-4o@http://localhost:8080/v1")
