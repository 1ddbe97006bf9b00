"""The `qa` command's arguments: one sub-parser per subcommand, each pointing at its
function in commands.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import Settings
from ..evaluation.questions import HELD_OUT_ROUNDS
from .commands import (
    cmd_ask,
    cmd_eval,
    cmd_hash_password,
    cmd_index,
    cmd_info,
    cmd_mcp,
    cmd_reader,
    cmd_serve,
)

LLM_HELP = (
    "language model for answers written in sentences, every quote checked: a .gguf file, "
    "ollama:MODEL or openai:MODEL@URL (default: $QA_LLM; none: extractive quotes only)"
)
VERIFY_HELP = (
    "experimental, needs --llm: have the language model point at the sentence that answers, or at none, "
    "before qa decides to answer or refuse (~4 s more per question on 2 cores, on top of a written "
    "answer's time; measured in docs/evaluation.md)"
)


READER_HELP = (
    "the model that reads candidate sentences: qa-reader-minilm-l6-v2 (shipped, the default), a folder "
    "written by `qa reader train`, a sentence-transformers CrossEncoder folder, or 'none'"
)


def _at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value

    return parse


def _port(text: str) -> int:
    value = _at_least(1)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {value:g}")
    return value


def _parser() -> argparse.ArgumentParser:
    d = Settings()
    parser = argparse.ArgumentParser(
        prog="qa",
        description="Ask questions of a folder of articles. Answers quote the articles word for word, or refuse.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="build or update the index from the corpus folder")
    p.add_argument("--corpus", type=Path, default=d.corpus_dir, help="folder of articles (default: %(default)s)")
    p.add_argument("--index", type=Path, default=d.index_dir, help="index folder or URI (default: %(default)s)")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything instead of only what changed")
    p.add_argument(
        "--store",
        choices=("faiss", "lance"),
        help="for a new index: FAISS files + SQLite in a local folder (default), or LanceDB in a folder or at "
        "a URI such as s3://bucket/index (pip install 'qa[lance]'); an existing index keeps its own",
    )
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="load, split and embed on a Ray cluster: 'auto' starts one on this machine, else the address "
        "of a running cluster (pip install 'qa[ray]'; docs/scaling.md)",
    )
    p.add_argument(
        "--compact",
        action="store_true",
        help="also merge the index's vector segments into one and drop deleted vectors (docs/format.md)",
    )
    p.add_argument(
        "--model",
        help=f"embedding model: the packaged default or a local folder (default: the index's, else {d.model})",
    )
    p.add_argument(
        "--chunk-tokens",
        type=_at_least(16),
        help=f"chunk size in model word pieces (default: the index's, else {d.chunk_tokens})",
    )
    p.add_argument(
        "--wait", type=_seconds, default=0, metavar="SECONDS", help="wait this long for another indexer to finish"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--watch", action="store_true", help="keep running and update the index when articles change")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("serve", help="index the corpus if needed and open the chat in the browser")
    p.add_argument("--corpus", type=Path, default=d.corpus_dir, help="folder of articles (default: %(default)s)")
    p.add_argument("--index", type=Path, default=d.index_dir, help="index folder or URI (default: %(default)s)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)")
    p.add_argument("--port", type=_port, default=7860, help="port (default: %(default)s)")
    p.add_argument("--share", action="store_true", help="also open a public Gradio share link (off by default)")
    p.add_argument("--no-watch", action="store_true", help="don't watch the corpus folder for changes")
    p.add_argument("--llm", default=d.llm, metavar="MODEL", help=LLM_HELP)
    p.add_argument("--verify", action="store_true", help=VERIFY_HELP)
    p.add_argument("--reader", default=d.reader, metavar="READER", help=READER_HELP)
    p.add_argument(
        "--auth-token",
        metavar="TOKEN",
        help="require this token ($QA_AUTH_TOKEN): the API takes `Authorization: Bearer TOKEN`, the chat a "
        "sign-in with it as password; needed to bind beyond this machine or with --share",
    )
    p.add_argument(
        "--auth-file",
        type=Path,
        metavar="FILE",
        help="require a user's password: lines `user:scrypt$…` written by `qa hash-password USER`",
    )
    p.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDRESS",
        help="a reverse proxy in front of qa: failed sign-ins are counted per client it names in "
        "X-Forwarded-For, not against the proxy (repeat for several)",
    )
    p.add_argument(
        "--read-only",
        action="store_true",
        help="no uploads or deletions from the browser or the API (the corpus folder's watch still updates); "
        "with --no-watch, a replica that never writes the index (docs: README)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("hash-password", help="print an --auth-file line for a user (the password is asked for)")
    p.add_argument("user")
    p.set_defaults(func=cmd_hash_password)

    p = sub.add_parser("ask", help="answer a question (or one per line from standard input)")
    p.add_argument("--reader", default=d.reader, metavar="READER", help=READER_HELP)
    p.add_argument(
        "question",
        nargs="*",
        help="the question (quotes optional: the words are joined); omit to read questions from standard input",
    )
    p.add_argument("--index", type=Path, default=d.index_dir, help="index folder or URI (default: %(default)s)")
    p.add_argument("-k", type=_at_least(1), default=d.k, help="passages to read (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object per answer")
    p.add_argument("--llm", default=d.llm, metavar="MODEL", help=LLM_HELP)
    p.add_argument("--verify", action="store_true", help=VERIFY_HELP)
    p.add_argument(
        "--mode",
        choices=("extractive", "generative"),
        default=None,
        help="extractive: qa's own quotes; generative: written by the language model (the default when there is one)",
    )
    p.add_argument(
        "--chat", action="store_true", help="standard input is one conversation: a question may follow up the last"
    )
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="measure retrieval, answers and refusals on labelled questions")
    p.add_argument(
        "--squad", type=Path, default=None, help="SQuAD 2.0 JSON (default: ../shared/data/squad2-dev-a.json)"
    )
    p.add_argument("--bbc", type=Path, default=None, help="BBC articles folder (default: ../shared/data/bbc)")
    p.add_argument("--shared", type=Path, default=Path("../shared"), help="where the shared data lives")
    p.add_argument("--work", type=Path, default=Path("bench/results/eval"), help="cache for the evaluation indexes")
    last = HELD_OUT_ROUNDS[-1]  # the help lists the rounds the runner knows, not a copy of them
    p.add_argument(
        "--suite",
        action="append",
        help=f"run only these suites (squad2; seed-heldout, seed-heldout2 … seed-heldout{last}; "
        f"bbc-heldout, bbc-heldout2 … bbc-heldout{last}; bbc-dev, bbc-written-dev)",
    )
    p.add_argument("--limit", type=_at_least(1), default=None, help="questions per suite, sampled (quick runs)")
    p.add_argument("--reader", default=d.reader, metavar="READER", help=READER_HELP)
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the results as JSON")
    p.add_argument("--llm", default=None, metavar="MODEL", help="also evaluate generative answers with this model")
    p.add_argument(
        "--verify",
        action="store_true",
        help="with --llm: evaluate qa's quotes checked by the model, not written answers",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("reader", help="train qa's reader model (`qa reader train --help`)")
    p.add_argument("action", choices=("train",), help="train: build the pairs, train, export ONNX, write the card")
    p.add_argument("options", nargs=argparse.REMAINDER, help="options of the action (see `qa reader train --help`)")
    p.set_defaults(func=cmd_reader)

    p = sub.add_parser("mcp", help="serve the index to agents as an MCP server over stdio (README: MCP)")
    p.add_argument("--index", type=Path, default=d.index_dir, help="index folder or URI (default: %(default)s)")
    p.add_argument("--reader", default=d.reader, metavar="READER", help=READER_HELP)
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("info", help="what is in the index")
    p.add_argument("--index", type=Path, default=d.index_dir, help="index folder or URI (default: %(default)s)")
    p.add_argument("--check", action="store_true", help="also verify file hashes and the index's consistency")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)
    return parser


def _version() -> str:
    from ..config import __version__

    return __version__
