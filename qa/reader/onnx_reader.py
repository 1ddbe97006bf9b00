"""The reader as shipped: an ONNX cross-encoder run by ONNX Runtime, no PyTorch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
INFO_FILE = "reader.json"


class OnnxReader:
    """Scores (question, sentence) pairs with a cross-encoder exported by `qa reader train`."""

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer

        from ..query_encoder import cpu_session

        folder = Path(folder)
        self.info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        self.name = f"{self.info['name']}-v{self.info['version']}"
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(int(self.info["max_length"]), strategy="longest_first")
        self.tokenizer.enable_padding()
        self.session = cpu_session(folder / MODEL_FILE)
        self._inputs = {i.name for i in self.session.get_inputs()}

    def score(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """One logit per sentence: higher means it answers the question."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        encs = self.tokenizer.encode_batch([(question, s) for s in sentences])
        feed = {
            "input_ids": np.asarray([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encs], dtype=np.int64),
        }
        logits = self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        return np.asarray(logits, dtype=np.float32).reshape(-1)
