"""Small real objects, built once per test session: the real model, real FAISS, real files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The ONNX query encoder is exported once per test session, away from the user's cache.
if "QA_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["QA_CACHE_DIR"] = tempfile.mkdtemp(prefix="qa-test-cache-")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SEED = ROOT / "corpus" / "000_f2f3c36d839ea44c.txt"
SEED_SOURCE = SEED.name


def load_questions(name: str) -> list[dict]:
    return json.loads((DATA / "questions" / f"{name}.json").read_text(encoding="utf-8"))["questions"]


def copy_seed(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED, dest / SEED.name)
    shutil.copy(SEED.with_name(SEED.stem + ".meta.json"), dest / (SEED.stem + ".meta.json"))


@pytest.fixture(scope="session")
def settings():
    from qa.config import Settings

    return Settings()


@pytest.fixture(scope="session")
def embedder(settings):
    from qa.embedding import Embedder

    return Embedder(settings.model, batch_size=settings.batch_size)


@pytest.fixture(scope="session")
def seed_corpus(tmp_path_factory) -> Path:
    corpus = tmp_path_factory.mktemp("seed-corpus")
    copy_seed(corpus)
    return corpus


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, seed_corpus, settings, embedder) -> Path:
    from qa.indexing import Indexer

    index = tmp_path_factory.mktemp("seed-index")
    Indexer(settings, embedder).build(seed_corpus, index, progress=False)
    return index


@pytest.fixture(scope="session")
def seed_qa(seed_index, embedder):
    from qa import QA

    return QA.load(seed_index, embedder=embedder)


@pytest.fixture(scope="session")
def news_corpus(tmp_path_factory) -> Path:
    """The seed article plus the BBC articles in tests/data/bbc (one of them Latin-1)."""
    corpus = tmp_path_factory.mktemp("news-corpus")
    copy_seed(corpus)
    shutil.copytree(DATA / "bbc", corpus / "bbc")
    return corpus


@pytest.fixture(scope="session")
def news_index(tmp_path_factory, news_corpus, settings, embedder):
    from qa.indexing import Indexer

    index = tmp_path_factory.mktemp("news-index")
    report = Indexer(settings, embedder).build(news_corpus, index, progress=False)
    return index, report


@pytest.fixture(scope="session")
def news_qa(news_index, embedder):
    from qa import QA

    return QA.load(news_index[0], embedder=embedder)
