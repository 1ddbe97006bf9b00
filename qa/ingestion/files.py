"""Find the articles in a corpus folder and turn each into a `Document`.

One loader per format, picked by file suffix. Loading never raises for a bad
file: it returns a `Skipped` record that names the file and says why, so one
broken article never stops a build.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import stat
import time
import unicodedata
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..config import SUPPORTED_KINDS, SUPPORTED_SUFFIXES, Settings
from ..types import Document

SIDECAR_SUFFIX = ".meta.json"


@dataclass(frozen=True)
class CorpusFile:
    location: str
    """Where the file is (a string: a Path for each of a million files costs seconds per scan)."""
    source: str
    """Path relative to the corpus root, forward slashes: the document's id."""
    sidecar: Path | None

    @property
    def path(self) -> Path:
        return Path(self.location)


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass
class Loaded:
    """What `load_file` made of one file: a document and any notes about it."""

    document: Document | None = None
    skipped: Skipped | None = None
    notes: list[str] = field(default_factory=list)


class UnreadableFile(Exception):
    """A file qa cannot turn into text; the message says why."""


# --------------------------------------------------------------------------
# Discovery


def discover(
    corpus_dir: Path, settings: Settings, only: Collection[str] | None = None
) -> tuple[list[CorpusFile], list[Skipped], list[str]]:
    """All supported files under `corpus_dir`, sorted; the ones refused up front; and the
    files of other types (not articles qa reads), so a user can be told about them.

    `only`: corpus-relative paths known to have changed (the folder watcher's events): just
    those are looked at, with the article of a changed sidecar and the files of a folder,
    so an update in a big corpus does not walk all of it.
    """
    root = Path(corpus_dir)
    if root.is_file():
        raise FileNotFoundError(f"{root} is a file, not a corpus folder: give the folder that holds the articles")
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {root}")
    real_root = root.resolve()
    files: list[CorpusFile] = []
    skipped: list[Skipped] = []
    other: list[str] = []
    # Strings, not Paths: pathlib's parsing and comparisons would dominate a big corpus's scan.
    names = sorted(set(_walk(str(root)) if only is None else (str(p) for p in _changed(root, only))))
    listed = set(names)
    articles = {os.path.splitext(n)[0] for n in names if not n.endswith(SIDECAR_SUFFIX)}
    prefix = len(str(root)) + 1
    for name in names:
        rel = name[prefix:].replace(os.sep, "/")
        if name.endswith(SIDECAR_SUFFIX):
            if name[: -len(SIDECAR_SUFFIX)] not in articles:
                skipped.append(Skipped(rel, "metadata file with no article of the same name beside it"))
            continue
        stem, suffix = os.path.splitext(name)
        if suffix.lower() not in SUPPORTED_SUFFIXES:
            other.append(rel)
            continue
        try:
            info = os.lstat(name)  # one system call per plain file
            link = stat.S_ISLNK(info.st_mode)
            if link and not os.path.exists(name):
                skipped.append(Skipped(rel, "broken symbolic link: its target is missing"))
                continue
            if link and not Path(name).resolve().is_relative_to(real_root):
                skipped.append(Skipped(rel, "symbolic link to a file outside the corpus folder"))
                continue
            size = os.stat(name).st_size if link else info.st_size
        except OSError as exc:
            skipped.append(Skipped(rel, f"cannot read ({exc.strerror})"))
            continue
        if size > settings.max_file_bytes:
            skipped.append(
                Skipped(rel, f"larger than the {file_size(settings.max_file_bytes)} limit ({file_size(size)})")
            )
            continue
        sidecar = stem + SIDECAR_SUFFIX
        has_sidecar = sidecar in listed if only is None else os.path.isfile(sidecar)
        files.append(CorpusFile(name, rel, Path(sidecar) if has_sidecar else None))
    return files, skipped, other


def file_size(size: int) -> str:
    """A size as the settings and docs state it (1 MB = 1024 × 1024 bytes): "20 MB", "21.5 MB", "10 KB"."""
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    mb = size / (1024 * 1024)
    return f"{mb:.0f} MB" if mb == int(mb) else f"{mb:.1f} MB"


def _changed(root: Path, only: Collection[str]) -> Iterator[Path]:
    """The files among (or under) `only` that exist, and the article beside each changed sidecar."""
    for rel in only:
        path = root / rel
        if any(part.startswith(".") for part in Path(rel).parts):
            continue
        if path.is_dir() and not path.is_symlink():
            yield from map(Path, _walk(str(path)))
        elif path.is_file() or path.is_symlink():
            yield path
        if path.name.endswith(SIDECAR_SUFFIX):
            stem = path.name[: -len(SIDECAR_SUFFIX)]
            yield from (p for p in path.parent.glob(glob.escape(stem) + ".*") if p.stem == stem and p.is_file())


def _walk(root: str) -> Iterator[str]:
    with os.scandir(root) as entries:  # the directory listing says what is a folder: no stat per file
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files, editor swap files, our own temp files
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(entry.path)
            elif entry.is_file() or entry.is_symlink():
                yield entry.path  # a broken link too, so that it is reported rather than silently missing


def file_stat(file: CorpusFile) -> str | None:
    """Size, inode, change and modification times of the file and its sidecar, as one string:
    the same string later means the same bytes, so the file need not be read and hashed
    again (git's index does the same). None for a file written in the last second, whose
    next write could leave every field as it is; it is hashed every time until then."""
    parts = []
    for path in (file.location, file.sidecar):
        if path is None:
            continue
        try:
            st = os.stat(path)
        except OSError:
            return None
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < RECENT_NS:
            return None
        parts.append(f"{st.st_size}:{st.st_ino}:{st.st_mtime_ns}:{st.st_ctime_ns}")
    return "/".join(parts)


RECENT_NS = 1_000_000_000


def fingerprint(file: CorpusFile) -> str:
    """sha256 of the file's bytes and its sidecar: what decides re-embedding."""
    digest = hashlib.sha256(file.path.read_bytes())
    if file.sidecar is not None:
        digest.update(b"\0sidecar\0")
        digest.update(file.sidecar.read_bytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------
# Adding files (uploads)


@dataclass(frozen=True)
class Added:
    source: str | None
    """Where the file now lives, relative to the corpus root (None: not saved)."""
    message: str


_UNSAFE_NAME = re.compile(r"[^\w.\- ]+", re.UNICODE)


def safe_file_name(name: str) -> str:
    """A plain file name: no folders, no `..`, no control or shell characters."""
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFC", base)
    base = _UNSAFE_NAME.sub("_", base).strip(" .")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem[:120] or "article"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def add_file(corpus_dir: Path, name: str, data: bytes, settings: Settings) -> Added:
    """Save an uploaded article into the corpus folder, safely; never overwrites."""
    corpus_dir = Path(corpus_dir)
    clean = safe_file_name(name)
    suffix = Path(clean).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return Added(None, f"{name}: not added: only {SUPPORTED_KINDS} files can be indexed")
    if len(data) > settings.max_file_bytes:
        return Added(None, f"{name}: not added: larger than the {file_size(settings.max_file_bytes)} limit")
    if not data.strip():
        return Added(None, f"{name}: not added: the file is empty")
    # Read it as `qa index` will: a file that would only be skipped there is refused here.
    try:
        text, _ = LOADERS[suffix](data, [])
    except UnreadableFile as exc:
        return Added(None, f"{name}: not added: {exc}")
    if not text.strip():
        return Added(None, f"{name}: not added: no text to index")
    digest = hashlib.sha256(data).hexdigest()
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for path in map(Path, _walk(str(corpus_dir))):
        same_size = path.suffix.lower() in SUPPORTED_SUFFIXES and path.stat().st_size == len(data)
        if same_size and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            existing = path.relative_to(corpus_dir).as_posix()
            return Added(None, f"{name}: not added: the same article is already in the corpus as {existing}")
    target = corpus_dir / clean
    counter = 1
    while target.exists():
        target = corpus_dir / f"{Path(clean).stem}-{counter}{suffix}"
        counter += 1
    if not target.resolve().is_relative_to(corpus_dir.resolve()):  # defence in depth
        return Added(None, f"{name}: not added: unsafe file name")
    tmp = corpus_dir / f".upload-{digest[:12]}"
    tmp.write_bytes(data)
    os.replace(tmp, target)  # watchers never see a half-written article
    return Added(target.relative_to(corpus_dir).as_posix(), f"{name}: saved as {target.name}")


# --------------------------------------------------------------------------
# Loading


def load_file(file: CorpusFile, sha256: str | None = None) -> Loaded:
    """Read, decode and parse one file. Never raises for bad content."""
    result = Loaded()
    try:
        data = file.path.read_bytes()
        meta = _read_sidecar(file, result.notes)
        loader = LOADERS[file.path.suffix.lower()]
        text, title = loader(data, result.notes)
    except UnreadableFile as exc:
        result.skipped = Skipped(file.source, str(exc))
        return result
    except OSError as exc:
        result.skipped = Skipped(file.source, f"cannot read ({exc.strerror or exc})")
        return result

    text = _normalise_newlines(text)
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


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_HEADLINE = re.compile(r"\A[^\S\n]*([^\n]{3,150}?)[^\S\n]*\n[^\S\n]*\n")


def _headline(text: str) -> str | None:
    """A short first line followed by a blank line, as in news files, is a title."""
    match = _HEADLINE.match(text)
    if not match:
        return None
    line = match.group(1)
    if line.endswith((".", ",", ";", ":")) or len(text) <= match.end():
        return None
    return line


def _title_from_name(path: Path) -> str:
    return re.sub(r"[_-]+", " ", path.stem).strip() or path.name


def _load_text(data: bytes, notes: list[str]) -> tuple[str, str | None]:
    text = decode(data, notes)
    return text, _headline(_normalise_newlines(text))


_FRONT_MATTER = re.compile(r"\A---[^\S\n]*\n(.*?)\n---[^\S\n]*(?:\n|\Z)", re.S)
_MD_HEADING = re.compile(r"^#[^\S\n]+(.+?)[^\S\n]*#*[^\S\n]*$", re.M)


def _load_markdown(data: bytes, notes: list[str]) -> tuple[str, str | None]:
    text = _normalise_newlines(decode(data, notes))
    title = None
    match = _FRONT_MATTER.match(text)
    if match:
        import yaml

        try:
            front = yaml.safe_load(match.group(1))
        except yaml.YAMLError:
            front = None
            notes.append("front matter is not valid YAML; ignored")
        if isinstance(front, dict) and front.get("title"):
            title = str(front["title"])
        text = text[match.end() :]
    if title is None:
        heading = _MD_HEADING.search(text)
        title = heading.group(1) if heading else _headline(text)
    return text, title


def _load_pdf(data: bytes, notes: list[str]) -> tuple[str, str | None]:
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
    return text, (title.strip() if isinstance(title, str) and title.strip() else _headline(text))


_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
_DROP_TAGS = frozenset(
    ["script", "style", "noscript", "template", "head", "svg", "iframe", "object", "embed", "canvas"]
)


def _load_html(data: bytes, notes: list[str]) -> tuple[str, str | None]:
    from bs4 import BeautifulSoup, Comment, NavigableString, Tag

    soup = BeautifulSoup(decode(data, notes), "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else None

    blocks: list[str] = []
    current: list[str] = []

    def flush() -> None:
        line = re.sub(r"\s+", " ", "".join(current)).strip()
        if line:
            blocks.append(line)
        current.clear()

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                current.append(str(child))
            elif isinstance(child, Tag):
                name = child.name.lower()
                if name in _DROP_TAGS:
                    continue
                if name in _BLOCK_TAGS:
                    flush()
                    walk(child)
                    flush()
                else:
                    walk(child)

    walk(soup.body or soup)
    flush()
    return "\n\n".join(blocks), title


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""A compound file: what Word writes for a password-protected .docx (and for the old .doc)."""


def _load_docx(data: bytes, notes: list[str]) -> tuple[str, str | None]:
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


LOADERS: dict[str, Callable[[bytes, list[str]], tuple[str, str | None]]] = {
    ".txt": _load_text,
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".docx": _load_docx,
}
