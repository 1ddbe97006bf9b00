from __future__ import annotations

import shutil
import threading
import time

import pytest
from conftest import DATA, copy_seed

from qa import QA
from qa.indexing.indexer import Indexer
from qa.store import IndexLocked, IndexMissing
from qa.store.faiss_sqlite import FaissStore

NEW_ARTICLE = """Lighthouse on Skerry Rock to be automated

The lighthouse on Skerry Rock will be fully automated by March, the harbour board said on Tuesday. Its last keeper, Morag Innes, has tended the light for 31 years. The board said the automation would cost 2.4 million pounds.
"""


@pytest.fixture()
def workspace(tmp_path):
    corpus = tmp_path / "corpus"
    copy_seed(corpus)
    for name in ("business", "tech"):
        shutil.copytree(DATA / "bbc" / name, corpus / name)
    return corpus, tmp_path / "index"


@pytest.mark.parametrize("layout", ["flat", "ivf"])
def test_incremental_add_change_delete(workspace, settings, embedder, layout):
    corpus, index = workspace
    if layout == "ivf":  # the approximate index that large corpora get, on a small one
        settings = settings.replace(exact_max_vectors=1)
    indexer = Indexer(settings, embedder)
    first = indexer.build(corpus, index, progress=False)
    assert first.rebuilt and first.added and not first.skipped
    total_docs = first.documents

    # Nothing changed: no new version, nothing embedded.
    again = indexer.build(corpus, index, progress=False)
    assert again.version is None and again.embedded_chunks == 0 and again.unchanged == total_docs

    # Add one article: only its chunks are embedded.
    (corpus / "lighthouse.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    added = indexer.build(corpus, index, progress=False)
    assert added.added == ["lighthouse.txt"] and added.changed == [] and added.removed == []
    qa = QA.load(index, embedder=embedder)
    new_chunks = next(d for d in qa.snapshot.documents() if d.source == "lighthouse.txt").chunks
    assert added.embedded_chunks == new_chunks
    answer = qa.ask("How long has Morag Innes kept the Skerry Rock light?")
    assert not answer.refused
    assert answer.citations[0].source == "lighthouse.txt" and "31 years" in answer.citations[0].quote

    # Change it: re-embedded alone, old text gone.
    (corpus / "lighthouse.txt").write_text(NEW_ARTICLE.replace("31 years", "forty-two years"), encoding="utf-8")
    changed = indexer.build(corpus, index, progress=False)
    assert (
        changed.changed == ["lighthouse.txt"]
        and changed.added == []
        and changed.summary().startswith("+0 added, 1 changed")
    )
    qa.reload()
    answer = qa.ask("How long has Morag Innes kept the Skerry Rock light?")
    assert "forty-two years" in answer.citations[0].quote

    # Delete it: it never appears again, in search or answers.
    (corpus / "lighthouse.txt").unlink()
    removed = indexer.build(corpus, index, progress=False)
    assert removed.removed == ["lighthouse.txt"] and removed.embedded_chunks == 0
    qa.reload()
    assert all(p.source != "lighthouse.txt" for p in qa.search("Skerry Rock lighthouse keeper Morag Innes", k=20))
    answer = qa.ask("How long has Morag Innes kept the Skerry Rock light?")
    assert all(c.source != "lighthouse.txt" for c in answer.citations)
    assert qa.info()["documents"] == total_docs

    # Live FAISS ids and metadata rows agree one to one. The lighthouse's segments, all
    # tombstones by now, were dropped by the merge policy as it went.
    snap = qa.snapshot
    assert [s["index"]["type"] for s in snap.manifest["segments"]] == [layout]
    assert snap.describe()["deleted_vectors"] == 0
    ids = set(snap.vectors.live_ids().tolist())
    rows = {r[0] for r in snap.db.execute("SELECT id FROM chunks")}
    assert ids == rows and snap.check() == []

    # One article of the first build deleted: a few tombstones in the big segment, until compacted.
    gone = sorted(corpus.glob("business/*.txt"))[0]
    gone.unlink()
    assert indexer.build(corpus, index, progress=False).removed == [f"business/{gone.name}"]
    qa.reload()
    deleted = qa.snapshot.describe()["deleted_vectors"]
    assert deleted > 0 and qa.snapshot.check() == []
    compacted = indexer.build(corpus, index, progress=False, compact=True)
    assert compacted.embedded_chunks == 0 and compacted.documents == total_docs - 1
    qa.reload()
    assert len(qa.snapshot.manifest["segments"]) == 1 and qa.snapshot.describe()["deleted_vectors"] == 0
    assert qa.snapshot.check() == [] and qa.snapshot.vectors.ntotal == snap.vectors.ntotal - deleted
    assert "Kuril Islands" in qa.ask("What did Russia announce on Mar. 25?").citations[0].quote


def test_a_long_lived_qa_answers_from_the_newest_version_in_any_thread(tmp_path, settings, embedder):
    """Another process publishes new versions and prunes the old ones; a QA loaded before
    must neither fail in a new thread (whose database connection would open the pruned
    version) nor go on answering from the articles as they were."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    copy_seed(corpus)
    indexer = Indexer(settings, embedder)
    indexer.build(corpus, index, progress=False)
    qa = QA.load(index, embedder=embedder)
    first = qa.snapshot.version
    assert qa.ask("How long has Morag Innes kept the Skerry Rock light?").refused

    (corpus / "lighthouse.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    indexer.build(corpus, index, progress=False)
    (corpus / "lighthouse.txt").write_text(NEW_ARTICLE.replace("31 years", "forty-two years"), encoding="utf-8")
    indexer.build(corpus, index, progress=False)
    assert not (index / "versions" / f"{first}.json").exists()  # pruned: two versions on

    answers = []
    worker = threading.Thread(
        target=lambda: answers.append(qa.ask("How long has Morag Innes kept the Skerry Rock light?"))
    )
    worker.start()
    worker.join()
    assert answers and "forty-two years" in answers[0].citations[0].quote
    assert qa.snapshot.version != first and qa.info()["documents"] == 2


def test_a_long_lived_qa_keeps_how_the_index_was_rebuilt_and_survives_a_model_change(
    tmp_path, settings, embedder, caplog
):
    """Following a version built elsewhere with another chunk size, the QA's own next build
    (the chat's watcher) keeps that size; a version built with another model can't be read
    with this QA's encoder, so it keeps answering from the one it has and says so once."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    copy_seed(corpus)
    Indexer(settings, embedder).build(corpus, index, progress=False)
    qa = QA.load(index, embedder=embedder)
    Indexer(settings.replace(chunk_tokens=64), embedder).build(corpus, index, progress=False)
    assert not qa.ask("What did Russia announce on Mar. 25?").refused
    assert qa.settings.chunk_tokens == 64
    (corpus / "lighthouse.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    report = qa.build_index(corpus)
    assert report.added == ["lighthouse.txt"] and not report.rebuilt

    other = tmp_path / "same-model-elsewhere"  # another model, as far as the index can tell
    shutil.copytree(embedder.path, other)
    Indexer(settings.replace(model=str(other))).build(corpus, index, rebuild=True, progress=False)
    before = qa.snapshot.version
    for _ in range(2):
        assert not qa.ask("What did Russia announce on Mar. 25?").refused
    assert qa.snapshot.version == before
    assert caplog.text.count("still answering from index version") == 1

    # Built with its model again: followed again.
    Indexer(settings, embedder).build(corpus, index, rebuild=True, progress=False)
    assert "Skerry Rock" in qa.ask("How long has Morag Innes kept the Skerry Rock light?").citations[0].quote
    assert qa.snapshot.version != before

    # The index deleted: said plainly, as for a missing index.
    shutil.rmtree(index)
    with pytest.raises(IndexMissing, match="run `qa index` to build one"):
        qa.ask("What did Russia announce on Mar. 25?")


def test_bad_files_are_skipped_and_the_rest_indexed(tmp_path, settings, embedder):
    corpus = tmp_path / "corpus"
    copy_seed(corpus)
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 20)
    messages = []
    report = Indexer(settings, embedder).build(corpus, tmp_path / "index", progress=False, on_message=messages.append)
    assert sorted(s.source for s in report.skipped) == ["binary.txt", "empty.txt"]
    assert report.documents == 1
    assert any("empty.txt" in m and "empty" in m for m in messages)
    assert any("binary.txt" in m and "binary" in m for m in messages)

    # A watcher rebuilds with the same indexer again and again: each warning is said once,
    # while every report still lists what was skipped.
    indexer = Indexer(settings, embedder)
    said = []
    for _ in range(2):
        report = indexer.build(corpus, tmp_path / "index", progress=False, on_message=said.append)
        assert sorted(s.source for s in report.skipped) == ["binary.txt", "empty.txt"]
    assert sum("empty.txt" in m for m in said) == 1
    # Mended, then broken again: that is news, and said again.
    (corpus / "empty.txt").write_text("A short article at last. It has two sentences.")
    indexer.build(corpus, tmp_path / "index", progress=False, on_message=said.append)
    (corpus / "empty.txt").write_bytes(b"")
    indexer.build(corpus, tmp_path / "index", progress=False, on_message=said.append)
    assert sum("skipped empty.txt" in m for m in said) == 2


def test_duplicates_are_indexed_once_and_never_quoted_twice(tmp_path, settings, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(NEW_ARTICLE)
    (corpus / "b copy.txt").write_text(NEW_ARTICLE)  # exact duplicate
    near = NEW_ARTICLE.replace("said on Tuesday", "said on Wednesday")
    (corpus / "c.txt").write_text(near)  # near duplicate: indexed, but quotes are not repeated
    messages = []
    report = Indexer(settings, embedder).build(corpus, tmp_path / "index", progress=False, on_message=messages.append)
    assert report.added == ["a.txt", "c.txt"]
    assert [s.source for s in report.skipped] == ["b copy.txt"]
    assert any("b copy.txt" in m and "same content as a.txt" in m for m in messages)
    qa = QA.load(tmp_path / "index", embedder=embedder)
    answer = qa.ask("How long has Morag Innes tended the Skerry Rock light?")
    quotes = [c.quote for c in answer.citations]
    assert quotes and len(quotes) == len(set(quotes))


def test_changed_file_that_breaks_keeps_its_old_version(tmp_path, settings, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.txt").write_text(NEW_ARTICLE)
    indexer = Indexer(settings, embedder)
    indexer.build(corpus, tmp_path / "index", progress=False)
    (corpus / "note.txt").write_bytes(b"\x00\x01\x02" * 100)
    report = indexer.build(corpus, tmp_path / "index", progress=False)
    assert report.kept_old == ["note.txt"]
    qa = QA.load(tmp_path / "index", embedder=embedder)
    assert not qa.ask("Who is the last keeper of the Skerry Rock lighthouse?").refused


def test_failed_build_leaves_previous_index_usable(tmp_path, settings, embedder, monkeypatch):
    corpus = tmp_path / "corpus"
    copy_seed(corpus)
    index = tmp_path / "index"
    indexer = Indexer(settings, embedder)
    indexer.build(corpus, index, progress=False)
    before = FaissStore(index).current_version()

    (corpus / "lighthouse.txt").write_text(NEW_ARTICLE)

    def explode(*args, **kwargs):
        raise RuntimeError("simulated crash while embedding")

    monkeypatch.setattr(embedder, "embed", explode)
    with pytest.raises(RuntimeError, match="simulated"):
        indexer.build(corpus, index, progress=False)
    monkeypatch.undo()

    assert FaissStore(index).current_version() == before
    assert not list(index.glob(".tmp-*"))
    qa = QA.load(index, embedder=embedder)
    assert not qa.ask("Where does Russia plan to deploy military drones?").refused
    assert indexer.build(corpus, index, progress=False).added == ["lighthouse.txt"]


def test_second_writer_is_refused_with_a_clear_message(tmp_path, settings, embedder):
    corpus = tmp_path / "corpus"
    copy_seed(corpus)
    store = FaissStore(tmp_path / "index")
    held = threading.Event()
    release = threading.Event()

    def hold():
        with store.lock():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(IndexLocked, match="another `qa index`"):
            Indexer(settings, embedder).build(corpus, tmp_path / "index", progress=False)
        # A question during the very first build: not "run qa index", which would be refused.
        with pytest.raises(IndexMissing, match="being built right now"):
            QA.load(tmp_path / "index", embedder=embedder)
    finally:
        release.set()
        thread.join()
    with pytest.raises(IndexMissing, match="run `qa index` to build one"):
        QA.load(tmp_path / "index", embedder=embedder)


def test_latin1_article_is_indexed_with_correct_text(news_index, news_qa):
    _, report = news_index
    assert "bbc/sport/199.txt" in report.added
    assert any("bbc/sport/199.txt" in n and "not UTF-8" in n for n in report.notes)
    found = news_qa.snapshot.document_by_source("bbc/sport/199.txt")
    raw = (DATA / "bbc" / "sport" / "199.txt").read_bytes()
    assert found[2] == raw.decode("latin-1")


def test_run_on_line_and_foreign_languages_are_indexed_verbatim(tmp_path, settings, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    words = ["harbour", "tide", "vessel", "anchor", "storm", "keeper", "lantern", "island", "current", "pilot"]
    run_on = " ".join(words[i % len(words)] for i in range(4000))[:20_000]
    (corpus / "run-on.txt").write_text(run_on)
    (corpus / "francais.txt").write_text(
        "Le phare de l'île\n\nLe gardien du phare a pris sa retraite en 1998. "
        "La lumière est automatique depuis cette année-là. Les bateaux passent la nuit sans crainte.\n"
    )
    (corpus / "nihongo.txt").write_text(
        "灯台のニュース\n\n灯台守は1998年に引退した。その年から灯りは自動になった。" * 30
    )
    (corpus / "russkiy.txt").write_text(
        "Маяк на острове\n\nСмотритель маяка ушёл на пенсию в 1998 году. С тех пор свет зажигается автоматически.\n"
    )
    report = Indexer(settings, embedder).build(corpus, tmp_path / "index", progress=False)
    assert sorted(report.added) == ["francais.txt", "nihongo.txt", "run-on.txt", "russkiy.txt"]
    qa = QA.load(tmp_path / "index", embedder=embedder)
    assert qa.snapshot.check() == []
    for doc in qa.snapshot.documents():
        assert doc.chunks >= 1
    for rows in qa.snapshot.db.execute(
        "SELECT d.source, c.start, c.end FROM chunks c JOIN documents d ON d.id = c.doc_id"
    ):
        source, start, end = rows
        text = (corpus / source).read_text(encoding="utf-8")
        assert embedder.count_tokens([text[start:end]])[0] <= settings.chunk_tokens
    answer = qa.ask("Quand le gardien du phare a-t-il pris sa retraite ?")
    for c in answer.citations:
        assert (corpus / c.source).read_text(encoding="utf-8")[c.start : c.end] == c.quote


def test_unchanged_files_are_not_read_again_and_a_changed_one_always_is(tmp_path, settings, embedder, monkeypatch):
    """An unchanged size, inode and times mean unchanged bytes (git does the same); an edit that
    keeps the size and puts the old modification time back still changes the change time."""
    import os
    import time

    from qa.indexing import indexer as indexing

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    copy_seed(corpus)
    shutil.copytree(DATA / "bbc" / "business", corpus / "business")
    time.sleep(1.1)  # a file written in the last second is hashed every time (its next write may keep the stat)
    indexer = Indexer(settings, embedder)
    indexer.build(corpus, index, progress=False)
    read = []
    hashed = indexing.fingerprint
    monkeypatch.setattr(indexing, "fingerprint", lambda file: read.append(file.source) or hashed(file))
    assert indexer.build(corpus, index, progress=False).version is None and read == []

    path = sorted((corpus / "business").glob("*.txt"))[0]
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b"the", b"tha", 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    report = indexer.build(corpus, index, progress=False)
    assert report.changed == [f"business/{path.name}"] and read == [f"business/{path.name}"]


def test_an_update_of_the_paths_a_watcher_saw_looks_at_those_only(tmp_path, settings, embedder):
    """`only` (the folder watcher's events): new, changed, deleted files and folders, a changed
    sidecar's article, and an identical copy of an indexed file elsewhere; nothing else is read."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    copy_seed(corpus)
    shutil.copytree(DATA / "bbc" / "business", corpus / "business")
    shutil.copytree(DATA / "bbc" / "tech", corpus / "tech")
    indexer = Indexer(settings, embedder)
    total = indexer.build(corpus, index, progress=False).documents

    (corpus / "lighthouse.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    (corpus / "unseen.txt").write_text("Unseen\n\nThe watcher never reported this file.\n", encoding="utf-8")
    report = indexer.build(corpus, index, progress=False, only={"lighthouse.txt"})
    assert report.added == ["lighthouse.txt"] and report.unchanged == 0

    copy = corpus / "copies" / "business-copy.txt"
    copy.parent.mkdir()
    shutil.copy(next((corpus / "business").glob("*.txt")), copy)
    sidecar = corpus / "lighthouse.meta.json"
    sidecar.write_text('{"title": "Skerry Rock light"}', encoding="utf-8")
    report = indexer.build(corpus, index, progress=False, only={"copies", sidecar.name})
    assert report.changed == ["lighthouse.txt"] and report.added == []
    assert [s.source for s in report.skipped] == ["copies/business-copy.txt"]  # same content as the original

    shutil.rmtree(corpus / "tech")
    report = indexer.build(corpus, index, progress=False, only={"tech"})
    assert report.removed and all(src.startswith("tech/") for src in report.removed)
    qa = QA.load(index, embedder=embedder)
    sources = {d.source for d in qa.snapshot.documents()}
    assert "unseen.txt" not in sources and not any(s.startswith("tech/") for s in sources)
    assert len(sources) == total + 1 - len(report.removed)
    assert qa.snapshot.check() == []
    # A full look (what `qa index` does) finds the file no event named.
    assert indexer.build(corpus, index, progress=False).added == ["unseen.txt"]


def test_files_no_parser_can_read_are_skipped_and_the_rest_still_indexed(tmp_path, settings, embedder):
    from test_corpus import _damaged_word_file

    corpus = tmp_path / "corpus"
    copy_seed(corpus)
    _damaged_word_file(corpus / "cut.docx")
    (corpus / "draft.html").write_text("<html><head><title>Draft</title></head><body><p>&#8203;</p></body></html>")
    (corpus / "blank.txt").write_text("\u200b\u200b\u200b")
    (corpus / "note.txt").write_text(NEW_ARTICLE)
    report = Indexer(settings, embedder).build(corpus, tmp_path / "index", progress=False)
    reasons = {s.source: s.reason for s in report.skipped}
    assert sorted(reasons) == ["blank.txt", "cut.docx", "draft.html"]
    assert reasons["blank.txt"] == reasons["draft.html"] == "empty: no sentences to index"
    assert report.documents == 2 and "note.txt" in report.added
    assert not QA.load(tmp_path / "index", embedder=embedder).ask("Who is the last keeper of Skerry Rock?").refused


def test_an_article_edited_into_a_copy_of_another_loses_its_old_text(tmp_path, settings, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(NEW_ARTICLE)
    (corpus / "b.txt").write_text("The baker opened the shop at dawn on Monday. Bread sold out by nine.")
    indexer = Indexer(settings, embedder)
    indexer.build(corpus, tmp_path / "index", progress=False)
    (corpus / "b.txt").write_text(NEW_ARTICLE)
    report = indexer.build(corpus, tmp_path / "index", progress=False)
    assert report.removed == ["b.txt"] and report.kept_old == [] and report.documents == 1
    assert [s.reason for s in report.skipped] == ["same content as a.txt, which is indexed"]
    answer = QA.load(tmp_path / "index", embedder=embedder).ask("When did the baker open the shop?")
    assert all("baker" not in c.quote for c in answer.citations)


def test_an_indexed_article_refused_by_the_scan_keeps_its_old_version(tmp_path, settings, embedder):
    from dataclasses import replace

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.txt").write_text(NEW_ARTICLE)
    (corpus / "other.txt").write_text("The baker opened the shop at dawn on Monday. Bread sold out by nine.")
    small = replace(settings, max_file_bytes=2_000)
    Indexer(small, embedder).build(corpus, tmp_path / "index", progress=False)
    (corpus / "note.txt").write_text(NEW_ARTICLE * 10)  # grown past the limit
    said = []
    report = Indexer(small, embedder).build(corpus, tmp_path / "index", progress=False, on_message=said.append)
    assert report.removed == [] and report.kept_old == ["note.txt"] and report.documents == 2
    assert "kept the previously indexed version of note.txt" in said
    assert not QA.load(tmp_path / "index", embedder=embedder).ask("Who is the last keeper of Skerry Rock?").refused


def test_a_file_deleted_after_the_scan_is_gone_and_one_that_cannot_be_read_is_skipped(tmp_path):
    from qa.indexing.indexer import _Plan
    from qa.ingestion.files import CorpusFile

    (tmp_path / "here.txt").write_text("Still here. Two sentences.")
    (tmp_path / "dir.txt").mkdir()  # became a folder between the scan and the read
    files = [CorpusFile(str(tmp_path / n), n, None) for n in ("dir.txt", "gone.txt", "here.txt")]
    skipped = []
    plan = _Plan.of(files, None, None, skipped)
    assert [f.source for f in plan.todo] == ["here.txt"] and plan.gone == []
    assert [(s.source, s.reason) for s in skipped] == [("dir.txt", "cannot read (Is a directory)")]


@pytest.mark.slow
def test_the_watcher_follows_dotted_folders_copies_and_a_recreated_corpus(tmp_path, settings, embedder):
    import queue

    from qa.indexing.watch import start_watcher

    corpus, index, outside = tmp_path / "corpus", tmp_path / "index", tmp_path / "outside"
    corpus.mkdir()
    (corpus / "a.txt").write_text(NEW_ARTICLE)
    (corpus / "b-copy.txt").write_text(NEW_ARTICLE)  # skipped as a copy at the catch-up
    (outside / "archive.2019").mkdir(parents=True)
    (outside / "archive.2019" / "baker.txt").write_text("The baker opened the shop at dawn. Bread sold out by nine.")
    indexer, reports = Indexer(settings, embedder), queue.Queue()
    thread, stop = start_watcher(
        corpus, lambda changed: indexer.build(corpus, index, only=changed, progress=False), reports.put
    )

    def next_change(timeout: float = 90):
        while True:
            report = reports.get(timeout=timeout)
            if report.changed_anything:
                return report

    try:
        assert next_change().added == ["a.txt"]
        # A folder whose name has a dot is still a folder: moved in, then out.
        (outside / "archive.2019").rename(corpus / "archive.2019")
        assert next_change().added == ["archive.2019/baker.txt"]
        (corpus / "archive.2019").rename(outside / "archive.2019")
        assert next_change().removed == ["archive.2019/baker.txt"]
        # The indexed original goes: its copy takes its place, as a full scan would do.
        (corpus / "a.txt").unlink()
        report = next_change()
        assert report.removed == ["a.txt"] and report.added == ["b-copy.txt"]
        # The corpus folder itself replaced: watched again, caught up.
        shutil.rmtree(corpus)
        time.sleep(2)
        corpus.mkdir()
        (corpus / "ferry.txt").write_text("Ferry news\n\nThe ferry to Islay leaves at 18:40 from Monday.\n")
        report = next_change()
        assert "ferry.txt" in report.added and "b-copy.txt" in report.removed
    finally:
        stop.set()
        thread.join(timeout=30)
