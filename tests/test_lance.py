"""The LanceDB store (qa/store/lance/), with the real LanceDB engine in a temp folder:
the same answers as the default store, updates, snapshots, crash recovery, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import SEED_SOURCE, copy_seed, load_questions

from qa import QA
from qa.cli.main import main
from qa.indexing.indexer import Indexer
from qa.store import IndexIncompatible, IndexMissing, kind_at, open_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lance_index(tmp_path_factory, news_corpus, settings, embedder):
    index = tmp_path_factory.mktemp("lance") / "index"
    report = Indexer(settings.replace(store="lance"), embedder).build(news_corpus, index, progress=False)
    return index, report


def _answer(qa: QA, question: str) -> tuple:
    a = qa.ask(question)
    return a.refused, [(c.source, c.quote, c.start, c.end) for c in a.citations]


def test_same_index_and_answers_as_the_default_store(lance_index, news_index, embedder):
    index, report = lance_index
    faiss_index, faiss_report = news_index
    assert kind_at(index) == "lance" and kind_at(faiss_index) == "faiss"
    assert (report.documents, report.chunks, report.sentences) == (
        faiss_report.documents,
        faiss_report.chunks,
        faiss_report.sentences,
    )
    lance, faiss = QA.load(index, embedder=embedder), QA.load(faiss_index, embedder=embedder)
    assert lance.snapshot.check() == []
    questions = [q["question"] for q in load_questions("seed")] + [q["question"] for q in load_questions("bbc")]
    same = sum(_answer(lance, q) == _answer(faiss, q) for q in questions)
    print(f"{same} of {len(questions)} answers agree")
    # BM25 is scored by another engine (FTS5 vs Lance), so a near tie may fuse differently.
    assert same >= 0.9 * len(questions), f"{same} of {len(questions)} answers agree"
    a = lance.ask("What did Russia announce on Mar. 25?")
    c = a.citations[0]
    assert not a.refused and c.source == SEED_SOURCE and "Russia announced on Mar. 25" in c.quote
    assert lance.snapshot.document_text(lance.snapshot.document_by_source(c.source)[0])[c.start : c.end] == c.quote
    assert lance.context(c.source, c.start, c.end) == faiss.context(
        c.source, c.start, c.end
    )  # the chat's sources panel


def test_updates_snapshots_and_deletes(tmp_path, news_corpus, settings, embedder):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(news_corpus, corpus)
    s = settings.replace(store="lance")
    Indexer(s, embedder).build(corpus, index, progress=False)
    qa = QA.load(index, embedder=embedder)
    old = qa.snapshot
    (corpus / "lighthouse.txt").write_text(
        "Lighthouse keepers\n\nThe last lighthouse keeper of Skerryvore retired in 1998 after 31 years.\n",
        encoding="utf-8",
    )
    report = Indexer(s, embedder).build(corpus, index, progress=False)
    assert report.added == ["lighthouse.txt"] and report.version == "v000002"
    a = qa.ask("When did the last lighthouse keeper of Skerryvore retire?")  # follows the new version
    assert not a.refused and a.citations[0].source == "lighthouse.txt" and "1998" in a.citations[0].quote
    assert old.document_by_source("lighthouse.txt") is None  # the old snapshot keeps its version
    assert old.counts["documents"] + 1 == qa.snapshot.counts["documents"]

    (corpus / "lighthouse.txt").write_text("Lighthouse keepers\n\nThe keeper retired in 2001.\n", encoding="utf-8")
    assert Indexer(s, embedder).build(corpus, index, progress=False).changed == ["lighthouse.txt"]
    (corpus / "lighthouse.txt").unlink()
    report = Indexer(s, embedder).build(corpus, index, progress=False)
    assert report.removed == ["lighthouse.txt"]
    qa.reload()
    assert qa.snapshot.document_by_source("lighthouse.txt") is None and qa.snapshot.check() == []
    assert qa.snapshot.counts == old.counts
    # Only the current and the previous version are kept.
    store = open_store(index)
    assert store.read_manifest()["version"] == "v000004" and store.read_manifest("v000003")["version"] == "v000003"
    with pytest.raises(IndexMissing):
        store.read_manifest("v000002")


def test_a_writer_killed_before_publishing_leaves_the_published_version(tmp_path, news_corpus, settings, embedder):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(news_corpus, corpus)
    s = settings.replace(store="lance")
    Indexer(s, embedder).build(corpus, index, progress=False)
    store = open_store(index)
    base = store.open()
    before = base.counts
    writer = store.begin(s, base)
    writer.remove_document(base.document_by_source(SEED_SOURCE)[0])
    writer.commit(Indexer(s, embedder)._fields(base))  # committed, never published: as if killed here
    qa = QA.load(index, embedder=embedder)  # readers see the published version
    assert qa.snapshot.counts == before and not qa.ask("What did Russia announce on Mar. 25?").refused
    report = Indexer(s, embedder).build(corpus, index, progress=False)  # tidies: tables rolled back
    assert not report.changed_anything
    fresh = open_store(index).open()
    assert fresh.counts == before and fresh.check() == [] and fresh.document_by_source(SEED_SOURCE) is not None


def test_cli_info_store_flag_and_errors(lance_index, news_index, tmp_path, capsys):
    index, _ = lance_index
    assert main(["info", "--index", str(index), "--check", "--json"]) == 0
    info = capsys.readouterr().out
    assert '"store": "lance"' in info and '"check": "ok"' in info
    assert main(["index", "--store", "faiss", "--index", str(index), "--corpus", str(tmp_path)]) == 1
    assert "holds a lance index, not faiss" in capsys.readouterr().err
    with pytest.raises(IndexIncompatible, match="holds a faiss index, not lance"):
        open_store(news_index[0], "lance")
    assert main(["ask", "--index", str(tmp_path / "nothing"), "anything?"]) == 1
    assert "no index in" in capsys.readouterr().err


def test_without_lancedb_installed_the_error_says_how_to_get_it(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT, copy_seed

    copy_seed(tmp_path / "corpus")
    code = (
        "import sys; sys.modules['lancedb'] = None\n"  # as if LanceDB were not installed
        "from qa.cli import main\n"
        f"sys.exit(main(['index', '--store', 'lance', '--corpus', {str(tmp_path / 'corpus')!r}, "
        f"'--index', {str(tmp_path / 'i')!r}]))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 1
    assert 'pip install "qa[lance]"' in run.stderr and "Traceback" not in run.stderr


def test_a_file_uri_index_is_where_it_says(tmp_path, monkeypatch, seed_corpus, settings, embedder):
    # file:///abs (no host) as a Path is file:/abs; it must not come back as file://abs, which
    # LanceDB reads as a folder relative to the working one.
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    uri = Path(f"file://{tmp_path}/index")  # as the CLI's --index gives it
    report = Indexer(settings, embedder).build(seed_corpus, uri, progress=False)
    assert report.documents == 1 and (tmp_path / "index" / "qa_versions.lance").is_dir()
    assert not any((tmp_path / "elsewhere").iterdir())
    assert kind_at(uri) == "lance" and not QA.load(uri, embedder=embedder).ask("What did Russia announce?").refused


def test_an_index_begun_empty_gets_its_indexes_when_articles_come(tmp_path, settings, embedder):
    # Lance indexes no empty table: a first build of an empty corpus (`make run`, then uploads in
    # the chat) made none, and later updates never did, so every search and lookup was a scan.
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    s = settings.replace(store="lance")
    assert Indexer(s, embedder).build(corpus, index, progress=False).documents == 0
    copy_seed(corpus)
    assert Indexer(s, embedder).build(corpus, index, progress=False).added == [SEED_SOURCE]
    tables = open_store(index).open()._tables
    kinds = {(name, i.columns[0], i.index_type) for name, t in tables.items() for i in t.list_indices()}
    assert ("chunks", "terms", "FTS") in kinds and ("documents", "source", "BTree") in kinds, kinds
    assert ("sentences", "doc_id", "BTree") in kinds, kinds


def test_a_first_build_killed_while_creating_a_table_is_built_again(tmp_path, seed_corpus, settings, embedder):
    # A kill inside LanceDB's create_table leaves the table's folder with data files and no
    # version yet (seen with SIGKILL). That table is not there: readers find no index, and the
    # next build writes over it instead of failing on it every time.
    s = settings.replace(store="lance")
    for table in ("qa_versions", "qa_documents"):  # killed while publishing; killed at the first write
        index = tmp_path / table
        Indexer(s, embedder).build(seed_corpus, index, progress=False)
        if table == "qa_documents":  # the first table written: no other one exists yet
            for other in index.glob("qa_*.lance"):
                if other.name != "qa_documents.lance":
                    shutil.rmtree(other)
        for part in ("_versions", "_transactions", "_indices"):
            shutil.rmtree(index / f"{table}.lance" / part, ignore_errors=True)
        assert any((index / f"{table}.lance" / "data").iterdir())
        with pytest.raises(IndexMissing):
            QA.load(index, embedder=embedder)
        report = Indexer(s, embedder).build(seed_corpus, index, progress=False)
        assert report.added == [SEED_SOURCE] and report.version == "v000001", table
        qa = QA.load(index, embedder=embedder)
        assert qa.snapshot.check() == [] and not qa.ask("What did Russia announce on Mar. 25?").refused
