"""`qa serve` and `qa hash-password`: index if needed, check the credentials, open the chat and
the JSON API on one port (the argument parsing lives in parser.py)."""

from __future__ import annotations

import contextlib
import sys

from .common import EXIT_ERROR, EXIT_OK, build_settings, check_verify, print_report


def serve(args) -> int:
    from ..engine import QA
    from ..indexing.indexer import Indexer
    from ..serving.server import while_building
    from ..store import open_store

    settings = build_settings(args.index, corpus_dir=args.corpus, llm=args.llm, verify=args.verify, reader=args.reader)
    check_verify(settings)
    credentials = _credentials(args)  # before minutes of indexing, not after
    _check_port_free(args.host, args.port)
    if args.read_only and args.no_watch:
        # A replica: it never writes the index (another process does, e.g. `qa index --watch`).
        qa = QA.load(args.index, settings=settings)
    else:
        first = not open_store(args.index, settings.store).exists()
        # A first build takes minutes: meanwhile the port says so (503) instead of refusing connections.
        with while_building(args.host, args.port) if first else contextlib.nullcontext():
            indexer = Indexer(settings)
            report = indexer.build(wait=60, on_message=lambda line: print(line, file=sys.stderr))
            args.json = False
            print_report(args, report)
            qa = QA.load(args.index, settings=settings, embedder=indexer.embedder)  # the model loads once for both
    _ = qa.reader  # a reader that cannot load says so now, not at the first question
    if qa.llm is not None and hasattr(qa.llm, "load"):
        print(f"qa: loading the language model {args.llm}", file=sys.stderr)
        qa.llm.load()

    from ..ui.app import create_app, launch

    demo, chat = create_app(qa, args.corpus, watch=not args.no_watch, read_only=args.read_only)
    guarded = " · sign-in required" if credentials else ""
    print(
        f"qa: chat open at http://{args.host}:{args.port}, API at /api (docs: /api/docs){guarded}"
        f"{' · read-only' if args.read_only else ''}  (Ctrl-C to stop)",
        flush=True,
    )
    launch(demo, host=args.host, port=args.port, share=args.share, chat=chat, credentials=credentials)
    return EXIT_OK


def _credentials(args):
    """The server's credentials; bound beyond this machine (or shared) without any, qa refuses to start."""
    import ipaddress

    from ..serving.auth import AuthConfigError, Credentials

    try:
        credentials = Credentials.from_options(args.auth_token, args.auth_file, args.trusted_proxy)
    except AuthConfigError as exc:
        raise ValueError(str(exc)) from None
    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if credentials is None and (args.share or not loopback):
        where = "a public share link" if args.share else f"{args.host} (beyond this machine)"
        raise ValueError(
            f"refusing to serve on {where} without a credential: pass --auth-token (or set QA_AUTH_TOKEN) "
            "or --auth-file, or bind to 127.0.0.1"
        )
    return credentials


def hash_password_line(args) -> int:
    import getpass

    from ..serving.auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.user}: ")
        if getpass.getpass("again: ") != password:
            print("qa: the two passwords differ", file=sys.stderr)
            return EXIT_ERROR
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8 or ":" in args.user:
        print("qa: use a password of at least 8 characters and a user name without ':'", file=sys.stderr)
        return EXIT_ERROR
    print(f"{args.user}:{hash_password(password)}")
    return EXIT_OK


def _check_port_free(host: str, port: int) -> None:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ValueError(
                f"cannot open the chat on {host}:{port} ({exc.strerror or exc}): "
                "is qa already running there? Choose another port with --port"
            ) from None
