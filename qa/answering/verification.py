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
import re
import time
from dataclasses import dataclass
from pathlib import Path

from langchain_core.messages import HumanMessage

from .llm import LlamaCppChat, LLMUnavailable

PROMPT = """Sentences from the articles:
{sentences}

Question: {question}
Which sentence answers the question? Reply with the sentence number only, or 0 if none of them answers it."""

# The verdict and qa's own probability, combined by a logistic model fitted with
# bench/calibrate_verifier.py for Qwen2.5-Coder-1.5B-Instruct (Q4_K_M); another
# model gives its numbers another meaning: refit for it (docs/evaluation.md).
VERIFIED_MODEL = {"bias": -0.01, "confidence": 0.55, "none": -0.84, "first": 2.06}


CALIBRATED_FOR = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
"""The model file `VERIFIED_MODEL` was fitted for."""

MIN_NUMBER_SHARE = 0.5
"""Below this share of its probability on the sentence numbers, the model did not really answer
the question it was asked (it began a sentence instead): its verdict is not counted."""

_NUMBER = re.compile(r"^(\d)\W*$")  # "1", " 1", "1." — one digit, as the prompt asks


@dataclass
class Verdict:
    none: float
    """The model's probability that no sentence answers (its probabilities over 0..n, renormalised)."""
    first: float
    """Its probability for sentence 1: the one qa would quote first."""
    choice: int
    """The number it gives the most probability (0: none)."""
    ms: float
    share: float = 1.0
    """How much of its probability went to the numbers at all (`MIN_NUMBER_SHARE`)."""

    @property
    def counted(self) -> bool:
        return self.share >= MIN_NUMBER_SHARE

    def to_dict(self) -> dict:
        return {
            "none": round(self.none, 4),
            "first": round(self.first, 4),
            "choice": self.choice,
            "counted": self.counted,
        }


class VerifierUnavailable(LLMUnavailable):
    """The language model can't give a verdict (e.g. it reports no token probabilities)."""


def check_model(llm: str | None) -> None:
    """Raise, before anything loads, when `llm` (`Settings.llm`) can't check answers: there is
    none, or it reports no token probabilities (Ollama). The CLI calls this before indexing,
    `QA.verifier` before the first question."""
    if not llm:
        raise VerifierUnavailable(
            "checking answers (--verify, Settings.verify) needs a language model: add --llm MODEL (Settings.llm)"
        )
    if llm.startswith("ollama:"):
        raise VerifierUnavailable(
            "checking answers (--verify) reads the model's token probabilities, which Ollama does not report: "
            "use a .gguf file or openai:MODEL@URL"
        )


class Verifier:
    """One component: (question, best sentences) → `Verdict`."""

    def __init__(self, model, sentences: int = 6):
        self.model = model
        self.sentences = min(max(1, sentences), 9)  # one digit each: "1" must not also begin "10"

    def prompt(self, question: str, sentences: list[str]) -> str:
        listed = "\n".join(f"{n}. {' '.join(text.split())}" for n, text in enumerate(sentences, 1))
        return PROMPT.format(sentences=listed, question=question)

    def run(self, question: str, sentences: list[str]) -> Verdict:
        sentences = sentences[: self.sentences]
        t0 = time.perf_counter()
        # llama.cpp reuses the cached start of the last prompt, which shifts the numbers slightly
        # with whatever was asked before; a verdict must depend on this question only.
        extra = {"cache_prompt": False} if isinstance(self.model, LlamaCppChat) else {}
        reply = self.model.invoke(
            [HumanMessage(self.prompt(question, sentences))],
            max_tokens=1,
            temperature=0.0,
            logprobs=True,
            top_logprobs=20,
            **extra,
        )
        verdict = verdict_from(first_token_logprobs(reply), len(sentences))
        if verdict is None:
            raise VerifierUnavailable(
                "the language model gave no probability to any sentence number; "
                "verification needs a model that reports token log-probabilities (a .gguf file run by qa, "
                "or an OpenAI-compatible server)"
            )
        verdict.ms = (time.perf_counter() - t0) * 1000
        return verdict


def verdict_from(logprobs: dict[str, float], sentences: int) -> Verdict | None:
    """The verdict the first token's alternatives give over sentences 1..n and 0 (none)."""
    options = [str(n) for n in range(sentences + 1)]
    probs = option_probabilities(logprobs, options)
    if probs is None:
        return None
    share = sum(math.exp(logprobs[o]) for o in options if o in logprobs)
    choice = max(range(len(probs)), key=probs.__getitem__)
    return Verdict(none=probs[0], first=probs[1] if len(probs) > 1 else 0.0, choice=choice, ms=0.0, share=share)


def first_token_logprobs(reply) -> dict[str, float]:
    """The alternatives for the reply's first token, as OpenAI-style `logprobs` report them,
    keyed by the digit they stand for when they are one ("1", " 1" and "1." are one answer)."""
    content = (getattr(reply, "response_metadata", None) or {}).get("logprobs") or {}
    entries = content.get("content") if isinstance(content, dict) else None
    if not entries:
        return {}
    out: dict[str, float] = {}
    for alt in entries[0].get("top_logprobs") or []:
        value = alt.get("logprob")
        if not isinstance(value, int | float) or not math.isfinite(value):
            continue  # servers write -inf as null or as -9999
        token = str(alt.get("token", "")).strip()
        number = _NUMBER.match(token)
        token = number.group(1) if number else token
        out[token] = _log_add(out[token], value) if token in out else float(value)
    return out


def option_probabilities(logprobs: dict[str, float], options: list[str]) -> list[float] | None:
    """Probabilities of `options` renormalised among themselves; None if the model gave them none."""
    present = {o: logprobs[o] for o in options if o in logprobs}
    if not present:
        return None
    floor = min(present.values()) - 5.0  # an option below the reported top ones: rarer than all of them
    top = max(present.values())
    values = [math.exp(present.get(o, floor) - top) for o in options]
    total = sum(values)
    return [v / total for v in values]


def _log_add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) without underflow."""
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))


def calibrated_for(llm) -> bool:
    """Whether `VERIFIED_MODEL`'s weights were fitted for this model (a spec string or chat model)."""
    name = llm if isinstance(llm, str) else getattr(llm, "model_path", "")
    return Path(str(name)).name.lower() == CALIBRATED_FOR


def uncalibrated_warning(llm) -> str:
    name = llm if isinstance(llm, str) else type(llm).__name__
    return (
        f"qa: warning: --verify weighs the verdicts of {CALIBRATED_FOR}; {name} gives its numbers another "
        "meaning, so its checks may let wrong answers through. Refit: bench/calibrate_verifier.py --llm MODEL"
    )


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
