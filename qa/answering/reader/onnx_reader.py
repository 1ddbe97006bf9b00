"""The reader as shipped: an ONNX cross-encoder run by ONNX Runtime, no PyTorch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .pairs import PairEncoder, Reading, best_span, pad, whole_words

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
INFO_FILE = "reader.json"
BATCH = 8
"""Pairs per run: sorted by length first, so a batch pads little (padding is most of the cost otherwise)."""


class OnnxReader:
    """Reads (question, sentence) pairs with a model exported by `qa reader train`: a logit
    per pair and, for a model with a span head, the short answer in each sentence."""

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer

        from ...embedding.onnx import cpu_session

        folder = Path(folder)
        self.info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        self.name = f"{self.info['name']}-v{self.info['version']}"
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        # v1 readers were trained on pairs cut longest-first; v2 on windows around the question's words.
        window = bool(self.info.get("window"))
        max_length = int(self.info["max_length"])
        self.encoder = PairEncoder(tokenizer, max_length, int(self.info.get("max_question", max_length)), window=window)
        self.session = cpu_session(folder / MODEL_FILE)
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.has_spans = len(self.session.get_outputs()) >= 3
        # A head trained with "no answer" also says whether a sentence holds an answer at all.
        self.span_null = self.has_spans and bool(self.info.get("span_null"))

    def score(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """One logit per sentence: higher means it answers the question."""
        return self.read(question, sentences).logits

    def read(self, question: str, sentences: Sequence[str]) -> Reading:
        n = len(sentences)
        logits = np.zeros(n, dtype=np.float32)
        spans: list = [None] * n
        if not n:
            return Reading(logits, spans)
        pieces = self.encoder.pieces(question, sentences)
        order = sorted(range(n), key=lambda i: len(pieces[i].ids))
        for b in range(0, n, BATCH):
            rows = order[b : b + BATCH]
            pairs = pad([pieces[i] for i in rows], self.encoder.pad)
            out = self.session.run(None, pairs.feed(self._inputs))
            logits[rows] = np.asarray(out[0], dtype=np.float32).reshape(-1)
            if self.has_spans:
                for k, i in enumerate(rows):
                    span = best_span(out[1][k], out[2][k], pairs.first[k], pairs.offsets[k], null=self.span_null)
                    spans[i] = whole_words(sentences[i], span)
        return Reading(logits, spans)
