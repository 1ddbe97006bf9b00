"""The chat UI, really launched: gradio_client against the server, the folder watcher, safety."""

from __future__ import annotations

import shutil
import time

import pytest
from conftest import SEED, start_chat

pytestmark = pytest.mark.slow

HARBOUR = """Harbour wall to be rebuilt after winter storms

The harbour wall at Port Ellen will be rebuilt at a cost of 3.1 million pounds, the council said. Work starts in May and should take eighteen months. The old wall was breached twice during the January storms.
"""

SCRIPTED = """<html><head><title>Scripted page</title></head><body>
<p>The museum of tide clocks opens on Saturday. Visitors will see the <b>oldest tide clock</b> in Scotland,
built in 1791 by a clockmaker named &lt;script&gt;alert('pwned')&lt;/script&gt; Ferguson.</p>
<script>alert('real script')</script></body></html>
"""

MARKUP = """Guild sets the labelling rules

The new labelling rules would cost each shop about $$4,000$$ a year, the guild said.
The guild chair posted the details at https://example.com/rules for members.
Questions about the timetable can be sent to timetables@calmac.example.org before May.
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, embedder):
    chat = start_chat(tmp_path_factory.mktemp("ui"), settings, embedder, watch=True)
    yield chat
    chat["app"].watcher[1].set()
    chat["demo"].close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server["url"], verbose=False)


def _ask(client, question: str) -> dict:
    return client.predict(question, api_name="/ask")


def test_question_about_the_seed_is_quoted_verbatim(client):
    answer = _ask(client, "What did Russia announce on Mar. 25?")
    assert answer["refused"] is False and answer["citations"]
    text = SEED.read_text(encoding="utf-8")
    for c in answer["citations"]:
        assert text[c["start"] : c["end"]] == c["quote"]
    assert "Kuril Islands" in answer["citations"][0]["quote"]


def test_off_topic_question_is_refused(client):
    answer = _ask(client, "What is a good recipe for banana bread?")
    assert answer["refused"] is True and answer["citations"] == []


def test_bad_questions_get_a_short_message(client):
    assert "empty" in _ask(client, "   ")["error"]
    assert "too long" in _ask(client, "why " * 3000)["error"]


def test_chat_streams_and_keeps_sources_per_answer(client):
    job = client.submit("Why might Japan want closer ties with Russia?", api_name="/ask_stream")
    job.result()
    outputs = job.outputs()
    assert len(outputs) >= 3  # placeholder, then the answer quote by quote
    history, sources, box = outputs[-1]
    assert history[-1]["role"] == "assistant" and "[1]" in str(history[-1]["content"])
    assert "<mark>" in sources and box == ""


def test_an_unsure_answer_says_so(client):
    """A question qa answers with a probability between its two thresholds (about 0.24 for
    this one over the seed article, with the reader v2) shows the caveat above its quotes."""
    from qa.answering.presenting import CAVEAT

    question = "How will Japan respond to the deployment?"
    answer = _ask(client, question)
    assert answer["refused"] is False and answer["citations"]
    assert answer["answer"].startswith(CAVEAT)
    job = client.submit(question, api_name="/ask_stream")
    job.result()
    history, sources, _ = job.outputs()[-1]
    assert "qa-caveat" in sources and "may not say" in sources  # still in sight beside long quotes
    shown = str(history[-1]["content"])  # Gradio keeps the message as a list of text parts
    assert f"⚠️ *{CAVEAT}*" in shown and "[1]" in shown
    assert shown.index(CAVEAT) < shown.index("[1]")
    # A quote that spans two paragraphs of the article keeps both inside its block quote.
    both = "What remains to be seen about Abe and Putin, and how should Moscow's attempts to improve ties with Japan be seen?"
    job = client.submit(both, api_name="/ask_stream")
    job.result()
    shown = str(job.outputs()[-1][0][-1]["content"])
    assert "> “What remains to be seen" in shown and "> For Moscow, any attempts" in shown
    plain = _ask(client, "What did Russia announce on Mar. 25?")
    assert not plain["answer"].startswith(CAVEAT)
    job = client.submit("What did Russia announce on Mar. 25?", api_name="/ask_stream")
    job.result()
    assert "qa-caveat" not in job.outputs()[-1][1]


def test_uploaded_article_is_answerable_at_once(client, server, tmp_path):
    from gradio_client import handle_file

    path = tmp_path / "harbour wall ü.txt"
    path.write_text(HARBOUR, encoding="utf-8")
    log, status, table = client.predict([handle_file(str(path))], api_name="/upload")
    assert "saved as" in log and "1 added" in log
    assert "harbour wall ü.txt" in str(table) and "articles" in status
    saved = [p.name for p in server["corpus"].iterdir() if p.name.startswith("harbour")]
    assert saved == ["harbour wall ü.txt"]
    answer = _ask(client, "How much will rebuilding the Port Ellen harbour wall cost?")
    assert not answer["refused"] and "3.1 million" in answer["citations"][0]["quote"]

    # The same file again is recognised as a duplicate, not saved twice.
    log, _, _ = client.predict([handle_file(str(path))], api_name="/upload")
    assert "already in the corpus" in log


def test_upload_names_cannot_escape_the_corpus(server, tmp_path):
    from qa.ingestion.files import add_file

    corpus = server["corpus"]
    for name in ("../../escape.txt", "/etc/passwd.txt", "..\\..\\win.txt"):
        added = add_file(corpus, name, b"Escaping text. Second sentence.", server["qa"].settings)
        assert added.source is not None and "/" not in added.source
        assert (corpus / added.source).resolve().parent == corpus.resolve()
        (corpus / added.source).unlink()
    assert not (corpus.parent / "escape.txt").exists()


def test_file_copied_into_the_folder_becomes_answerable(client, server, tmp_path):
    source = tmp_path / "ferry.txt"
    source.write_text(
        "Ferry timetable changes\n\nThe evening ferry to Islay will leave at 18:40 from next Monday. "
        "The ferry company blamed a shortage of crew.\n",
        encoding="utf-8",
    )
    shutil.copy(source, server["corpus"] / "ferry.txt")
    deadline = time.time() + 60
    answer = None
    while time.time() < deadline:
        answer = _ask(client, "When will the evening ferry to Islay leave?")
        if not answer["refused"] and answer["citations"][0]["source"] == "ferry.txt":
            break
        time.sleep(1)
    assert answer["citations"] and answer["citations"][0]["source"] == "ferry.txt"
    assert any("index updated" in line for line in server["app"].events)


def test_html_in_articles_is_shown_as_text(client, server):
    from qa.ui.render import as_text, render_sources

    (server["corpus"] / "scripted.html").write_text(SCRIPTED, encoding="utf-8")
    server["app"].update_index()
    answer = _ask(client, "Who built the oldest tide clock in Scotland?")
    assert not answer["refused"]
    quote = answer["citations"][0]["quote"]
    assert "<script>alert('pwned')</script>" in quote  # the article's own words, kept verbatim
    assert "real script" not in quote  # a real <script> element is not article text
    rendered = render_sources(server["qa"], answer)
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
    assert "<script>" not in as_text(quote) and "<b>" not in as_text("<b>x</b>")


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.mark.browser
def test_chat_in_a_real_browser(server, tmp_path):
    """Open the page, ask, see the answer and the highlighted quote; keep a screenshot."""
    import os
    from pathlib import Path

    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is missing: run `make test` (scripts/setup.sh --test) to install it")
    from playwright.sync_api import sync_playwright

    artifacts = Path(__file__).parent / "artifacts"
    artifacts.mkdir(exist_ok=True)
    if not (server["corpus"] / "scripted.html").exists():
        (server["corpus"] / "scripted.html").write_text(SCRIPTED, encoding="utf-8")
        server["app"].update_index()
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 900},
        )
        try:
            page = browser.new_page()
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(server["url"], wait_until="load")
            page.locator("#qa-question textarea").wait_for(timeout=30_000)
            assert "ask your articles" in page.content()
            box = page.locator("#qa-question textarea")
            box.fill("What did Russia announce on Mar. 25?")
            box.press("Enter")
            mark = page.locator("#qa-sources mark").first
            mark.wait_for(timeout=30_000)
            assert "Kuril Islands" in mark.inner_text()
            bubble = page.locator("#qa-chat").get_by_text("military drones", exact=False).first
            bubble.wait_for(timeout=10_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(artifacts / "chat.png"), full_page=True)

            # The short answer is bold inside its quote in the chat bubble, as the browser shows it.
            box.fill("When did Russia announce the deployment on the Kuril Islands?")
            box.press("Enter")
            bold = page.locator("#qa-chat strong", has_text="Mar. 25").first
            bold.wait_for(timeout=30_000)
            assert bold.inner_text() == "Mar. 25"
            # The chat takes no next question until this answer has finished streaming.
            page.locator('#qa-sources [data-question^="When did Russia"]').wait_for(timeout=30_000)

            # An answer quoting HTML from an article shows it as text and runs nothing.
            box.fill("Who built the oldest tide clock in Scotland?")
            box.press("Enter")
            page.locator("#qa-sources mark", has_text="tide clock").first.wait_for(timeout=30_000)
            assert "<script>alert('pwned')</script>" in page.locator("#qa-sources").inner_text()
            page.wait_for_timeout(500)
            assert dialogs == []

            # Dollars, a web address and an e-mail address in an article: shown as the
            # article's own characters (no math, no link with escapes in it), the short
            # answer in bold wherever it sits.
            (server["corpus"] / "markup.txt").write_text(MARKUP, encoding="utf-8")
            server["app"].update_index()
            for question in (
                "How much would the labelling rules cost each shop?",
                "Where did the guild chair post the details?",
                "Where can questions about the timetable be sent?",
            ):
                box.fill(question)
                box.press("Enter")
                page.locator(f'#qa-sources [data-question^="{question[:20]}"]').wait_for(timeout=30_000)
                last = page.locator("#qa-chat [data-testid=bot]").last
                shown = last.inner_text()
                quote = page.locator("#qa-sources mark").first.inner_text()
                assert quote in MARKUP and quote in shown, (question, shown)
                assert last.locator(".katex, a").count() == 0, last.inner_html()
                assert "**" not in shown and "\\" not in shown
            # The last one's short answer, if any, is bold inside the quote.
            for strong in last.locator("strong").all():
                assert strong.inner_text() in MARKUP or strong.inner_text().startswith("[")

            # Chat messages take no focus: the keyboard reaches an earlier answer's Sources
            # through the answer picker, which names every question asked, newest chosen.
            pick = page.get_by_label("Sources of the answer to")
            page.wait_for_function(
                "() => document.querySelector('#qa-pick input').value.startsWith('6. Where can questions')",
                timeout=10_000,
            )
            pick.focus()
            pick.fill("1. What did Russia")
            pick.press("ArrowDown")
            pick.press("Enter")
            page.locator('#qa-sources [data-question^="What did Russia announce"]').wait_for(timeout=10_000)
            assert "Kuril Islands" in page.locator("#qa-sources mark").first.inner_text()

            # Cleared means forgotten: a follow-up after Clear leans on nothing.
            page.locator("#qa-chat button[aria-label='Clear']").click()
            page.locator("#qa-sources .qa-empty").wait_for(timeout=10_000)
            assert pick.input_value() == ""
            box.fill("And what about its sales?")
            box.press("Enter")
            page.locator('#qa-sources [data-question^="And what about"], #qa-sources .qa-refused').wait_for(
                timeout=30_000
            )
            assert "Searched as" not in page.locator("#qa-sources").inner_text()
            assert page.get_by_role("textbox", name="Question").count() == 1  # the box has a name
        finally:
            browser.close()
