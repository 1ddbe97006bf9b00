"""One module per file format, each with `load(data, notes) -> (text, title)` (base.py).

`LOADERS` maps a file suffix to its loader; `config.SUPPORTED_SUFFIXES` lists the same
suffixes (the chat's upload button and discovery read that). To add a format: a module
here with a `load`, a row below, its suffix in config.py, and a test in tests/test_corpus.py."""

from __future__ import annotations

from . import docx, html, markdown, pdf, text
from .base import Loader, UnreadableFile

__all__ = ["LOADERS", "Loader", "UnreadableFile"]

LOADERS: dict[str, Loader] = {
    ".txt": text.load,
    ".md": markdown.load,
    ".markdown": markdown.load,
    ".html": html.load,
    ".htm": html.load,
    ".pdf": pdf.load,
    ".docx": docx.load,
}
