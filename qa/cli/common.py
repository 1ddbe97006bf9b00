"""What the subcommands (and `qa serve`, in serve.py) share: exit codes, the settings an
existing index was built with, the build report, the check of --verify."""

from __future__ import annotations

import json
from pathlib import Path

from ..config import Settings

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


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


def check_verify(settings: Settings) -> None:
    """--verify without a model that can check answers fails here, before minutes of indexing."""
    if settings.verify:
        from ..answering.verification import check_model

        check_model(settings.llm)
