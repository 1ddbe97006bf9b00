"""The `qa` command: a thin shell over `qa.QA` (parsing, one function per subcommand)."""

from .main import main

__all__ = ["main"]
