"""Plain text: decoding bytes whatever the encoding (UTF-8, UTF-16 with a mark, legacy
code pages, UTF-8 with stray bytes pasted in), and the headline of a news file as its
title. The other formats decode and find headlines through this module too."""

from __future__ import annotations

import re

from .base import UnreadableFile

_BOMS = (  # UTF-32 first: its little-endian mark begins with UTF-16's
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def decode(data: bytes, notes: list[str]) -> str:
    """UTF-8 first; otherwise detect the encoding and say so in `notes`."""
    for bom, encoding in _BOMS:
        # Windows saves "Unicode" text as UTF-16 with a byte-order mark: NUL bytes, but text.
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                break
            if _looks_binary(text):
                raise UnreadableFile("binary data, not text")
            notes.append(f"not UTF-8; decoded as {encoding.upper()} (byte-order mark)")
            return text
    if b"\x00" in data[:8192]:
        raise UnreadableFile("binary data, not text (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    mixed = _mixed_utf8(data)
    if mixed is not None:
        text, stray = mixed
        notes.append(
            f"mixes two encodings: UTF-8, and {stray:,} byte(s) that are not, read as Windows-1252 "
            "(check those characters)"
        )
        return text
    import chardet

    guess = chardet.detect(data)
    if guess.get("mime_type") == "application/octet-stream":
        raise UnreadableFile("binary data, not text")
    encoding, confidence = guess.get("encoding"), guess.get("confidence") or 0.0
    if encoding is None or confidence < 0.2 or not _decodes(data, encoding):
        # Too little evidence to trust the detector: short legacy files are most
        # often Windows-1252 (a superset of Latin-1), so try that first. (chardet is
        # rarely sure of any text: a page of Windows-1251 Russian scores 0.44, right.)
        for fallback in ("cp1252", encoding):
            if fallback and _decodes(data, fallback):
                encoding = fallback
                break
        else:
            raise UnreadableFile("not UTF-8 and no text encoding could be detected")
    text = data.decode(encoding, errors="replace")
    if _looks_binary(text):
        raise UnreadableFile("binary data, not text")
    notes.append(f"not UTF-8; decoded as {encoding} (detected)")
    return text


def _mixed_utf8(data: bytes) -> tuple[str, int] | None:
    """A UTF-8 file with a few stray single-byte characters (text pasted together from two
    sources), decoded with those bytes read as Windows-1252, and how many there were.
    None unless its valid multi-byte UTF-8 characters are accents and typographic marks or
    at least as many as the stray bytes: a legacy file (Windows-1251 Russian, say) can hold
    a byte pair that happens to be UTF-8, and the detector reads such a file better."""
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    stray = len(_STRAY.findall(text))
    multibyte = _MULTIBYTE.findall(text)
    # Accents and typographic marks (é, €, “ ”, —) are what gets pasted in as UTF-8; a legacy
    # file's accidental pair decodes to something else (Greek, Samaritan…).
    pasted = all("\xa0" <= ch <= "\u024f" or "\u2000" <= ch <= "\u20cf" for ch in multibyte)
    if not multibyte or (len(multibyte) < stray and not pasted):
        return None
    return _STRAY.sub(lambda m: bytes([ord(m.group(0)) - 0xDC00]).decode("cp1252", errors="replace"), text), stray


_STRAY = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, as surrogateescape keeps them
_MULTIBYTE = re.compile("[^\x00-\x7f\udc80-\udcff]")


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    if not sample:
        return False
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    return controls / len(sample) > 0.05


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_HEADLINE = re.compile(r"\A[^\S\n]*([^\n]{3,150}?)[^\S\n]*\n[^\S\n]*\n")


def headline(text: str) -> str | None:
    """A short first line followed by a blank line, as in news files, is a title."""
    match = _HEADLINE.match(text)
    if not match:
        return None
    line = match.group(1)
    if line.endswith((".", ",", ";", ":")) or len(text) <= match.end():
        return None
    return line


def load(data: bytes, notes: list[str]) -> tuple[str, str | None]:
    text = decode(data, notes)
    return text, headline(normalise_newlines(text))
