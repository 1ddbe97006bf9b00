"""Crash safety: SIGKILL the indexer mid-build, again and again; nothing is ever lost."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from conftest import DATA, ROOT, copy_seed

from qa import QA
from qa.indexing.indexer import Indexer
from qa.store.faiss_sqlite import FaissStore

pytestmark = pytest.mark.slow

KILLS = 10
ARTICLES = 200  # a few hundred articles' worth of rebuild, so the kills land at many stages


def _derived_articles(corpus, count: int, start: int = 0, seed: int = 5) -> None:
    """`count` articles recombined from the sentences of the BBC fixtures: real text, new files."""
    from qa.ingestion.chunking import split_sentences

    sentences = []
    for path in sorted((DATA / "bbc").rglob("*.txt")):
        raw = path.read_bytes()
        text = raw.decode("latin-1") if path.name == "199.txt" else raw.decode("utf-8")
        sentences += [text[s.start : s.end] for s in split_sentences(text)[1:]]
    rng = random.Random(seed)
    folder = corpus / "derived"
    folder.mkdir(exist_ok=True)
    for i in range(start, start + count):
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
        killed, answered = _kill_after(command, env, moment, reader)
        killed_mid_build += killed
        answered_during_builds += answered
        _assert_usable(index, embedder)
    assert killed_mid_build >= KILLS - 2  # the kills really landed inside builds
    assert answered_during_builds >= KILLS

    # The next build completes, is consistent and leaves nothing behind.
    report = Indexer(settings, embedder).build(corpus, index, rebuild=True, progress=False)
    assert report.documents == ARTICLES + 1 and not report.skipped
    _assert_usable(index, embedder)
    _assert_nothing_left_over(index)
    assert reader.reload() and reader.snapshot.version == FaissStore(index).current_version()
    assert not reader.ask("What did Russia announce on Mar. 25?").refused


def _kill_after(command: list[str], env: dict, seconds: float, reader: QA) -> tuple[bool, int]:
    """Run `command` (a `qa index` on the reader's index), SIGKILL it after `seconds` if it is
    still running, while `reader` answers from its snapshot all along; after, the index's
    current version is the one before or a newer one. Returns (killed, questions answered)."""
    index = reader.settings.index_dir
    before = FaissStore(index).current_version()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    deadline = time.monotonic() + seconds
    answered = 0
    while time.monotonic() < deadline:
        answer = reader.ask("What did Russia announce on Mar. 25?")
        assert not answer.refused and "Kuril Islands" in answer.citations[0].quote
        answered += 1
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    killed = child.poll() is None
    if killed:
        child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    after = FaissStore(index).current_version()
    assert after is not None and (after == before or after > before)
    return killed, answered


def _assert_nothing_left_over(index, when: str = "") -> None:
    """No temporary files, at most two versions, and no file that no kept version names."""
    hidden = [p.name for p in index.rglob(".*") if p.name != ".lock"]
    assert hidden == [], when
    manifests = [json.loads(p.read_text()) for p in (index / "versions").glob("*.json")]
    assert 1 <= len(manifests) <= 2, (when, [m["version"] for m in manifests])
    named = {e["name"] for m in manifests for e in m["segments"]}
    assert {p.name for p in (index / "segments").iterdir()} == named
    assert {p.name for p in index.glob("meta-*.sqlite")} == {m["metadata"] for m in manifests}


def test_sigkill_during_updates_never_loses_the_index(tmp_path, settings, embedder):
    """Incremental updates (articles added, changed and deleted in one `qa index`) killed at
    random moments: each time the index is the previous version or the new one, whole."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    copy_seed(corpus)
    _derived_articles(corpus, 40)
    Indexer(settings, embedder).build(corpus, index, progress=False)
    command = [sys.executable, "-m", "qa", "index", "--corpus", str(corpus), "--index", str(index), "-q"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    rng = random.Random(23)
    next_article = 40

    def change_corpus() -> None:
        nonlocal next_article
        derived = sorted((corpus / "derived").glob("*.txt"))
        for path in rng.sample(derived, 8):
            path.unlink()
        for path in rng.sample(sorted(set(derived) & set((corpus / "derived").glob("*.txt"))), 8):
            path.write_text(path.read_text(encoding="utf-8") + "\nThis story was updated.\n", encoding="utf-8")
        _derived_articles(corpus, 30, start=next_article, seed=next_article)
        next_article += 30

    change_corpus()
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, env=env, cwd=ROOT, timeout=600)
    duration = time.monotonic() - started
    _assert_usable(index, embedder)

    reader = QA.load(index, embedder=embedder)
    killed = 0
    for _ in range(KILLS):
        change_corpus()
        killed += _kill_after(command, env, rng.uniform(0.4, 0.95) * duration, reader)[0]
        _assert_usable(index, embedder)
    assert killed >= KILLS - 3

    # The next update completes: the index holds exactly the corpus, and nothing is left over.
    report = Indexer(settings, embedder).build(corpus, index, progress=False)
    assert not report.skipped
    qa = QA.load(index, embedder=embedder)
    assert {d.source for d in qa.snapshot.documents()} == {
        p.relative_to(corpus).as_posix() for p in corpus.rglob("*.txt")
    }
    assert qa.snapshot.check() == [] and FaissStore(index).verify_hashes() == []
    _assert_nothing_left_over(index)
    assert reader.reload() and not reader.ask("What did Russia announce on Mar. 25?").refused


# A `qa index` that kills itself (SIGKILL: no clean-up runs) at one exact step of writing a
# version. Random kills mostly land while embedding; these land in the millisecond windows
# between the steps that make a version durable, where a wrong order would lose data.
_CRASH_AT = r"""
import os, signal, sys
import qa.store.faiss_sqlite.store as store, qa.store.faiss_sqlite.writer as writer

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

def after(module, name):
    original = getattr(module, name)
    def run_then_die(*args, **kwargs):
        original(*args, **kwargs)
        die()
    setattr(module, name, run_then_die)

point = sys.argv[1]
if point == "segment written":
    after(writer, "write_segment")
elif point == "metadata committed":
    writer.new_manifest = die
elif point in ("manifest written", "published"):
    original = store.write_atomically
    def write(path, text):
        if path.name == "CURRENT" and point == "manifest written":
            die()
        original(path, text)
        if path.name == "CURRENT":
            die()
    store.write_atomically = write
elif point == "purging":
    after(writer, "forget_documents")  # mid-transaction, after the publication
from qa.cli import main
sys.exit(main(sys.argv[2:]))
"""
CRASH_POINTS = ["segment written", "metadata committed", "manifest written", "published", "purging"]


@pytest.mark.parametrize("rebuild", [False, True], ids=["update", "rebuild"])
def test_sigkill_between_the_steps_of_a_write_never_loses_the_index(tmp_path, settings, embedder, rebuild):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    copy_seed(corpus)
    _derived_articles(corpus, 6)
    indexer = Indexer(settings, embedder)
    indexer.build(corpus, index, progress=False)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    reader = QA.load(index, embedder=embedder)
    for n, point in enumerate(CRASH_POINTS[:-1] if rebuild else CRASH_POINTS):  # a rebuild purges nothing
        (corpus / "derived" / f"{n:03d}.txt").unlink()  # one deleted, one added, one changed
        _derived_articles(corpus, 1, start=100 + n, seed=100 + n)
        changed = corpus / "derived" / f"{n + 1:03d}.txt"
        changed.write_text(changed.read_text(encoding="utf-8") + "\nUpdated.\n", encoding="utf-8")
        before = FaissStore(index).current_version()
        args = ["index", "--corpus", str(corpus), "--index", str(index), "-q"] + (["--rebuild"] if rebuild else [])
        child = subprocess.run(
            [sys.executable, "-c", _CRASH_AT, point, *args], env=env, cwd=ROOT, capture_output=True, timeout=300
        )
        assert child.returncode == -signal.SIGKILL, (point, child.stderr.decode()[-2000:])
        after = FaissStore(index).current_version()
        published = point in ("published", "purging")
        assert (after > before) if published else (after == before), point
        _assert_usable(index, embedder)
        assert "Kuril Islands" in reader.ask("What did Russia announce on Mar. 25?").citations[0].quote
        # The next writer finishes the job and the index is exactly the corpus.
        indexer.build(corpus, index, progress=False)
        qa = QA.load(index, embedder=embedder)
        assert {d.source for d in qa.snapshot.documents()} == {
            p.relative_to(corpus).as_posix() for p in corpus.rglob("*.txt")
        }, point
        assert qa.snapshot.check() == [] and FaissStore(index).verify_hashes() == []
        _assert_nothing_left_over(index, point)
