"""What every format module gives: a loader from a file's bytes to its text and title.

A loader appends to `notes` anything the user should hear about (an encoding guessed,
front matter ignored) and raises `UnreadableFile` for a file that has no text qa can
index; the caller turns that into a skip naming the file, never a failed build."""

from __future__ import annotations

from collections.abc import Callable

Loader = Callable[[bytes, list[str]], tuple[str, "str | None"]]
"""`load(data, notes) -> (text, title or None)`."""


class UnreadableFile(Exception):
    """A file qa cannot turn into text; the message says why."""
