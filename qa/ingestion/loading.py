"""Turning one corpus file into a `Document`: read it, pick its format's loader by suffix,
apply its metadata sidecar, find its title. Never raises for bad content: a bad file
becomes a `Skipped` that names it and says why, so one broken article never stops a build."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..types import Document
from .files import CorpusFile, Skipped, fingerprint
from .formats import UnreadableFile, parse
from .formats.text import normalise_newlines


@dataclass
class Loaded:
    """What `load_file` made of one file: a document and any notes about it."""

    document: Document | None = None
    skipped: Skipped | None = None
    notes: list[str] = field(default_factory=list)


def load_file(file: CorpusFile, sha256: str | None = None) -> Loaded:
    """Read, decode and parse one file. Never raises for bad content."""
    result = Loaded()
    try:
        data = file.path.read_bytes()
        meta = _read_sidecar(file, result.notes)
        text, title = parse(file.path.suffix.lower(), data, result.notes)
    except UnreadableFile as exc:
        result.skipped = Skipped(file.source, str(exc))
        return result
    except OSError as exc:
        result.skipped = Skipped(file.source, f"cannot read ({exc.strerror or exc})")
        return result

    text = normalise_newlines(text)
    if "\x00" in text:  # a file zero-filled after a crash; SQLite's length() would also stop at one
        result.notes.append(f"{text.count(chr(0)):,} NUL character(s) removed")
        text = text.replace("\x00", "")
    if not text.strip():
        result.skipped = Skipped(file.source, "empty: no text to index")
        return result
    title = (meta.get("title") or title or _title_from_name(file.path)).strip()
    if sha256 is None:
        sha256 = fingerprint(file)
    result.document = Document(source=file.source, title=title, text=text, sha256=sha256, meta=meta)
    return result


def _read_sidecar(file: CorpusFile, notes: list[str]) -> dict:
    """The sidecar's metadata; a broken one is ignored with a note (the article itself is fine)."""
    if file.sidecar is None:
        return {}
    try:
        meta = json.loads(file.sidecar.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        notes.append(f"metadata file {file.sidecar.name} ignored: not valid JSON ({exc})")
        return {}
    if not isinstance(meta, dict):
        notes.append(f"metadata file {file.sidecar.name} ignored: it must hold a JSON object")
        return {}
    title = meta.get("title")
    if title is not None and not (isinstance(title, str) and title.strip()):
        notes.append(f"metadata file {file.sidecar.name}: title ignored (not a non-empty string: {title!r:.40})")
        meta = {k: v for k, v in meta.items() if k != "title"}
    return meta


def _title_from_name(path: Path) -> str:
    return re.sub(r"[_-]+", " ", path.stem).strip() or path.name
