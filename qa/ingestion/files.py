"""Finding the articles in a corpus folder (and noticing which changed), fingerprinting
them, and adding an uploaded one safely. Reading a file is loading.py's job; each
format's parsing is in formats/."""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import re
import stat
import time
import unicodedata
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..config import SUPPORTED_KINDS, SUPPORTED_SUFFIXES, Settings
from .formats import UnreadableFile, parse

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
    root = check_corpus(corpus_dir)
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
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:  # bytes the file system gave that are not UTF-8: no id could hold them
            shown = os.fsencode(rel).decode("utf-8", "replace")
            skipped.append(Skipped(shown, "file name is not valid UTF-8: rename it"))
            continue
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
            if stat.S_ISLNK(info.st_mode):
                try:
                    info = os.stat(name)
                except OSError as exc:
                    why = "a loop" if exc.errno == errno.ELOOP else "its target is missing"
                    skipped.append(Skipped(rel, f"broken symbolic link: {why}"))
                    continue
                if not Path(name).resolve().is_relative_to(real_root):
                    skipped.append(Skipped(rel, "symbolic link to a file outside the corpus folder"))
                    continue
            if not stat.S_ISREG(info.st_mode):  # a folder or a device named like an article
                skipped.append(Skipped(rel, "not a regular file"))
                continue
            size = info.st_size
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


def check_corpus(corpus_dir: Path) -> Path:
    """`corpus_dir` if it is a folder; else FileNotFoundError saying what it is instead."""
    root = Path(corpus_dir)
    if root.is_file():
        raise FileNotFoundError(f"{root} is a file, not a corpus folder: give the folder that holds the articles")
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {root}")
    return root


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
            elif entry.is_symlink() or entry.is_file():
                yield entry.path  # a broken link or a loop too, so that it is reported rather than silently missing


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
    duplicate: bool = False
    """Not saved because the same article is already in the corpus (the others: a bad file)."""


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
        text, _ = parse(suffix, data, [])
    except UnreadableFile as exc:
        return Added(None, f"{name}: not added: {exc}")
    if not text.strip():
        return Added(None, f"{name}: not added: no text to index")
    digest = hashlib.sha256(data).hexdigest()
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for path in map(Path, _walk(str(corpus_dir))):
        try:  # a broken link or an unreadable file in the corpus is `qa index`'s to report, not a failed upload
            same_size = path.suffix.lower() in SUPPORTED_SUFFIXES and path.stat().st_size == len(data)
            same = same_size and hashlib.sha256(path.read_bytes()).hexdigest() == digest
        except OSError:
            continue
        if same:
            existing = path.relative_to(corpus_dir).as_posix()
            return Added(None, f"{name}: not added: the same article is already in the corpus as {existing}", True)
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
