"""Word (.docx): paragraphs and tables in document order (python-docx)."""

from __future__ import annotations

from .base import UnreadableFile

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""A compound file: what Word writes for a password-protected .docx (and for the old .doc)."""


def load(data: bytes, notes: list[str]) -> tuple[str, str | None]:
    """A Word document's paragraphs and tables in document order (a table row per block, its
    cells joined by " | "), with the document's core title."""
    import io
    import zipfile

    if data.startswith(_OLE_MAGIC):
        raise UnreadableFile(
            "Word file is password-protected (or an old .doc saved as .docx): save it without a password"
        )
    from docx import Document as open_docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        doc = open_docx(io.BytesIO(data))
        blocks = []
        for item in doc.iter_inner_content():
            if isinstance(item, Table):
                for row in item.rows:
                    cells: list[str] = []
                    for cell in row.cells:  # a merged cell comes back once per grid column it spans
                        text = " ".join(cell.text.split())
                        if text and (not cells or cells[-1] != text):
                            cells.append(text)
                    if cells:
                        blocks.append(" | ".join(cells))
            else:
                text = item.text.strip()
                if text:
                    blocks.append(text)
        title = (doc.core_properties.title or "").strip() or None
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnreadableFile(f"not a readable Word file ({exc})") from None
    return "\n\n".join(blocks), title
