"""What an update of the full BBC index costs: bytes written, disk, time; and compaction.

    make bench-update       # = .venv/bin/python bench/update.py

Works on a copy of the index bench/build.py leaves in bench/results/work/ (built there
first if missing). Steps, each measured twice, in a process that already holds the
model (what the chat server's watcher does) and as a fresh `qa index` process (what a
user types): nothing to do, add one ~5 KB article, change one article, delete one.
Bytes written come from /proc/self/io (`write_bytes`: what the process sent towards the
disk, counted as pages are dirtied), for the process as a whole.

Then segments: 50 single-article updates in a row with merging off, dense search latency
over those 51 segments against the same vectors after `qa index --compact` (one segment),
side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import Settings  # noqa: E402
from qa.indexing.indexer import Indexer  # noqa: E402
from qa.store.faiss_sqlite import FaissStore  # noqa: E402

WORK = ROOT / "bench/results/work"

# A `qa index` process that reports its own I/O as it exits (the console script's code path).
_CHILD = """
import json, sys
from qa.cli import main
rc = main(sys.argv[1:])
io = {k: int(v) for k, v in (line.split(": ") for line in open("/proc/self/io").read().split("\\n") if line)}
io["torch_imported"] = "torch" in sys.modules
sys.stderr.write("\\nIO " + json.dumps(io) + "\\n")
sys.exit(rc)
"""


def written(field: str = "write_bytes") -> int:
    """From /proc/self/io: `write_bytes`, what the kernel counts as sent towards the disk (a page
    counts again each time it is dirtied after a flush), or `wchar`, the bytes given to write()."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/io")


def checkpoint(index: Path) -> None:
    """Copy the write-ahead log into the metadata file and empty it (outside the measurements)."""
    import sqlite3

    for db in index.glob("meta-*.sqlite"):
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def new_article(squad: Path, size: int = 5000, number: int = 0) -> str:
    """About `size` characters of real text no BBC article holds: SQuAD's Wikipedia paragraphs,
    a different run of them for each `number`."""
    data = json.loads(squad.read_text(encoding="utf-8"))["data"]
    paragraphs = [(t["title"], p["context"]) for t in data for p in t["paragraphs"]]
    start = (number * 7) % len(paragraphs)
    text = paragraphs[start][0].replace("_", " ") + "\n\n"
    for _, context in paragraphs[start:] + paragraphs[:start]:
        if len(text) >= size:
            break
        text += context + "\n\n"
    return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--squad", type=Path, default=ROOT.parent / "shared/data/squad2-dev-a.json")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/update.json")
    ap.add_argument("--segments", type=int, default=50, help="small segments for the search comparison")
    ap.add_argument("--repeat", type=int, default=5, help="in-process measurements of each step")
    args = ap.parse_args()

    base_corpus, base_index = args.work / "bbc-corpus", args.work / "bbc-index"
    if not (base_index / "CURRENT").exists():
        print("no index from bench/build.py yet: building it (about 11 minutes on 2 cores)")
        subprocess.run([sys.executable, str(ROOT / "bench/build.py"), "--no-langchain"], check=True)
    corpus, index = args.work / "update-corpus", args.work / "update-index"
    for src, dst in ((base_corpus, corpus), (base_index, index)):
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
    settings = Settings(index_dir=index)
    indexer = Indexer(settings)
    result: dict = {"articles": sum(1 for _ in corpus.rglob("*.txt"))}

    def in_process(**kwargs) -> dict:
        checkpoint(index)  # earlier updates' log pages are theirs to pay for
        before_disk, before_io, before_w = folder_bytes(index), written(), written("wchar")
        t0 = time.perf_counter()
        report = indexer.build(corpus, index, progress=False, **kwargs)
        checkpoint(index)  # and this one's are its own (SQLite checkpoints when the last connection closes)
        return {
            "s": round(time.perf_counter() - t0, 3),
            "written_bytes": written() - before_io,
            "write_calls_bytes": written("wchar") - before_w,
            "folder_before": before_disk,
            "folder_after": folder_bytes(index),
            "report": report.summary(),
            "stages_s": {k: round(v, 3) for k, v in report.timings.items()},
        }

    def as_process(*extra: str) -> dict:
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        cmd = [sys.executable, "-c", _CHILD, "index", "--corpus", str(corpus), "--index", str(index), "-q", *extra]
        checkpoint(index)
        before_disk = folder_bytes(index)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - t0
        io = json.loads(done.stderr.rsplit("IO ", 1)[1])
        return {
            "s": round(seconds, 2),
            "written_bytes": io["write_bytes"],
            "write_calls_bytes": io["wchar"],
            "folder_before": before_disk,
            "folder_after": folder_bytes(index),
            "torch_imported": io["torch_imported"],
            "said": done.stdout.strip()[-200:],
        }

    t0 = time.perf_counter()
    upgrade = as_process()
    upgrade["s"] = round(time.perf_counter() - t0, 2)
    result["first_run_on_the_copy"] = upgrade  # a format-1 index from an older build.py is upgraded here
    print(f"first `qa index` on the copy: {upgrade}", flush=True)
    in_process()  # warm: loads the encoder and the segments

    article = new_article(args.squad)
    business = sorted((corpus / "bbc/business").glob("*.txt"))[0]
    tech = sorted((corpus / "bbc/tech").glob("*.txt"))[0]
    original = business.read_bytes()
    steps = {
        "nothing to do": (lambda: None, lambda: None),
        "add one ~5 KB article": (
            lambda: (corpus / "added.txt").write_text(article, encoding="utf-8"),
            lambda: (corpus / "added.txt").unlink(),
        ),
        "change one article": (
            lambda: business.write_bytes(original + b"\nThe company declined to comment further.\n"),
            lambda: business.write_bytes(original),
        ),
        "delete one article": (
            lambda: shutil.move(tech, args.work / "deleted.txt"),
            lambda: shutil.move(args.work / "deleted.txt", tech),
        ),
    }
    rows = {}
    for name, (do, undo) in steps.items():
        warm, back = [], []
        for _ in range(args.repeat):  # the change, then undoing it: two updates of the same size
            do()
            warm.append(in_process())
            undo()
            back.append(in_process())
        do()
        cold = as_process()
        undo()
        in_process()
        rows[name] = {
            "in_process": summarise(warm),
            "undoing_it_in_process": summarise(back),
            "qa_index_process": cold,
            "example": warm[-1],
        }
        w = rows[name]["in_process"]
        print(
            f"{name}: {w['s_median']:.3f} s, {w['written_mb_median']:.2f} MB (max {w['written_mb_max']:.2f}) "
            f"in process; {cold['s']:.2f} s / {cold['written_bytes'] / 1e6:.2f} MB as `qa index`; "
            f"folder x{w['folder_growth_max']:.4f}",
            flush=True,
        )
    result["steps"] = rows
    result["segments"] = segments_vs_compacted(args, corpus, index, settings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def summarise(runs: list[dict]) -> dict:
    return {
        "s_median": statistics.median(r["s"] for r in runs),
        "written_mb_median": statistics.median(r["written_bytes"] for r in runs) / 1e6,
        "written_mb_max": max(r["written_bytes"] for r in runs) / 1e6,
        "write_calls_mb_median": statistics.median(r["write_calls_bytes"] for r in runs) / 1e6,
        "folder_growth_max": max(r["folder_after"] / r["folder_before"] for r in runs),
        "runs": len(runs),
    }


def segments_vs_compacted(args, corpus: Path, index: Path, settings: Settings) -> dict:
    """Dense search over many small segments vs. the same vectors compacted into one."""
    many = Indexer(settings.replace(max_segments=10_000))
    adds = []
    for i in range(args.segments):
        (corpus / f"seg-{i:03d}.txt").write_text(new_article(args.squad, 1500, number=i + 1), encoding="utf-8")
        t0 = time.perf_counter()
        many.build(corpus, index, progress=False)
        adds.append(time.perf_counter() - t0)
    questions = [q["question"] for a in json.loads(args.squad.read_text())["data"][:20] for p in a["paragraphs"]
                 for q in p["qas"]][:300]  # fmt: skip
    fragmented = FaissStore(index).open()
    encoder = many.embedder
    vectors = np.asarray(encoder.embed_queries(questions), dtype=np.float32)
    t0 = time.perf_counter()
    many.build(corpus, index, progress=False, compact=True)
    compact_s = time.perf_counter() - t0
    merged = FaissStore(index).open()
    same = sum(
        [i for i, _ in fragmented.search_dense(v, 40)] == [i for i, _ in merged.search_dense(v, 40)] for v in vectors
    )
    timing = {"fragmented": [], "compacted": []}
    for _ in range(5):  # interleaved rounds: the machine's noise hits both alike
        for name, snap in (("fragmented", fragmented), ("compacted", merged)):
            for v in vectors:
                t1 = time.perf_counter()
                snap.search_dense(v, 40)
                timing[name].append(time.perf_counter() - t1)
    p50 = {k: statistics.median(v) * 1000 for k, v in timing.items()}
    out = {
        "segments_before": len(fragmented.manifest["segments"]),
        "segments_after": len(merged.manifest["segments"]),
        "single_article_adds_s_median": round(statistics.median(adds), 3),
        "compact_s": round(compact_s, 2),
        "search_p50_ms": {k: round(v, 3) for k, v in p50.items()},
        "ratio": round(p50["fragmented"] / p50["compacted"], 3),
        "same_top40": f"{same}/{len(vectors)}",
    }
    print(f"segments: {out}", flush=True)
    for i in range(args.segments):
        (corpus / f"seg-{i:03d}.txt").unlink()
    return out


if __name__ == "__main__":
    main()
