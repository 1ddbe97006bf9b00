"""The ONNX query encoder: same vectors as PyTorch, used by QA.load, never in the way."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from qa import QA
from qa.embedding import onnx as qe

QUESTIONS = ["Why might Japan want closer ties with Russia?", "Who won the 2018 World Cup?", "Qui a écrit l'article ?"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory, embedder):
    path = tmp_path_factory.mktemp("cache")
    assert qe.export(path, embedder)
    return path


def test_export_gives_the_pytorch_vectors(cache, embedder):
    encoder = qe.load(cache, embedder.name)
    assert isinstance(encoder, qe.OnnxEmbedder) and encoder.dim == embedder.dim
    ours, torch = encoder.embed_queries(QUESTIONS), embedder.embed_queries(QUESTIONS)
    assert np.min(np.sum(ours * torch, axis=1)) > 0.9999
    info = json.loads((qe.folder_for(cache, embedder.name) / qe.INFO_FILE).read_text())
    assert info["checked_min_cosine"] > 0.9999
    assert qe.export(cache, embedder)  # already there: nothing to do


def test_qa_load_answers_with_it_and_loads_pytorch_only_to_build(cache, seed_index, seed_qa, settings):
    qa = QA.load(seed_index, settings=settings.replace(cache_dir=cache))
    assert isinstance(qa.encoder, qe.OnnxEmbedder) and qa._embedder is None
    question = "What did Russia announce on Mar. 25?"
    fast, torch = qa.ask(question), seed_qa.ask(question)
    assert [c.to_dict() for c in fast.citations] == [c.to_dict() for c in torch.citations]
    assert qa._embedder is None

    off = QA.load(seed_index, settings=settings.replace(cache_dir=cache, fast_query_encoder=False))
    assert not isinstance(off.encoder, qe.OnnxEmbedder)


def test_damaged_export_falls_back_to_pytorch(cache, seed_index, embedder, tmp_path, settings, caplog):
    broken = tmp_path / "cache"
    shutil.copytree(cache, broken)
    model_file = qe.folder_for(broken, embedder.name) / qe.MODEL_FILE
    model_file.write_bytes(model_file.read_bytes()[:1000])
    assert qe.load(broken, embedder.name) is None
    assert "cannot be used" in caplog.text
    qa = QA.load(seed_index, settings=settings.replace(cache_dir=broken))
    assert not isinstance(qa.encoder, qe.OnnxEmbedder)
    assert not qa.ask("What did Russia announce on Mar. 25?").refused


def test_only_mean_pooling_models_are_exported(embedder, tmp_path):
    assert qe._pooling_plan(embedder.path) == {"normalize": True}
    other = tmp_path / "cls-model"
    shutil.copytree(embedder.path, other, ignore=shutil.ignore_patterns("*.safetensors"))
    config = other / "1_Pooling" / "config.json"
    pooling = json.loads(config.read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    config.write_text(json.dumps(pooling))
    assert qe._pooling_plan(other) is None


def test_an_up_to_date_index_still_leaves_the_export_when_it_is_missing(seed_corpus, seed_index, tmp_path, settings):
    """A new cache folder (another machine, a cleared cache) gets its export from the next
    `qa index`, even with nothing to re-embed; with the export there, no model is loaded."""
    from qa.indexing.indexer import Indexer

    index = tmp_path / "index"
    shutil.copytree(seed_index, index)
    fresh = settings.replace(cache_dir=tmp_path / "cache")
    indexer = Indexer(fresh)
    report = indexer.build(seed_corpus, index, progress=False)
    assert not report.changed_anything and qe.exported(fresh.cache_dir, fresh.model)
    again = Indexer(fresh)
    again.build(seed_corpus, index, progress=False)
    assert again._embedder is None


def test_a_question_asked_before_any_export_leaves_one(seed_index, tmp_path, settings):
    """`qa ask` on a machine (or cache) that has never run `qa index` loads PyTorch once,
    leaves the export, and answers with it; the next process starts fast."""
    fresh = settings.replace(cache_dir=tmp_path / "cache")
    assert not qe.exported(fresh.cache_dir, fresh.model)
    qa = QA.load(seed_index, settings=fresh)
    assert isinstance(qa.encoder, qe.OnnxEmbedder) and qe.exported(fresh.cache_dir, fresh.model)
    assert not qa.ask("What did Russia announce on Mar. 25?").refused
    assert QA.load(seed_index, settings=fresh)._embedder is None


def test_it_embeds_articles_like_pytorch_chunks_sentences_and_word_pieces(cache, embedder):
    """What an update embeds with it: the same word-piece counts and spans (chunking is the
    same), the same chunk vectors and the same late-chunked sentence vectors."""
    from conftest import SEED

    from qa.embedding.model import EmbedInput

    encoder = qe.load(cache, embedder.name)
    text = SEED.read_text(encoding="utf-8")[:3000]
    pieces = [text[:400], text[400:1500], "Quand le gardien du phare a-t-il pris sa retraite ?", text[1500:]]
    assert encoder.count_tokens(pieces) == embedder.count_tokens(pieces)
    assert encoder.token_spans(pieces[1]) == embedder.token_spans(pieces[1])
    inputs = [EmbedInput(p, [(0, 40), (41, 120)]) for p in pieces]
    ours, torch = encoder.embed(inputs), embedder.embed(inputs)
    assert np.min(np.sum(ours.vectors * torch.vectors, axis=1)) > 0.9999
    for a, b in zip(ours.span_vectors, torch.span_vectors, strict=True):
        assert a.shape == b.shape == (2, embedder.dim) and np.min(np.sum(a * b, axis=1)) > 0.9999


def test_an_update_embeds_without_importing_pytorch(cache, seed_corpus, seed_index, tmp_path, settings):
    """`qa index` adding an article on a machine with the export: no PyTorch in the process."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(seed_corpus, corpus)
    shutil.copytree(seed_index, index)
    (corpus / "ferry.txt").write_text("Ferry news\n\nThe ferry to Islay leaves at 18:40 from Monday.\n")
    code = (
        "import sys; from qa.cli import main; "
        f"rc = main(['index', '--corpus', {str(corpus)!r}, '--index', {str(index)!r}, '-q']); "
        "sys.exit(rc or 10 * ('torch' in sys.modules))"
    )
    env = dict(os.environ, QA_CACHE_DIR=str(cache))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-1500:]
    assert b"+1 added" in done.stdout
    qa = QA.load(index, settings=settings.replace(cache_dir=cache))
    assert "18:40" in qa.ask("When does the ferry to Islay leave?").citations[0].quote
