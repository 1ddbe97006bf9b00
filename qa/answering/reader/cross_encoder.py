"""Any sentence-transformers CrossEncoder as qa's reader (needs PyTorch; offline)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .pairs import Reading


class CrossEncoderReader:
    def __init__(self, spec: str):
        from sentence_transformers import CrossEncoder

        try:
            self.model = CrossEncoder(
                str(Path(spec).expanduser()) if Path(spec).expanduser().is_dir() else spec, device="cpu"
            )
        except Exception as exc:  # a hub name offline, a folder that is not a model
            from .base import DEFAULT_READER, ReaderNotFound

            raise ReaderNotFound(
                f"reader {spec!r} cannot be loaded ({exc}). qa runs offline: give {DEFAULT_READER!r} (shipped), "
                "'none', a folder written by `qa reader train`, or a sentence-transformers CrossEncoder folder"
            ) from exc
        if self.model.num_labels != 1:
            from .base import ReaderNotFound

            raise ReaderNotFound(f"reader {spec!r} has {self.model.num_labels} outputs; qa needs a one-score model")
        self.name = Path(spec).name

    def read(self, question: str, sentences: Sequence[str]) -> Reading:
        """A CrossEncoder has no span head: logits only."""
        return Reading(self.score(question, sentences), [None] * len(sentences))

    def score(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        import torch

        if not sentences:
            return np.zeros(0, dtype=np.float32)
        logits = self.model.predict(
            [(question, s) for s in sentences], activation_fn=torch.nn.Identity(), show_progress_bar=False
        )
        return np.asarray(logits, dtype=np.float32).reshape(-1)
