"""Builds on a real local Ray cluster (2 CPUs): the same chunks, vectors and answers as the
in-process build; end to end, `qa index --ray auto --store lance` then `qa ask`."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, SEED_SOURCE, copy_seed, load_questions

from qa import QA
from qa.indexing.indexer import Indexer
from qa.store import open_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _chunks(index) -> dict:
    snap = open_store(index).open()
    out = {}
    for doc in snap.documents():
        rows = snap.db.execute("SELECT id, start, end FROM chunks WHERE doc_id = ? ORDER BY start", (doc.id,))
        rows = rows.fetchall()
        out[doc.source] = ([(s, e) for _, s, e in rows], snap.chunk_vectors([r[0] for r in rows]))
    return out


def test_a_ray_build_matches_the_local_build(ray_cluster, tmp_path, news_corpus, news_index, settings, embedder):
    index = tmp_path / "index"
    report = Indexer(settings.replace(ray="auto"), embedder).build(news_corpus, index, progress=False)
    local_index, local = news_index
    assert (report.documents, report.chunks, report.sentences) == (local.documents, local.chunks, local.sentences)
    assert sorted(s.source for s in report.skipped) == sorted(s.source for s in local.skipped)
    ray_chunks, local_chunks = _chunks(index), _chunks(local_index)
    assert ray_chunks.keys() == local_chunks.keys()
    for source, (spans, vectors) in ray_chunks.items():
        assert spans == local_chunks[source][0], source
        cosines = np.sum(vectors * local_chunks[source][1], axis=1)
        assert cosines.min() > 0.999, source  # the workers' ONNX export or PyTorch: same vectors
    ray_qa, local_qa = QA.load(index, embedder=embedder), QA.load(local_index, embedder=embedder)
    for q in load_questions("seed"):
        a, b = ray_qa.ask(q["question"]), local_qa.ask(q["question"])
        assert (a.refused, [c.quote for c in a.citations]) == (b.refused, [c.quote for c in b.citations]), q

    # An update on the cluster: only the new article is prepared.
    (news_corpus_copy := tmp_path / "corpus").mkdir()
    copy_seed(news_corpus_copy)
    report = Indexer(settings.replace(ray="auto"), embedder).build(news_corpus_copy, index, progress=False)
    assert report.added == [] and len(report.removed) == local.documents - 1 and report.embedded_chunks == 0


def test_end_to_end_ray_build_into_lance_then_ask(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "x"
    copy_seed(corpus)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    qa = [sys.executable, "-m", "qa"]
    built = subprocess.run(
        [*qa, "index", "--ray", "auto", "--store", "lance", "--corpus", str(corpus), "--index", str(index), "-q"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "starting a Ray cluster" in built.stderr and "+1 added" in built.stdout + built.stderr
    asked = subprocess.run(
        [*qa, "ask", "--index", str(index), "--json", "What did Russia announce on Mar. 25?"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert asked.returncode == 0, asked.stderr
    import json

    answer = json.loads(asked.stdout)
    citation = answer["citations"][0]
    text = (corpus / SEED_SOURCE).read_text(encoding="utf-8")
    assert not answer["refused"] and citation["source"] == SEED_SOURCE
    assert "Russia announced on Mar. 25" in citation["quote"]
    assert text[citation["start"] : citation["end"]] == citation["quote"]


def test_without_ray_installed_the_error_says_how_to_get_it(tmp_path):
    corpus = tmp_path / "corpus"
    copy_seed(corpus)
    code = (
        "import sys; sys.modules['ray'] = None\n"  # as if Ray were not installed
        "from qa.cli import main\n"
        f"sys.exit(main(['index', '--ray', 'auto', '--corpus', {str(corpus)!r}, '--index', {str(tmp_path / 'i')!r}]))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 1
    assert 'pip install "qa[ray]"' in run.stderr and "Traceback" not in run.stderr


def _python(code: str, cwd, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=timeout)  # fmt: skip


def test_a_relative_corpus_is_found_by_the_workers(tmp_path):
    # The workers' working folder is the cluster's (here: where it started), not the indexer's.
    copy_seed(tmp_path / "corpus")
    (tmp_path / "elsewhere").mkdir()
    code = (
        "import json, os, ray\n"
        "from pathlib import Path\n"
        "from qa.config import Settings\n"
        "from qa.indexing.indexer import Indexer\n"
        "ray.init(address='local', num_cpus=1, include_dashboard=False, log_to_driver=False)\n"
        f"os.chdir({str(tmp_path)!r})\n"
        "r = Indexer(Settings(ray='auto')).build(Path('corpus'), Path('index'), progress=False)\n"
        "print(json.dumps(r.to_dict()))\n"
    )
    run = _python(code, tmp_path / "elsewhere")
    assert run.returncode == 0, run.stderr
    import json

    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["skipped"] == [] and report["added"] == [SEED_SOURCE] and report["documents"] == 1
    title = json.loads((tmp_path / "corpus" / SEED_SOURCE).with_suffix(".meta.json").read_text())["title"]
    assert open_store(tmp_path / "index").open().documents()[0].title == title  # its sidecar was read too


def test_ray_auto_starts_its_own_cluster_whatever_ray_address_says(tmp_path):
    # RAY_ADDRESS (or Ray's note of the last `ray start`, left behind when that cluster died)
    # must not turn `--ray auto` into joining another cluster. It takes the CPUs this process may
    # use (here one, as taskset or a container's cpuset gives), not the host's.
    code = (
        "import os, ray\n"
        "os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
        "from qa.config import Settings\n"
        "from qa.indexing.prepare.ray import RayPreparer, _ray\n"
        "RayPreparer(Settings(ray='auto'), print)._connect(_ray())\n"
        "print('CPUs', int(ray.cluster_resources()['CPU']))\n"
        "ray.shutdown()\n"
    )
    run = _python(code, tmp_path, {"RAY_ADDRESS": "127.0.0.1:1"})
    assert run.returncode == 0, run.stderr
    assert "CPUs 1\n" in run.stdout and "starting a Ray cluster on this machine (1 CPU)" in run.stdout


def test_an_unreachable_cluster_is_a_message_not_a_traceback(tmp_path):
    copy_seed(tmp_path / "corpus")
    code = (
        "import sys\n"
        "from qa.cli import main\n"
        f"sys.exit(main(['index', '--ray', '127.0.0.1:1', '--corpus', {str(tmp_path / 'corpus')!r}, "
        f"'--index', {str(tmp_path / 'i')!r}]))"
    )
    run = _python(code, ROOT, {"RAY_gcs_server_port_wait_time_s": "1"})  # one try (~40 s), not Ray's 20
    assert run.returncode == 1, run.stderr
    assert "qa: could not join the Ray cluster at 127.0.0.1:1" in run.stderr and "Traceback" not in run.stderr
