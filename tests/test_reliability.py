"""Crash safety: SIGKILL the indexer mid-build, again and again; nothing is ever lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from conftest import DATA, ROOT, copy_seed

from qa import QA
from qa.indexing import Indexer
from qa.store import IndexStore

pytestmark = pytest.mark.slow

KILLS = 10
ARTICLES = 200  # a few hundred articles' worth of rebuild, so the kills land at many stages


def _derived_articles(corpus, count: int) -> None:
    """`count` articles recombined from the sentences of the BBC fixtures: real text, new files."""
    from qa.chunking import split_sentences

    sentences = []
    for path in sorted((DATA / "bbc").rglob("*.txt")):
        raw = path.read_bytes()
        text = raw.decode("latin-1") if path.name == "199.txt" else raw.decode("utf-8")
        sentences += [text[s.start : s.end] for s in split_sentences(text)[1:]]
    rng = random.Random(5)
    folder = corpus / "derived"
    folder.mkdir()
    for i in range(count):
        body = " ".join(rng.sample(sentences, 12))
        (folder / f"{i:03d}.txt").write_text(f"Derived story {i}\n\n{body}\n", encoding="utf-8")


def _assert_usable(index, embedder) -> None:
    qa = QA.load(index, embedder=embedder)
    assert qa.snapshot.check() == []
    answer = qa.ask("What did Russia announce on Mar. 25?")
    assert not answer.refused and "Kuril Islands" in answer.citations[0].quote
    qa.snapshot.close()


def test_sigkill_during_rebuild_never_loses_the_index(tmp_path, settings, embedder):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    copy_seed(corpus)
    Indexer(settings, embedder).build(corpus, index, progress=False)
    _derived_articles(corpus, ARTICLES)

    # Time one full rebuild in a child process, to spread the kills over all of it.
    command = [sys.executable, "-m", "qa", "index", "--corpus", str(corpus), "--index", str(index), "--rebuild", "-q"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, env=env, cwd=ROOT, timeout=600)
    duration = time.monotonic() - started
    _assert_usable(index, embedder)

    # A reader (what the chat server holds) keeps answering from its snapshot throughout.
    reader = QA.load(index, embedder=embedder)
    answered_during_builds = 0
    rng = random.Random(11)
    # Up to 70 % of the timed build: a build can run faster than the timed one (warm caches,
    # a quieter machine), and a kill after it has finished would test nothing.
    moments = sorted(rng.uniform(0.3, 0.7 * duration) for _ in range(KILLS))
    killed_mid_build = 0
    for moment in moments:
        before = IndexStore(index).current_version()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        deadline = time.monotonic() + moment
        while time.monotonic() < deadline:
            answer = reader.ask("What did Russia announce on Mar. 25?")
            assert not answer.refused and "Kuril Islands" in answer.citations[0].quote
            answered_during_builds += 1
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            killed_mid_build += 1
        child.wait(timeout=60)
        after = IndexStore(index).current_version()
        assert after is not None and (after == before or after > before)
        _assert_usable(index, embedder)
    assert killed_mid_build >= KILLS - 2  # the kills really landed inside builds
    assert answered_during_builds >= KILLS

    # The next build completes, is consistent and leaves nothing behind.
    report = Indexer(settings, embedder).build(corpus, index, rebuild=True, progress=False)
    assert report.documents == ARTICLES + 1 and not report.skipped
    _assert_usable(index, embedder)
    leftovers = [p.name for p in index.iterdir() if p.name.startswith(".tmp-") or p.name.startswith(".CURRENT.")]
    assert leftovers == []
    assert len([p for p in index.iterdir() if p.name.startswith("v")]) <= 2
    assert reader.reload() and reader.snapshot.version == IndexStore(index).current_version()
    assert not reader.ask("What did Russia announce on Mar. 25?").refused
