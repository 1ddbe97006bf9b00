"""A language model's second opinion on an extractive answer: which sentence answers, if any.

Asked to write an answer, a small local model refuses badly (a 1.5B model said "not in
the articles" for 5 of 13 answerable seed questions, docs/evaluation.md). Asked instead
to point at one of qa's best sentences by number, or at 0 for none, the probabilities
it gives the numbers tell answerable from unanswerable questions better than qa's own
scores do. qa keeps its ranking and its quotes; the verdict only moves the calibrated
probability that decides between answering, answering with a caveat, and refusing.

One forward pass over ~250 prompt tokens and one token out: about 4 s on 2 cores.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from langchain_core.messages import HumanMessage

from .llm import LLMUnavailable

PROMPT = """Sentences from the articles:
{sentences}

Question: {question}
Which sentence answers the question? Reply with the sentence number only, or 0 if none of them answers it."""

# The verdict and qa's own probability, combined by a logistic model fitted with
# bench/calibrate_verifier.py for Qwen2.5-Coder-1.5B-Instruct (Q4_K_M); another
# model gives its numbers another meaning: refit for it (docs/evaluation.md).
VERIFIED_MODEL = {"bias": -0.01, "confidence": 0.55, "none": -0.84, "first": 2.06}


@dataclass
class Verdict:
    none: float
    """The model's probability that no sentence answers (its probabilities over 0..n, renormalised)."""
    first: float
    """Its probability for sentence 1: the one qa would quote first."""
    choice: int
    """The number it gives the most probability (0: none)."""
    ms: float


class VerifierUnavailable(LLMUnavailable):
    """The language model can't give a verdict (e.g. it reports no token probabilities)."""


class Verifier:
    """One component: (question, best sentences) → `Verdict`."""

    def __init__(self, model, sentences: int = 6):
        self.model = model
        self.sentences = sentences

    def prompt(self, question: str, sentences: list[str]) -> str:
        listed = "\n".join(f"{n}. {' '.join(text.split())}" for n, text in enumerate(sentences, 1))
        return PROMPT.format(sentences=listed, question=question)

    def run(self, question: str, sentences: list[str]) -> Verdict:
        sentences = sentences[: self.sentences]
        t0 = time.perf_counter()
        reply = self.model.invoke(
            [HumanMessage(self.prompt(question, sentences))],
            max_tokens=1,
            temperature=0.0,
            logprobs=True,
            top_logprobs=min(20, len(sentences) + 10),
        )
        options = [str(n) for n in range(len(sentences) + 1)]
        probs = option_probabilities(first_token_logprobs(reply), options)
        if probs is None:
            raise VerifierUnavailable(
                "the language model gave no probability to any sentence number; "
                "verification needs a model that reports token log-probabilities (a .gguf file run by qa, "
                "or an OpenAI-compatible server)"
            )
        choice = max(range(len(probs)), key=probs.__getitem__)
        ms = (time.perf_counter() - t0) * 1000
        return Verdict(none=probs[0], first=probs[1] if len(probs) > 1 else 0.0, choice=choice, ms=ms)


def first_token_logprobs(reply) -> dict[str, float]:
    """The alternatives for the reply's first token, as OpenAI-style `logprobs` report them."""
    content = (getattr(reply, "response_metadata", None) or {}).get("logprobs") or {}
    entries = content.get("content") if isinstance(content, dict) else None
    if not entries:
        return {}
    out: dict[str, float] = {}
    for alt in entries[0].get("top_logprobs") or []:
        token = str(alt.get("token", "")).strip()
        # " 1" and "1" are different tokens to some models: the same answer.
        out[token] = (
            float(math.log(math.exp(out[token]) + math.exp(alt["logprob"]))) if token in out else alt["logprob"]
        )
    return out


def option_probabilities(logprobs: dict[str, float], options: list[str]) -> list[float] | None:
    """Probabilities of `options` renormalised among themselves; None if the model gave them none."""
    present = {o: logprobs[o] for o in options if o in logprobs}
    if not present:
        return None
    floor = min(present.values()) - 5.0  # an option below the reported top ones: rarer than all of them
    values = [math.exp(present.get(o, floor)) for o in options]
    total = sum(values)
    return [v / total for v in values]


def verified_probability(confidence: float, verdict: Verdict) -> float:
    """P(the best sentence answers), from qa's own probability and the model's verdict."""
    m = VERIFIED_MODEL
    z = (
        m["bias"]
        + m["confidence"] * _logit(confidence)
        + m["none"] * _logit(verdict.none)
        + m["first"] * _logit(verdict.first)
    )
    return 1.0 / (1.0 + math.exp(-z))


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))
