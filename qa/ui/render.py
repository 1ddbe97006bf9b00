"""How an answer looks in the chat: quotes as literal Markdown (the short answer in bold),
written answers with their checked quotes marked, and the sources panel with each quote
highlighted in its passage. Every string from an article or a user is escaped here."""

from __future__ import annotations

import html
import re

from ..answering.presenting import plural
from ..engine import QA
from ..types import Answer

EMPTY_SOURCES = '<p class="qa-empty">The quotes of the selected answer appear here, in context.</p>'

CSS = """
.qa-header h1 { margin-bottom: 0; }
.qa-header p { margin-top: 4px; color: var(--body-text-color-subdued); }
.qa-status { font-size: 0.9em; color: var(--body-text-color-subdued); }
.qa-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; margin-bottom: 10px; }
.qa-source-head { font-weight: 600; }
.qa-source-meta { font-size: 0.85em; color: var(--body-text-color-subdued); margin: 2px 0 6px; }
.qa-context { line-height: 1.5; margin: 0; white-space: pre-wrap; }
.qa-context mark { background: #fde68a; color: #111; padding: 1px 2px; border-radius: 3px; }
.qa-empty { color: var(--body-text-color-subdued); font-style: italic; }
.qa-refused { color: var(--body-text-color-subdued); }
.qa-caveat { border-left: 4px solid #f59e0b; padding: 6px 10px; margin: 0 0 10px; background: rgba(245, 158, 11, 0.08); }
"""

# `$` too (the chat renders no math, but a `$$` must stay two dollars), and the `:` of
# "://", so that "https://…" is never auto-linked (the link would carry the escapes: "example\.com").
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<$]|:(?=//))")


def as_text(value: str) -> str:
    """Show `value` literally inside Markdown: no HTML, no formatting, no links, no math."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(value, quote=False))


def quote_markdown(c, short) -> str:
    """A quote as literal text, with the short answer in bold where it sits inside it."""
    if short is None or short.n != c.n or "\n" in short.text:
        return as_text(c.marked)
    a, b = short.start - c.start, short.end - c.start
    if not (0 <= a < b <= len(c.quote)) or c.quote[a:b] != short.text:
        return as_text(c.marked)
    before = ("…" if c.cut_start else "") + c.quote[:a]
    after = c.quote[b:] + ("…" if c.cut_end else "")
    # <strong>, not **: Markdown's ** opens only beside the right characters ("timetables**@…"
    # stays literal), and the quote must show as its own characters wherever the answer sits.
    return f"{as_text(before)}<strong>{as_text(short.text)}</strong>{as_text(after)}"


def render_sources(qa: QA, answer: dict) -> str:
    """The citations of one answer, each quote highlighted inside its surrounding passage."""
    esc = html.escape
    if answer.get("refused"):
        return f'<p class="qa-refused">No sources: the articles don\'t answer “{esc(answer["question"])}”.</p>'
    blocks = []
    written = answer.get("mode") == "generative"
    if answer.get("standalone_question"):
        blocks.append(f'<p class="qa-source-meta">Searched as: “{esc(answer["standalone_question"])}”</p>')
    if answer.get("uncertain"):
        # The chat scrolls the caveat out of view under long quotes; it stays in sight here.
        blocks.append(
            '<p class="qa-caveat">⚠️ qa is not sure these passages answer the question: the articles may not say.</p>'
        )
    for c in answer["citations"]:
        moved = " · re-attributed: the model named another passage" if c.get("reattributed") else ""
        try:
            before, quote, after = qa.context(c["source"], c["start"], c["end"])
        except ValueError:  # the article left the index since this answer
            before, quote, after = "", c["quote"], ""
        if quote != c["quote"]:  # it changed: its offsets now point at other words
            before, quote, after = "", c["quote"], ""
        blocks.append(
            f'<div class="qa-source"><div class="qa-source-head">[{c["n"]}] {esc(c["title"])}</div>'
            f'<div class="qa-source-meta">{esc(c["source"])} · characters {c["start"]}–{c["end"]} · '
            f"{'similarity' if written else 'confidence'} {c['score']:.2f}{moved}</div>"
            f'<p class="qa-context">{esc(before)}<mark>{esc(quote)}</mark>{esc(after)}</p></div>'
        )
    return f'<div class="qa-sources" data-question="{esc(answer["question"])}">{"".join(blocks)}</div>'


def render_written(answer: Answer) -> str:
    """A generative answer as Markdown: the model's prose as text, each checked quote marked."""
    markers = {f"“{c.quote}” [{c.n}]": c for c in answer.citations}
    out, pos = [], 0
    if markers:
        pattern = re.compile("|".join(re.escape(m) for m in sorted(markers, key=len, reverse=True)))
        for m in pattern.finditer(answer.answer):
            c = markers[m.group(0)]
            out.append(as_text(answer.answer[pos : m.start()]))
            out.append(f"“*{as_text(c.quote)}*” **[{c.n}]**")
            pos = m.end()
    out.append(as_text(answer.answer[pos:]))
    notes = ["*Written by a language model; every quoted passage was checked word for word against the articles.*"]
    removed = (answer.quotes or {}).get("removed", 0)
    if removed:
        verb = "was" if removed == 1 else "were"
        notes.append(
            f"*{plural(removed, 'quote')} the model wrote could not be found in the articles and {verb} removed.*"
        )
    return "".join(out) + "\n\n" + "  \n".join(notes)


def answer_choices(answers: dict) -> list[tuple[str, str]]:
    """(label, key) of each answer of a chat, oldest first: "2. When did …"."""
    keys = sorted(answers or {}, key=int)
    return [(f"{n}. {answers[k]['question'][:80]}", k) for n, k in enumerate(keys, 1)]
