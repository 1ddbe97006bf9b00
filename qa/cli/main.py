"""The `qa` command: index, ask, info, serve. A thin shell over `qa.QA`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ..config import Settings

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
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
    p.add_argument(
        "--suite",
        action="append",
        help="run only these suites (squad2, seed-heldout, seed-heldout2, seed-heldout3, seed-heldout4, bbc-heldout, bbc-heldout2, bbc-heldout3, bbc-heldout4, bbc-dev)",
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
    from .. import __version__

    return __version__


def cmd_index(args) -> int:
    from ..indexing.indexer import Indexer

    settings = build_settings(
        args.index,
        corpus_dir=args.corpus,
        model=args.model,
        chunk_tokens=args.chunk_tokens,
        store=args.store,
        ray=args.ray,
    )
    messages = []

    def say(line: str) -> None:
        messages.append(line)
        if not args.json:
            print(line, file=sys.stderr)

    indexer = Indexer(settings)
    report = indexer.build(
        rebuild=args.rebuild,
        compact=args.compact,
        wait=args.wait,
        progress=not (args.quiet or args.json),
        on_message=say,
    )
    print_report(args, report)
    if args.watch:
        import threading

        from ..indexing.watch import watch_corpus

        print(f"watching {args.corpus}/ for changes (Ctrl-C to stop)", file=sys.stderr)
        watch_corpus(
            args.corpus,
            lambda changed: indexer.build(wait=300, progress=False, on_message=say, only=changed),
            threading.Event(),
            on_report=lambda r: r.changed_anything and print_report(args, r),
        )
    return EXIT_OK


def build_settings(index_dir: Path, **given) -> Settings:
    """Settings to update `index_dir` with: what it was built with (model, chunk size…),
    unless a flag says otherwise. A plain `qa index` or `qa serve` never rebuilds an index
    made with `--chunk-tokens 128` at the default size; a flag that differs rebuilds it."""
    from ..config import built_with
    from ..store import IndexError_, open_store

    try:
        kept = built_with(open_store(index_dir).read_manifest())
    except IndexError_:
        kept = {}
    return Settings(index_dir=index_dir, **(kept | {k: v for k, v in given.items() if v is not None}))


def print_report(args, report) -> None:
    from ..answering.presenting import plural
    from ..store import location_of

    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False), flush=True)
        return
    where = location_of(args.index).rstrip("/") + "/"
    if report.version is None:
        print(
            f"{where} is up to date: {plural(report.documents, 'document')}, "
            f"{plural(report.chunks, 'chunk')} ({report.summary()})"
        )
    else:
        print(
            f"{report.summary()}; {plural(report.embedded_chunks, 'chunk')} embedded in {report.seconds:.1f} s. "
            f"{where} now holds {plural(report.documents, 'document')}, "
            f"{plural(report.chunks, 'chunk')} ({report.version}).",
            flush=True,
        )


def cmd_serve(args) -> int:
    from .serve import serve  # the chat server's own module: its dependencies load only here

    return serve(args)


def cmd_mcp(args) -> int:
    """Standard output is the protocol's channel: everything else qa says goes to standard error."""
    from ..engine import QA
    from ..serving.mcp_server import run_stdio

    qa = QA.load(args.index, settings=Settings(llm=None, reader=args.reader))
    run_stdio(qa)
    return EXIT_OK


def cmd_hash_password(args) -> int:
    from .serve import hash_password_line

    return hash_password_line(args)


def check_verify(settings: Settings) -> None:
    """--verify without a model that can check answers fails here, before minutes of indexing."""
    if settings.verify:
        from ..answering.verification import check_model

        check_model(settings.llm)


def cmd_ask(args) -> int:
    from ..engine import QA, InvalidQuestion

    settings = Settings(llm=args.llm, verify=args.verify, reader=args.reader)
    check_verify(settings)
    qa = QA.load(args.index, settings=settings)
    args.question = " ".join(args.question) if args.question else None
    if args.question is not None:
        questions = [args.question]
    else:
        if sys.stdin.isatty():
            print("qa: type one question per line (Ctrl-D to finish)", file=sys.stderr)
        questions = (line.rstrip("\n") for line in sys.stdin)
    status = EXIT_OK
    session = qa.session(args.mode) if args.chat else None
    for question in questions:
        if args.question is None and not question.strip():
            continue
        try:
            answer = session.ask(question, k=args.k) if session else qa.ask(question, k=args.k, mode=args.mode)
        except InvalidQuestion as exc:
            status = EXIT_ERROR
            if args.json:
                print(json.dumps({"question": question, "error": str(exc)}, ensure_ascii=False), flush=True)
            else:
                print(f"qa: {exc}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
        else:
            print(_render(answer, show_question=args.question is None), flush=True)
    return status


def _render(answer, show_question: bool) -> str:
    from ..answering.presenting import as_plain_text

    lines = [f"Q: {answer.question}"] if show_question else []
    if answer.standalone_question:
        lines.append(f"(read as: {answer.standalone_question})")
    lines.append(as_plain_text(answer))
    lines.append("")
    return "\n".join(lines)


def cmd_eval(args) -> int:
    from ..evaluation.runner import default_suites, evaluate, format_table

    settings = Settings(llm=None, verify=args.verify, reader=args.reader)
    check_verify(settings.replace(llm=args.llm))
    root = Path(__file__).resolve().parents[2]  # the repository (tests/data, bench/questions)
    args.work.mkdir(parents=True, exist_ok=True)
    suites = default_suites(args.shared, root, args.work, squad=args.squad, bbc=args.bbc)
    if args.suite:
        suites = [s for s in suites if s.name in args.suite]
    if not suites:
        print("qa: no evaluation data found (see --squad, --bbc, --shared)", file=sys.stderr)
        return EXIT_ERROR
    if args.llm and args.limit is None:
        what = "answers checked by the model" if args.verify else "generative answers"
        print(f"qa: {what} take seconds each; consider --limit N", file=sys.stderr)
    results = []
    embedder = None
    for suite in suites:
        print(f"evaluating {suite.name}: {len(suite.questions)} questions", file=sys.stderr)
        from ..embedding.model import Embedder

        embedder = embedder or Embedder(settings.model, batch_size=settings.batch_size)
        results.append(
            evaluate(suite, args.work / "indexes", settings, embedder=embedder, limit=args.limit, llm=args.llm)
        )
    print(format_table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_reader(args) -> int:
    from ..training.train import main as train

    train(args.options)
    return EXIT_OK


def cmd_info(args) -> int:
    from ..store import open_store

    store = open_store(args.index)
    snapshot = store.open()
    info = snapshot.describe()
    problems = store.verify_hashes() + snapshot.check() if args.check else []
    if args.json:
        if args.check:
            info["check"] = problems or "ok"
        print(json.dumps(info, ensure_ascii=False))
    else:
        from ..ingestion.files import file_size

        width = max(len(k) for k in [*info, "check"])
        for key, value in info.items():
            if key == "size_bytes":
                key, value = "size", file_size(value) if value is not None else "not counted (object storage)"
            print(f"{key:<{width}}  {value}")
        if args.check:
            print(f"{'check':<{width}}  {'ok' if not problems else f'{len(problems)} problem(s):'}")
            for problem in problems:
                print(f"  - {problem}")
    if problems:
        print("qa: the index is damaged; `qa index --rebuild` builds it again from the corpus", file=sys.stderr)
    return EXIT_ERROR if problems else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
