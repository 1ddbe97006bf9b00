"""Generative mode with a real local model: SmolLM2-135M (GGUF, from PyPI) run by llama.cpp.

The model is tiny and often answers badly; what is tested is the plumbing and the promise:
it really generates, the text streams, and whatever it writes, every citation shown is verbatim.
"""

from __future__ import annotations

import pytest
from conftest import SEED, smollm2

from qa import QA, Answer, Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llm_qa(seed_index, embedder):
    settings = Settings(llm=str(smollm2()), llm_passages=2, llm_max_tokens=80, llm_context_tokens=2048)
    return QA.load(seed_index, settings=settings, embedder=embedder)


def test_a_real_local_model_streams_an_answer_with_only_verbatim_citations(llm_qa):
    seed_text = SEED.read_text(encoding="utf-8")
    events = list(llm_qa.stream("What did Russia announce on Mar. 25?"))
    text = "".join(e for e in events if isinstance(e, str))
    answer = events[-1]
    assert isinstance(answer, Answer)
    assert len(text.split()) >= 3, "the model generated (almost) nothing"
    assert answer.mode in ("generative", "fallback") and not answer.refused
    assert answer.timings["generate_ms"] > 0 and answer.timings["first_token_ms"] <= answer.timings["generate_ms"]
    assert answer.citations
    for c in answer.citations:
        assert seed_text[c.start : c.end] == c.quote
    if answer.mode == "generative":
        for c in answer.citations:
            assert f"“{c.quote}” [{c.n}]" in answer.answer


def test_a_real_local_model_is_not_asked_what_the_articles_dont_cover(llm_qa):
    answer = llm_qa.ask("Who won the football World Cup in 2010?")
    assert answer.refused and not answer.citations
