"""One function per `qa` subcommand (its arguments: parser.py). Each is a few lines over
`QA`, the indexer or the evaluation; `qa serve` lives in serve.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..config import Settings
from .common import EXIT_ERROR, EXIT_OK, build_settings, check_verify, print_report


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


def cmd_ask(args) -> int:
    from ..engine import QA
    from ..types import InvalidQuestion

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
    from ..evaluation.questions import default_suites
    from ..evaluation.runner import evaluate, format_table

    settings = Settings(llm=None, verify=args.verify, reader=args.reader)
    check_verify(settings.replace(llm=args.llm))
    root = Path(__file__).resolve().parents[2]  # the repository (tests/data, bench/questions)
    args.work.mkdir(parents=True, exist_ok=True)
    suites = default_suites(args.shared, root, args.work, squad=args.squad, bbc=args.bbc)
    if args.suite:
        unknown = sorted(set(args.suite) - {s.name for s in suites})
        if unknown:
            names = ", ".join(s.name for s in suites) or "none (see --squad, --bbc, --shared)"
            print(
                f"qa: no evaluation suite {', '.join(map(repr, unknown))}: the suites found are {names}",
                file=sys.stderr,
            )
            return EXIT_ERROR
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
