"""One module per file format, each with `load(data, notes) -> (text, title)` (base.py).

`LOADERS` maps a file suffix to its loader; `config.SUPPORTED_SUFFIXES` lists the same
suffixes (the chat's upload button and discovery read that). To add a format: a module
here with a `load`, a row below, its suffix in config.py, and a test in tests/test_corpus.py."""

from __future__ import annotations

from . import docx, html, markdown, pdf, text
from .base import Loader, UnreadableFile

__all__ = ["LOADERS", "Loader", "UnreadableFile", "parse"]

LOADERS: dict[str, Loader] = {
    ".txt": text.load,
    ".md": markdown.load,
    ".markdown": markdown.load,
    ".html": html.load,
    ".htm": html.load,
    ".pdf": pdf.load,
    ".docx": docx.load,
}


def parse(suffix: str, data: bytes, notes: list[str]) -> tuple[str, str | None]:
    """The loader for `suffix` applied to `data`; any failure of the file is an `UnreadableFile`.

    The parsers underneath (lxml, pypdf, BeautifulSoup) raise their own errors, and new ones
    with each release, on damaged files: a cut XML part, an unknown PDF filter, a self-
    referencing object. Each is a bad file, never a reason to stop a build, so all of them
    become a skip here. Running out of memory is the machine's state, not the file's."""
    try:
        return LOADERS[suffix](data, notes)
    except (UnreadableFile, MemoryError):
        raise
    except RecursionError:
        raise UnreadableFile("nested too deeply to read") from None
    except Exception as exc:
        kind = suffix.lstrip(".").upper()
        raise UnreadableFile(f"not a readable {kind} file ({type(exc).__name__}: {exc})"[:300]) from None
