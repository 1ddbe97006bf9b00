"""The OpenAI-compatible door of `qa serve`, driven by other people's clients: the official
`openai` SDK (plain and streamed, its error classes) and LangChain's `ChatOpenAI`, against a
really launched, guarded server over the seed article."""

from __future__ import annotations

import httpx
import openai
import pytest
from conftest import SEED_SOURCE, guarded_chat, start_chat
from langchain_core.language_models.fake_chat_models import FakeListChatModel

pytestmark = pytest.mark.slow

TOKEN = "test-token-openai-0123456789"
QUESTION = "What did Russia announce on Mar. 25?"


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, embedder):
    yield from guarded_chat(tmp_path_factory, "openai", TOKEN, settings, embedder)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server["url"] + "v1", api_key=TOKEN, max_retries=0, timeout=60)


def _article(server) -> str:
    return (server["corpus"] / SEED_SOURCE).read_text(encoding="utf-8")


def test_the_openai_sdk_gets_a_verbatim_quote_with_its_citation(server, client):
    assert [m.id for m in client.models.list()] == ["qa"]  # no language model: extractive only
    reply = client.chat.completions.create(model="qa", messages=[{"role": "user", "content": QUESTION}])
    message = reply.choices[0].message
    assert reply.object == "chat.completion" and reply.choices[0].finish_reason == "stop"
    assert message.role == "assistant" and "Russia announced on Mar. 25" in message.content
    assert "[1] " in message.content and SEED_SOURCE in message.content  # the sources under the quotes
    citations = reply.model_extra["citations"]
    text = _article(server)
    assert citations and all(
        text[c["start"] : c["end"]] == c["quote"] and c["quote"] in message.content for c in citations
    )
    assert reply.model_extra["qa"]["refused"] is False


def test_streamed_chunks_add_up_to_the_plain_answer_and_end_with_done(server, client):
    plain = client.chat.completions.create(model="qa", messages=[{"role": "user", "content": QUESTION}])
    chunks = list(
        client.chat.completions.create(model="qa", messages=[{"role": "user", "content": QUESTION}], stream=True)
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain.choices[0].message.content
    assert chunks[-1].model_extra["citations"] == plain.model_extra["citations"]
    # On the wire, exactly as OpenAI sends it: `data: {...}` events and a last `data: [DONE]`.
    with httpx.stream(
        "POST",
        server["url"] + "v1/chat/completions",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"model": "qa", "stream": True, "messages": [{"role": "user", "content": QUESTION}]},
        timeout=60,
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert events[-1] == "data: [DONE]" and all(e.startswith("data: ") for e in events)


def test_a_refusal_is_an_ordinary_assistant_message(client):
    reply = client.chat.completions.create(
        model="qa", messages=[{"role": "user", "content": "Who won the 2018 World Cup?"}]
    )
    assert reply.choices[0].message.content.startswith("The articles don't say")
    assert reply.model_extra["citations"] == [] and reply.model_extra["qa"]["refused"] is True


def test_a_follow_up_reads_the_conversation(client):
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "What did Russia announce on Mar. 25?"},
        {"role": "assistant", "content": "It planned to deploy missile defense systems."},
        {"role": "user", "content": [{"type": "text", "text": "Where will it deploy them?"}]},
    ]
    reply = client.chat.completions.create(model="qa", messages=messages)
    assert "Kuril" in reply.choices[0].message.content
    assert reply.model_extra["qa"].get("standalone_question")


def test_errors_are_openai_errors_with_the_right_status(server, client):
    with pytest.raises(openai.AuthenticationError) as bad_key:
        openai.OpenAI(base_url=server["url"] + "v1", api_key="wrong", max_retries=0).models.list()
    assert bad_key.value.status_code == 401 and bad_key.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert unknown.value.code == "model_not_found" and "qa-generative needs a language model" in unknown.value.message
    with pytest.raises(openai.BadRequestError) as no_question:
        client.chat.completions.create(model="qa", messages=[{"role": "system", "content": "Be brief."}])
    assert "no user question" in no_question.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="qa", messages=[{"content": "no role"}])
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model="qa", messages=[{"role": "user", "content": "   "}])
    assert empty.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as not_text:  # never str() a dict into a question
        client.chat.completions.create(
            model="qa", messages=[{"role": "user", "content": [{"type": "text", "text": {"a": 1}}]}]
        )
    assert "must be a string" in not_text.value.message
    # OpenAI's API takes null for `stream` (and for a text part's text): not streamed, and no text.
    parts = [{"type": "text", "text": None}, {"type": "text", "text": QUESTION}]
    reply = client.chat.completions.create(model="qa", messages=[{"role": "user", "content": parts}], stream=None)
    assert reply.model_extra["qa"]["question"] == QUESTION and not reply.model_extra["qa"]["refused"]
    raw = httpx.post(
        server["url"] + "v1/chat/completions",
        json={"model": "qa", "stream": None, "messages": [{"role": "user", "content": parts}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    assert raw.status_code == 200 and raw.json()["object"] == "chat.completion"


def test_langchain_chat_openai_talks_to_qa(server):
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="qa", base_url=server["url"] + "v1", api_key=TOKEN, max_retries=0, timeout=60)
    reply = model.invoke(QUESTION)
    assert "Russia announced on Mar. 25" in reply.content
    streamed = "".join(chunk.content for chunk in model.stream(QUESTION))
    assert streamed == reply.content


def test_generative_mode_is_offered_when_a_model_is_configured(tmp_path, settings, embedder):
    scripted = FakeListChatModel(
        responses=['Russia said it would deploy missiles: "Russia announced on Mar. 25" [1]'] * 4
    )
    chat = start_chat(tmp_path, settings, embedder, llm=scripted, watch=False)
    try:
        client = openai.OpenAI(base_url=chat["url"] + "v1", api_key="unused", max_retries=0, timeout=60)
        assert [m.id for m in client.models.list()] == ["qa", "qa-generative"]
        reply = client.chat.completions.create(model="qa-generative", messages=[{"role": "user", "content": QUESTION}])
        text = _article(chat)
        for c in reply.model_extra["citations"]:
            assert text[c["start"] : c["end"]] == c["quote"]
        assert reply.model_extra["qa"]["mode"] in ("generative", "fallback")
    finally:
        chat["demo"].close()
