"""The `qa` command: index, ask, info, serve. A thin shell over `qa.QA`."""

from __future__ import annotations

import logging
import sys

from .common import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from .parser import _parser

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    for noisy in ("faiss.loader", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from ..answering.llm import LLMUnavailable
    from ..indexing.prepare.ray import RayUnavailable
    from ..store import IndexError_

    try:
        return args.func(args)
    except (IndexError_, LLMUnavailable, RayUnavailable) as exc:
        print(f"qa: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (FileNotFoundError, ValueError) as exc:
        print(f"qa: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`qa ask … | head`): stop quietly, as other Unix tools do.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
