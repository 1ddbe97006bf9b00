"""Incremental update of the full BBC index: add one article, change one, delete one.

    make bench-update       # = .venv/bin/python bench/update.py

Works on a copy of the index bench/build.py leaves in bench/results/work/ (built
here first if missing). Each step is timed twice: in process with the model
already loaded (what the chat server's watcher does) and as a fresh `qa index`
process (what a user types). With --rebuild the copy is then fully rebuilt in
process for the comparison; otherwise the comparison uses bench/build.py's time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import Settings  # noqa: E402
from qa.embedding import Embedder  # noqa: E402
from qa.indexing import Indexer  # noqa: E402

WORK = ROOT / "bench/results/work"


def new_article(squad: Path, size: int = 5000) -> str:
    """About `size` characters of real text no BBC article holds: one Wikipedia topic from SQuAD."""
    data = json.loads(squad.read_text(encoding="utf-8"))["data"]
    topic = data[0]
    text = topic["title"].replace("_", " ") + "\n\n"
    for para in topic["paragraphs"]:
        if len(text) >= size:
            break
        text += para["context"] + "\n\n"
    return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--squad", type=Path, default=ROOT.parent / "shared/data/squad2-dev-a.json")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/update.json")
    ap.add_argument("--rebuild", action="store_true", help="time a full rebuild here too (about 11 minutes)")
    args = ap.parse_args()

    settings = Settings()
    embedder = Embedder(settings.model, batch_size=settings.batch_size)
    base_corpus, base_index = args.work / "bbc-corpus", args.work / "bbc-index"
    if not (base_index / "CURRENT").exists():
        print("no index from bench/build.py yet: building it (about 11 minutes on 2 cores)")
        subprocess.run([sys.executable, str(ROOT / "bench/build.py"), "--no-langchain"], check=True)
    corpus, index = args.work / "update-corpus", args.work / "update-index"
    for src, dst in ((base_corpus, corpus), (base_index, index)):
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
    indexer = Indexer(settings, embedder)

    def in_process() -> tuple[float, str, dict]:
        t0 = time.perf_counter()
        report = indexer.build(corpus, index, progress=False)
        return time.perf_counter() - t0, report.summary(), {k: round(v, 3) for k, v in report.timings.items()}

    def cli() -> tuple[float, str]:
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        cmd = [str(ROOT / ".venv/bin/qa"), "index", "--corpus", str(corpus), "--index", str(index), "-q"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        return time.perf_counter() - t0, ""

    article = new_article(args.squad)
    steps = {
        "add one ~5 KB article": (
            lambda: (corpus / "added.txt").write_text(article, encoding="utf-8"),
            lambda: (corpus / "added.txt").unlink(),
        ),
        "change one article": (
            lambda: _append(corpus / "bbc/business/001.txt", "\nThe company declined to comment further.\n"),
            lambda: _append(corpus / "bbc/business/001.txt", None),
        ),
        "delete one article": (
            lambda: _move(corpus / "bbc/tech/001.txt", args.work / "tech-001.txt"),
            lambda: _move(args.work / "tech-001.txt", corpus / "bbc/tech/001.txt"),
        ),
    }
    in_process()  # warm: first call opens the index files
    rows = {}
    for name, (do, undo) in steps.items():
        do()
        warm_s, summary, stages = in_process()
        undo()
        in_process()
        do()
        cli_s, _ = cli()
        undo()
        in_process()
        rows[name] = {
            "in_process_s": round(warm_s, 3),
            "stages_s": stages,
            "qa_index_process_s": round(cli_s, 2),
            "report": summary,
        }
        print(f"{name}: {warm_s:.3f} s in process, {cli_s:.2f} s as `qa index` ({summary})")

    result = {"articles": sum(1 for _ in corpus.rglob("*.txt")), "steps": rows, "added_chars": len(article)}
    if args.rebuild:
        t0 = time.perf_counter()
        indexer.build(corpus, index, rebuild=True, progress=False)
        result["full_rebuild_s"] = round(time.perf_counter() - t0, 1)
    elif (args.work.parent / "build.json").exists():
        result["full_rebuild_s"] = json.loads((args.work.parent / "build.json").read_text())["build_s"]
    if "full_rebuild_s" in result:
        for row in rows.values():
            row["vs_full_rebuild"] = round(row["in_process_s"] / result["full_rebuild_s"], 5)
        print(f"full rebuild: {result['full_rebuild_s']} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


_original: dict[Path, bytes] = {}


def _append(path: Path, extra: str | None) -> None:
    if extra is None:
        path.write_bytes(_original.pop(path))
    else:
        _original[path] = path.read_bytes()
        path.write_bytes(_original[path] + extra.encode())


def _move(src: Path, dst: Path) -> None:
    shutil.move(src, dst)


if __name__ == "__main__":
    main()
