"""The reader's interface and the names every implementation shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .pairs import Reading

DEFAULT_READER = "qa-reader-minilm-l6-v2"
"""The reader that ships with qa (package data, qa/answering/reader/models/)."""


class Reader(Protocol):
    name: str

    def read(self, question: str, sentences: Sequence[str]) -> Reading:
        """One logit per sentence (above 0: it more likely answers than not), with the short
        answer's span in each sentence where the reader has a span head."""
        ...

    def score(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """The logits alone."""
        ...


class ReaderNotFound(ValueError):
    pass
