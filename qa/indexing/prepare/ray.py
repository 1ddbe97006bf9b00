"""Preparing files on a Ray cluster: Ray Data reads the list of files, and a pool of actors,
one per CPU core (or one per GPU where the cluster has them), each holding the model, loads,
splits and embeds batches of them. The results stream back in the files' order to the one
writer, in the `qa index` process. The same functions as in-process (`qa.prepare`) do the
work, so the chunks are the same and the vectors equal within float rounding.

Workers read the files by their path: on a cluster of several machines the corpus must be
on storage every node mounts at the same path, and qa installed on every node
(docs/scaling.md). Needs `pip install "qa[ray]"`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ...config import Settings
from ...ingestion.files import CorpusFile, Skipped
from ...ingestion.loading import Loaded, load_file
from ...store.base import first_line
from ...types import Document
from .base import Job, Prepared, chunker_for, embed, split

FILES_PER_BATCH = 8
"""Files an actor prepares at once (~300 chunks of news articles: a few model batches)."""


class RayUnavailable(RuntimeError):
    pass


def _ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report: qa runs offline
    try:
        import ray
        import ray.data
    except ImportError:
        raise RayUnavailable("--ray needs Ray Data: pip install \"qa[ray]\" (or pip install 'ray[data]')") from None
    return ray


class RayPreparer:
    def __init__(self, settings: Settings, say: Callable[[str], None]):
        self.settings = settings
        self.say = say
        self.embedded_chunks = 0

    def _connect(self, ray) -> None:
        if ray.is_initialized():
            return
        address = self.settings.ray
        quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
        with warnings.catch_warnings():
            # Ray forks and at once execs its own processes: nothing of LanceDB's runtime (already
            # loaded when qa opened a Lance index) runs in the child, so its fork warning is moot.
            warnings.filterwarnings("ignore", message="lancedb fork support", category=RuntimeWarning)
            try:
                if address == "auto":
                    # The CPUs this process may run on (taskset, a container's cpuset), not the
                    # host's: one model-loading worker per host core would only thrash.
                    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
                    self.say(f"starting a Ray cluster on this machine ({cpus} CPU{'s' if cpus != 1 else ''})")
                    # "local": always a new cluster, as promised. Without it Ray joins whatever
                    # RAY_ADDRESS or /tmp/ray/ray_current_cluster names (even one long dead) and
                    # then refuses num_cpus with a message that names no qa option.
                    ray.init(address="local", num_cpus=cpus, include_dashboard=False, **quiet)
                else:
                    self.say(f"joining the Ray cluster at {address}")
                    ray.init(address=address, **quiet)
            except Exception as exc:  # unreachable, refused, wrong token: a message, not a traceback
                where = (
                    "start a Ray cluster on this machine" if address == "auto" else f"join the Ray cluster at {address}"
                )
                raise RayUnavailable(f"could not {where} ({first_line(exc)})") from None

    def prepare(self, jobs: Sequence[Job], progress: bool | None) -> Iterator[Prepared]:
        if not jobs:
            return
        ray = _ray()
        self._connect(ray)
        from ray.data import ActorPoolStrategy, DataContext

        for name in ("ray", "ray.data"):  # Ray's progress and plan go to its log files, not the terminal
            logging.getLogger(name).setLevel(logging.WARNING)
        context = DataContext.get_current()
        context.execution_options.preserve_order = True  # the writer gets the files in order
        context.enable_progress_bars = progress is not False and progress is not None
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
        if gpus:
            workers, per_worker, device = gpus, {"num_gpus": 1}, "cuda"
        else:
            workers, per_worker, device = cpus, {"num_cpus": 1}, "cpu"
        workers = max(1, min(workers, -(-len(jobs) // FILES_PER_BATCH)))  # no idle actor for a small update
        files = f"{len(jobs):,} file{'s' if len(jobs) != 1 else ''}"
        self.say(f"preparing {files} on {workers} Ray worker{'s' if workers != 1 else ''} ({'GPU' if gpus else 'CPU'})")
        items = [
            # Absolute paths: a worker's working folder is the cluster's, not this process's, so a
            # relative --corpus would find no file there (every one skipped, an empty index published).
            {"location": os.path.abspath(j.file.location), "source": j.file.source,
             "sidecar": os.path.abspath(j.file.sidecar) if j.file.sidecar else "", "sha256": j.sha256,
             "stat": j.stat or ""}
            for j in jobs
        ]  # fmt: skip
        dataset = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), workers * 4)))
        prepared = dataset.map_batches(
            PrepareBatch,
            fn_constructor_args=(self.settings.replace(device=device).to_dict(), 1 if device == "cpu" else 0),
            batch_size=FILES_PER_BATCH,
            batch_format="pyarrow",
            compute=ActorPoolStrategy(size=workers),
            **per_worker,
        )
        for row in prepared.iter_rows():
            item = from_row(row)
            if item.vectors is not None:
                self.embedded_chunks += len(item.chunks)
            yield item


class PrepareBatch:
    """A Ray actor: the model, loaded once; prepares a batch of files per call."""

    def __init__(self, settings: dict, threads: int):
        from ...embedding.onnx import article_embedder

        self.settings = Settings.from_dict(settings)
        self.embedder = article_embedder(self.settings, threads)
        self.chunker = chunker_for(self.embedder, self.settings)

    def __call__(self, batch):
        import pyarrow as pa

        rows = batch.to_pylist()
        loaded: list[Loaded] = []
        out: list[dict] = []
        for row in rows:
            file = CorpusFile(row["location"], row["source"], Path(row["sidecar"]) if row["sidecar"] else None)
            item = load_file(file, row["sha256"])
            if item.document is not None:
                item.document = dataclasses.replace(item.document, stat=row["stat"] or None)
                loaded.append(item)
            out.append(item)
        done = {}
        if loaded:
            parts = split([item.document for item in loaded], self.embedder, self.chunker, self.settings)
            done = {p.source: p for p in embed(loaded, parts, self.embedder)}
        return pa.Table.from_pylist([to_row(done.get(row["source"]) or Prepared(row["source"], item))
                                     for row, item in zip(rows, out, strict=True)])  # fmt: skip


def to_row(item: Prepared) -> dict:
    """A prepared file as one Arrow row (plain columns and bytes: nothing pickled)."""
    doc = item.document
    row = {
        "source": item.source,
        "skipped": item.loaded.skipped.reason if item.loaded.skipped else None,
        "notes": list(item.loaded.notes),
        "document": json.dumps(dataclasses.asdict(doc), ensure_ascii=False) if doc else None,
        "sentences": [v for s, e, _ in item.sentences for v in (s, e)],
        "sentence_vectors": np.asarray([v for _, _, v in item.sentences], np.float32).tobytes(),
        "chunks": [v for chunk in item.chunks for v in chunk],
        "vectors": np.asarray(item.vectors, np.float32).tobytes() if item.vectors is not None else b"",
    }
    return row


def from_row(row: dict) -> Prepared:
    loaded = Loaded(notes=list(row["notes"] or []))
    if row["skipped"] is not None:
        loaded.skipped = Skipped(row["source"], row["skipped"])
        return Prepared(row["source"], loaded)
    loaded.document = Document(**json.loads(row["document"]))
    spans = list(zip(row["sentences"][::2], row["sentences"][1::2], strict=True))
    chunks = [tuple(row["chunks"][i : i + 4]) for i in range(0, len(row["chunks"]), 4)]
    sentence_vectors = _matrix(row["sentence_vectors"], len(spans))
    vectors = _matrix(row["vectors"], len(chunks))
    return Prepared(
        row["source"],
        loaded,
        [(s, e, v) for (s, e), v in zip(spans, sentence_vectors, strict=True)],
        chunks,
        vectors,
    )


def _matrix(data: bytes, rows: int) -> np.ndarray:
    flat = np.frombuffer(data, np.float32)
    return flat.reshape(rows, -1) if rows else flat.reshape(0, 0)
