"""PDF: the text layer of every page (pypdf); an encrypted or scanned one is skipped, saying why."""

from __future__ import annotations

from .base import UnreadableFile
from .text import headline


def load(data: bytes, notes: list[str]) -> tuple[str, str | None]:
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception:
                raise UnreadableFile("PDF is encrypted") from None
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or None
    except UnreadableFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UnreadableFile(f"not a readable PDF ({exc})") from None
    text = "\n\n".join(page for page in pages if page)
    if not text.strip():
        raise UnreadableFile("PDF has no text layer (scanned images need OCR first)")
    return text, (title.strip() if isinstance(title, str) and title.strip() else headline(text))
