"""The chat in generative mode, really launched, with a scripted LangChain chat model:
written answers stream in, checked quotes are marked, invented ones never shown, follow-ups work."""

from __future__ import annotations

import pytest
from conftest import SEED, start_chat
from langchain_core.language_models.fake_chat_models import FakeListChatModel

pytestmark = pytest.mark.slow

ANNOUNCED = (
    "Russia announced on Mar. 25 that it planned to deploy missile defense systems and military drones "
    "on the disputed Kuril Islands by the end of the year"
)
INVENTED = "Tokyo will buy Russian gas from the islands"
REWRITE = "What did Shinzo Abe discuss in Moscow one year before the crisis in Ukraine?"


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, embedder):
    replies = [
        f'Russia said it "{ANNOUNCED}" [1], and that "{INVENTED}" [1].',
        REWRITE,  # the follow-up's rewrite
        'Abe came "to discuss Japan-Russia collaboration on a variety of fronts" [1].',
    ]
    llm = FakeListChatModel(responses=replies, sleep=0.01)
    chat = start_chat(tmp_path_factory.mktemp("ui-generative"), settings, embedder, llm=llm, watch=False)
    yield chat["url"]
    chat["demo"].close()


def _text(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def test_written_answer_streams_and_only_checked_quotes_are_shown(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    # Inputs: the question, the chat so far, the "answer in sentences" box (the per-chat State stays on the server).
    job = client.submit("What did Russia announce on Mar. 25?", [], True, api_name="/ask_stream")
    job.result()
    outputs = job.outputs()
    drafts = [_text(o[0][-1]) for o in outputs]
    assert any(d.startswith("✍️") for d in drafts), "the model's text should stream in before it is checked"
    history, sources, _ = outputs[-1]
    final = _text(history[-1])
    assert "checked word for word" in final and "could not be found in the articles and was removed" in final
    assert "Russian gas" not in final and "Russian gas" not in sources
    assert "<mark>" in sources and "Kuril Islands" in sources
    assert "Mar\\. 25 that it planned to deploy" in final  # the checked quote, shown as text
    text = SEED.read_text(encoding="utf-8")
    assert ANNOUNCED in text

    # A follow-up in the same chat is rewritten with the conversation, then answered.
    job = client.submit("What did he talk about?", history, True, api_name="/ask_stream")
    job.result()
    history, sources, _ = job.outputs()[-1]
    assert "Japan\\-Russia collaboration" in _text(history[-1])
    assert "Searched as" in sources and "Shinzo Abe discuss in Moscow" in sources
