"""The reader: a model that reads a question and a sentence and scores whether the
sentence answers it. The answerer asks it about its best candidate sentences; its score
joins qa's own signals in choosing quotes and in refusing (qa/answering/answerer.py, scoring.py).

One interface, `Reader.read(question, sentences) -> Reading` (a logit per sentence and,
for a reader with a span head, the short answer inside each), two implementations:
- `OnnxReader` (onnx_reader.py): the reader qa trains and ships (`qa reader train`,
  docs/reader.md), or any folder that command wrote; ONNX Runtime only, no PyTorch.
- `CrossEncoderReader` (cross_encoder.py): any sentence-transformers CrossEncoder
  folder or hub name, for users with a stronger model (PyTorch).
`load_reader(settings.reader)` picks one.
"""

from __future__ import annotations

from pathlib import Path

from .base import DEFAULT_READER, Reader, ReaderNotFound
from .onnx_reader import INFO_FILE, OnnxReader
from .pairs import Reading, Span

__all__ = ["DEFAULT_READER", "OnnxReader", "Reader", "ReaderNotFound", "Reading", "Span", "is_packaged", "load_reader"]

PACKAGED = Path(__file__).parent / "models"
OFF = ("", "none", "off")


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
