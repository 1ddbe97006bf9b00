"""Turn a follow-up ("And what did Japan do then?") into a question that stands alone.

Retrieval sees one question at a time, so a follow-up that leans on the previous
turn ("it", "they", "then", "what about …") must carry that turn's subject with it.

- Extractive mode, no model: when the new question leans on context (a pronoun or
  a leading "and/but/what about", or fewer than two content words), the previous
  question's key terms that it lacks are appended in brackets:
  "And what did Japan do then? (Russia announce Mar 25)". Retrieval is a bag of
  words and a vector, so the appended terms steer both without any rewriting.
- Generative mode: the language model rewrites the question from the conversation;
  an empty, over-long or multi-line reply falls back to the rule above.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..types import InvalidQuestion
from ..words import STOPWORDS, content_words

_LEANS_ON_CONTEXT = re.compile(
    r"\b(?:he|him|his|she|her|hers|it|its|they|them|their|theirs|this|that|these|those|there|then|"
    r"the same|such|the former|the latter|the other|else)\b|^\s*(?:and|but|also|so|or|what about|how about)\b",
    re.I,
)
_TERM = re.compile(r"[^\W_]+(?:[.'’-][^\W_]+)*", re.U)
_QUESTION_WORDS = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "do", "does", "did"}

REWRITE_INSTRUCTIONS = (
    "Rewrite the user's last question so that it can be understood without the conversation: "
    "replace pronouns and vague references with what they refer to. Keep it one short question. "
    "Reply with the rewritten question only."
)


def leans_on_context(question: str) -> bool:
    return bool(_LEANS_ON_CONTEXT.search(question)) or len(content_words(question)) < 2


CARRIED_TERMS = 12
"""At most this many of the last question's terms are carried over: a question has fewer, and a
client's history may hold any text."""
CARRIED_TURNS = 8
"""Only the last turns can matter to a follow-up; a long conversation costs no more than this."""


def carry_over(question: str, previous: Sequence[str]) -> str:
    """The rule-based rewrite: `question` plus the last question's key terms it lacks."""
    if not previous or not leans_on_context(question):
        return question
    seen = {w.lower() for w in _TERM.findall(question)} | STOPWORDS | _QUESTION_WORDS
    extra: list[str] = []
    for found in _TERM.finditer(previous[-1]):
        term = found.group()
        low = term.lower()
        if low in seen or len(term) > 40:  # 40: no word is longer; a run of letters is not a term
            continue
        seen.add(low)
        extra.append(term)
        if len(extra) == CARRIED_TERMS:
            break
    return f"{question} ({' '.join(extra)})" if extra else question


def rewrite_with_model(question: str, turns: Sequence[tuple[str, str]], model) -> str:
    """The model's stand-alone version of `question`; `turns` are earlier (question, answer) pairs."""
    previous = [q for q, _ in turns]
    if not turns or not leans_on_context(question):
        return question
    from langchain_core.messages import HumanMessage, SystemMessage

    lines = []
    for q, a in turns[-3:]:
        lines.append(f"User: {q}")
        lines.append(f"Assistant: {a[:600]}")
    prompt = "Conversation:\n" + "\n".join(lines) + f"\n\nLast question: {question}\nStand-alone question:"
    try:
        reply = str(model.invoke([SystemMessage(REWRITE_INSTRUCTIONS), HumanMessage(prompt)]).text)
    except Exception:
        return carry_over(question, previous)
    reply = reply.strip().strip("\"“”'").strip()
    if not reply or "\n" in reply or len(reply) > 3 * len(question) + 200:
        return carry_over(question, previous)
    return reply


def conversation_turns(messages: Sequence[dict], rule_based: bool) -> tuple[str, list[tuple[str, str]]]:
    """The question a conversation (`{"role", "content"}` dicts) ends on and its earlier
    (question, answer) turns; other roles (system, tool) are not questions. `rule_based`:
    earlier questions are made to stand alone too, as `carry_over` needs."""
    turns: list[tuple[str, str]] = []
    pending: str | None = None
    for m in messages:
        role, content = m.get("role"), str(m.get("content") or "")
        if role == "user":
            if pending is not None:
                turns.append((pending, ""))
            pending = content
        elif role == "assistant" and pending is not None:
            turns.append((pending, content))
            pending = None
    if pending is None:
        raise InvalidQuestion("the conversation has no user question to answer")
    turns = turns[-CARRIED_TURNS:]
    if rule_based:
        # The rule-based rewrite needs each earlier question to stand alone too.
        standalone: list[str] = []
        for q, _ in turns:
            standalone.append(carry_over(q, standalone))
        turns = [(q, a) for q, (_, a) in zip(standalone, turns, strict=True)]
    return pending, turns
