"""The reader: a model that reads a question and a sentence and scores whether the
sentence answers it. The answerer asks it about its best candidate sentences; its score
joins qa's own signals in choosing quotes and in refusing (qa/answering.py).

One interface, `Reader.read(question, sentences) -> Reading` (a logit per sentence and,
for a reader with a span head, the short answer inside each), two implementations:
- `OnnxReader` (onnx_reader.py): the reader qa trains and ships (`qa reader train`,
  docs/reader.md), or any folder that command wrote; ONNX Runtime only, no PyTorch.
- `CrossEncoderReader` (cross_encoder.py): any sentence-transformers CrossEncoder
  folder or hub name, for users with a stronger model (PyTorch).
`load_reader(settings.reader)` picks one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .onnx_reader import INFO_FILE, OnnxReader
from .pairs import Reading, Span

__all__ = ["DEFAULT_READER", "OnnxReader", "Reader", "ReaderNotFound", "Reading", "Span", "is_packaged", "load_reader"]

DEFAULT_READER = "qa-reader-minilm-l6-v2"
"""The reader that ships with qa (package data, qa/reader/models/)."""
PACKAGED = Path(__file__).parent / "models"
OFF = ("", "none", "off")


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


def load_reader(spec: str | None) -> Reader | None:
    """The reader `spec` names (`Settings.reader`): the packaged name, a folder, or None for none."""
    if spec is None or spec.strip().lower() in OFF:
        return None
    packaged = PACKAGED / spec
    if (packaged / INFO_FILE).is_file():
        return OnnxReader(packaged)
    path = Path(spec).expanduser()
    if (path / INFO_FILE).is_file():
        return OnnxReader(path)
    from .cross_encoder import CrossEncoderReader

    return CrossEncoderReader(spec)


def is_packaged(spec: str | None) -> bool:
    """Whether `spec` names a reader qa ships: its answer model is calibrated for exactly that one."""
    return spec is not None and (PACKAGED / spec / INFO_FILE).is_file()
