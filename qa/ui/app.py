"""Gradio chat over `qa.QA`: streamed answers with quoted citations, sources in context,
articles added from the browser or dropped into the corpus folder.

No retrieval or answering logic lives here; every string that comes from an article
or a user is escaped before it reaches the page.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from ..answering.presenting import CAVEAT, fallback_note, plural
from ..config import SUPPORTED_SUFFIXES, Settings
from ..engine import QA
from ..indexing.indexer import BuildReport
from ..ingestion.files import Added, add_file
from ..types import Citation, InvalidQuestion
from .render import CSS, EMPTY_SOURCES, answer_choices, as_text, quote_markdown, render_sources, render_written

log = logging.getLogger("qa.ui")

EXAMPLES = [
    "What did Russia announce on Mar. 25?",
    "Why might Japan want closer ties with Russia?",
    "What is the only true stumbling block between Japan and Russia?",
    "What is one of Moscow's biggest foreign policy goals?",
]


class ChatApp:
    """State shared by every browser session: the engine, the corpus folder, the build log."""

    def __init__(self, qa: QA, corpus_dir: Path, read_only: bool = False):
        self.qa = qa
        self.corpus_dir = Path(corpus_dir)
        self.read_only = read_only
        """No uploads or deletions from the browser or the API; the folder watch still updates the index."""
        self.settings: Settings = qa.settings
        self.llm_name = Path(str(self.settings.llm)).name  # a model file's name, not its whole path
        self._build_lock = threading.Lock()
        self.events: deque[str] = deque(maxlen=20)

    # -- engine calls ------------------------------------------------------

    def update_index(self, changed: set[str] | None = None) -> BuildReport:
        """Incremental update (of the `changed` corpus paths only, when given); questions keep
        being answered from the old snapshot meanwhile."""
        with self._build_lock:
            report = self.qa.build_index(self.corpus_dir, progress=False, wait=300, on_message=self._note, only=changed)
        if report.changed_anything:
            self._note(f"index updated: {report.summary()}")
        return report

    def _note(self, line: str) -> None:
        self.events.append(f"{time.strftime('%H:%M:%S')}  {line}")
        log.warning(line)

    def add_article(self, name: str, data: bytes) -> Added:
        """Save an upload into the corpus folder (safe name, size limit, no duplicates)."""
        return add_file(self.corpus_dir, name, data, self.settings)

    def remove_article(self, name: str) -> str:
        """Delete the corpus file `name` (a path relative to the corpus folder); its source."""
        parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts or any(p.startswith(".") or not p.isprintable() for p in parts):
            raise ValueError(f"not an article name: {name!r}")
        path = self.corpus_dir.joinpath(*parts)
        if not path.resolve().is_relative_to(self.corpus_dir.resolve()) or path.is_symlink():
            raise ValueError(f"not an article name: {name!r}")
        if not path.is_file() or path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise FileNotFoundError(f"no article {name!r} in the corpus")
        path.unlink()
        sidecar = path.with_name(path.stem + ".meta.json")
        sidecar.unlink(missing_ok=True)
        return "/".join(parts)

    # -- chat --------------------------------------------------------------

    def respond(self, message: str, history: list, answers: dict, written: bool = True):
        history = list(history or [])
        answers = dict(answers or {})
        message = message or ""
        history.append({"role": "user", "content": as_text(message)})
        history.append({"role": "assistant", "content": "*Searching the articles…*"})
        index = len(history) - 1
        yield history, answers, gr.update(), ""
        mode = "generative" if self.qa.generative and written else "extractive"
        answer = None
        try:
            text, checked = "", 0
            for event in self.qa.stream(message, history=self._turns(answers), mode=mode):
                if isinstance(event, str):  # the model writing: shown as plain text until checked
                    text += event
                elif isinstance(event, Citation):
                    checked += 1
                else:
                    answer = event
                    break
                note = f"\n\n*✓ {plural(checked, 'quote')} checked so far*" if checked else ""
                history[index]["content"] = f"✍️ {as_text(text)}{note}"
                yield history, answers, gr.update(), ""
        except InvalidQuestion as exc:
            history[index]["content"] = f"⚠️ {as_text(str(exc)[:200])}"
            yield history, answers, gr.update(), ""
            return
        except Exception:
            log.exception("question failed")
            history[index]["content"] = "⚠️ Something went wrong while answering. The details are in the server log."
            yield history, answers, gr.update(), ""
            return
        answers[str(index)] = answer.to_dict()
        if answer.refused:
            count = self.qa.info()["documents"]
            history[index]["content"] = (
                f"🚫 **The articles don't say.** Nothing in the {plural(count, 'indexed article')} "
                "answers this question, so there is nothing to quote."
            )
            yield history, answers, render_sources(self.qa, answer.to_dict()), ""
            return
        if answer.mode == "generative":
            history[index]["content"] = render_written(answer)
            yield history, answers, render_sources(self.qa, answer.to_dict()), ""
            return
        parts: list[str] = []
        if answer.uncertain:
            parts.append(f"⚠️ *{as_text(CAVEAT)}*")
        note = fallback_note(answer)
        if note:
            parts.append(f"*{as_text(note)}*")
        for c in answer.citations:  # stream quote by quote
            # Every line of the quote in the block quote: a quote can span paragraphs.
            quoted = f"“{quote_markdown(c, answer.short_answer)}” **[{c.n}]**".replace("\n", "\n> ")
            parts.append(f"> {quoted}\n>\n> — *{as_text(c.title)}*")
            history[index]["content"] = "\n\n".join(parts)
            yield history, answers, gr.update(), ""
            time.sleep(0.05)
        yield history, answers, render_sources(self.qa, answer.to_dict()), ""

    @staticmethod
    def _turns(answers: dict) -> list[tuple[str, str]]:
        """Earlier (question, answer) pairs of this chat, oldest first, for follow-up questions."""
        turns = []
        for key in sorted(answers, key=int):
            a = answers[key]
            turns.append((a.get("standalone_question") or a["question"], a["answer"]))
        return turns

    def select(self, answers: dict, evt: gr.SelectData):
        index = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        for key in (str(index), str(int(index) + 1)):  # the answer, or the question before it
            if key in (answers or {}):
                return render_sources(self.qa, answers[key]), gr.update(value=key)
        return gr.update(), gr.update()

    @staticmethod
    def picks(answers: dict):
        """The answer picker, newest chosen: the keyboard's way to what a click on a chat
        message shows (chat messages take no focus)."""
        choices = answer_choices(answers)
        return gr.update(choices=choices, value=choices[-1][1] if choices else None)

    def pick(self, key: str | None, answers: dict):
        answer = (answers or {}).get(str(key)) if key is not None else None
        return render_sources(self.qa, answer) if answer else EMPTY_SOURCES

    # -- articles ----------------------------------------------------------

    def upload(self, files, progress=gr.Progress()):  # noqa: B008  (Gradio's injection idiom)
        if not files:
            return gr.update(), self.status(), self.articles()
        lines = []
        saved = 0
        for item in files:
            path = Path(item if isinstance(item, str) else item.name)
            data = path.read_bytes()
            added = self.add_article(path.name, data)
            lines.append(added.message)
            saved += added.source is not None
        if saved:
            progress(0.2, desc="Updating the index…")
            report = self.update_index()
            lines.append(f"Index updated: {report.summary()}.")
            lines.extend(f"Skipped {s.source}: {s.reason}" for s in report.skipped)
        return "\n".join(f"- {as_text(line)}" for line in lines), self.status(), self.articles()

    def status(self) -> str:
        info = self.qa.info()
        text = (
            f"**{info['documents']:,}** articles · **{info['chunks']:,}** chunks · model `{info['model']}` · "
            f"index {info['version']}, built {info['built_at'].replace('T', ' ').replace('+00:00', ' UTC')}"
        )
        if self.settings.verify:
            text += f" · answers checked by `{self.llm_name}`"
        if self.events:
            text += "  \nLast: " + as_text(self.events[-1])
        return text

    def articles(self) -> list[list]:
        return [[d.title, d.source, d.chars, d.chunks, d.added.replace("T", " ")] for d in self.qa.documents()]

    def refresh(self):
        self.qa.reload()
        return self.status(), self.articles()

    # -- layout ------------------------------------------------------------

    def blocks(self) -> gr.Blocks:
        with gr.Blocks(title="qa — ask your articles", fill_width=True) as demo:
            answers = gr.State({})
            gr.Markdown(
                "# qa — ask your articles\n"
                "Answers quote your articles word for word, with numbered citations; "
                "when the articles don't say, qa tells you so.",
                elem_classes="qa-header",
            )
            status = gr.Markdown(self.status(), elem_classes="qa-status", elem_id="qa-status")
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Chat",
                        height=520,
                        elem_id="qa-chat",
                        allow_tags=False,
                        sanitize_html=True,
                        feedback_options=None,
                        # No copy button: it copies the message's escaped Markdown, not the quote
                        # (selecting the text copies what is shown). No math: "$$4,000$$" is text.
                        buttons=[],
                        latex_delimiters=[],
                        placeholder="Ask a question about the articles. Every answer is a verbatim quote.",
                    )
                    with gr.Row():
                        box = gr.Textbox(
                            label="Question",  # its accessible name; shown by the placeholder
                            placeholder="Ask about the articles…",
                            show_label=False,
                            scale=5,  # no max_length: a longer question gets qa's message, not a silent cut
                            elem_id="qa-question",
                            autofocus=True,
                        )
                        ask = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-ask")
                    if self.qa.generative:
                        written = gr.Checkbox(
                            value=True,
                            label=f"Answer in sentences with a language model ({self.llm_name}); "
                            "every quote it writes is checked",
                            elem_id="qa-written",
                        )
                    else:
                        written = gr.State(False)
                    gr.Examples(EXAMPLES, inputs=box, label="Try")
                with gr.Column(scale=2):
                    with gr.Tab("Sources"):
                        pick = gr.Dropdown(
                            choices=[],
                            value=None,
                            label="Sources of the answer to",
                            interactive=True,
                            elem_id="qa-pick",
                        )
                        sources = gr.HTML(EMPTY_SOURCES, elem_id="qa-sources")
                    with gr.Tab("Articles"):
                        if self.read_only:
                            gr.Markdown(
                                "*This server is read-only: articles are added in its corpus folder.*",
                                elem_id="qa-read-only",
                            )
                        else:
                            uploads = gr.File(
                                label="Add articles (" + ", ".join(SUPPORTED_SUFFIXES) + ")",
                                file_count="multiple",
                                file_types=list(SUPPORTED_SUFFIXES),
                                elem_id="qa-upload",
                            )
                            upload_log = gr.Markdown(elem_id="qa-upload-log")
                        table = gr.Dataframe(
                            value=self.articles(),
                            headers=["Title", "File", "Characters", "Chunks", "Added"],
                            datatype=["str", "str", "number", "number", "str"],
                            interactive=False,
                            wrap=True,
                            elem_id="qa-articles",
                        )
            outputs = [chatbot, answers, sources, box]
            inputs = [box, chatbot, answers, written]
            hidden = {"api_visibility": "private", "show_progress": "hidden"}
            asked = box.submit(self.respond, inputs, outputs, api_name="ask_stream", show_progress="hidden")
            asked.then(self.picks, [answers], [pick], **hidden)
            ask.click(self.respond, inputs, outputs, **hidden).then(self.picks, [answers], [pick], **hidden)
            chatbot.select(self.select, [answers], [sources, pick], api_visibility="private")
            # `input`, not `change`: only a user's choice, not the update after each answer.
            pick.input(self.pick, [pick, answers], [sources], **hidden)
            # Cleared means forgotten: the next question leans on nothing, and Sources empties.
            chatbot.clear(
                lambda: ({}, EMPTY_SOURCES, gr.update(choices=[], value=None)),
                None,
                [answers, sources, pick],
                api_visibility="private",
            )
            if not self.read_only:  # no upload event at all: nothing for a client to call
                uploads.upload(self.upload, [uploads], [upload_log, status, table], api_name="upload")
            gr.Timer(3).tick(self.refresh, None, [status, table], api_visibility="private", show_progress="hidden")
            gr.api(self.api_ask, api_name="ask")
        return demo

    def api_ask(self, question: str) -> dict:
        """One question, one JSON answer (same shape as `qa ask --json`)."""
        try:
            return self.qa.ask(question).to_dict()
        except InvalidQuestion as exc:
            return {"question": question, "error": str(exc)}


def create_app(qa: QA, corpus_dir: Path, watch: bool = True, read_only: bool = False):
    """The Blocks app and its state; with `watch`, a thread keeps the index in step with the folder."""
    app = ChatApp(qa, corpus_dir, read_only=read_only)
    demo = app.blocks()
    if watch:
        from ..indexing.watch import start_watcher

        app.watcher = start_watcher(corpus_dir, app.update_index)
    return demo, app


def launch(
    demo: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    block: bool = True,
    chat: ChatApp | None = None,
    credentials=None,
):
    """Serve the chat, and with `chat` the JSON API beside it on the same server (qa/serving/server.py);
    with `credentials`, both need them (qa/serving/auth.py)."""
    from ..serving.server import server_app

    demo.queue(default_concurrency_limit=8)
    # A share link's tunnel sends its own Host header: to MCP that is a server beyond this machine.
    app = server_app(chat, credentials, "0.0.0.0" if share else host) if chat is not None else None
    theme = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    return demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        theme=theme,
        css=CSS,
        show_error=False,
        prevent_thread_lock=not block,
        footer_links=[],
        quiet=not share,  # `qa serve` prints the address; Gradio would also suggest `share=True` in `launch()`
        auth=credentials.login_async if credentials else None,
        auth_message="Sign in with your user name and password, or any name and the server's token.",
        _app=app,
        # Gradio sets the app's lifespan itself; what the doors need running (MCP's sessions) joins it.
        app_kwargs={"lifespan": app.state.lifespan} if app is not None else None,
    )
