from __future__ import annotations

import random

import pytest
from conftest import DATA, SEED

from qa.ingestion.chunking import Chunker, split_sentences


@pytest.fixture(scope="module")
def chunker(embedder, settings):
    return Chunker(embedder.count_tokens, embedder.token_spans, settings.chunk_tokens, settings.overlap_sentences)


def _texts():
    texts = {"seed": SEED.read_text(encoding="utf-8")}
    for path in sorted((DATA / "bbc").rglob("*.txt")):
        raw = path.read_bytes()
        try:
            texts[path.name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            texts[path.name] = raw.decode("latin-1")
    return texts


def test_offsets_round_trip_for_every_sentence_and_chunk(chunker, embedder):
    texts = _texts()
    assert len(texts) >= 6
    for name, text in texts.items():
        result = chunker.chunk(text)
        assert result.sentences, name
        for s in result.sentences:
            piece = text[s.start : s.end]
            assert piece and piece == piece.strip(), (name, s)
        for c in result.chunks:
            assert text[c.start : c.end].startswith(
                text[result.sentences[c.first_sentence].start : result.sentences[c.first_sentence].end]
            )
            assert c.start == result.sentences[c.first_sentence].start
            assert c.end == result.sentences[c.last_sentence].end
        # Every sentence is inside some chunk: nothing is left out of the index.
        covered = set()
        for c in result.chunks:
            covered.update(range(c.first_sentence, c.last_sentence + 1))
        assert covered == set(range(len(result.sentences))), name


def test_chunks_fit_the_model(chunker, embedder):
    for name, text in _texts().items():
        for c in chunker.chunk(text).chunks:
            assert embedder.count_tokens([text[c.start : c.end]])[0] <= chunker.max_tokens, name


def test_seed_sentences_respect_abbreviations():
    text = SEED.read_text(encoding="utf-8")
    sentences = [text[s.start : s.end] for s in split_sentences(text)]
    assert (
        "Because the Japan-U.S. alliance represents one of the largest hard power factors in Northeast Asian security, the most plausible alternative is a strengthened China-Russia partnership."
        in sentences
    )
    assert not any(s.startswith("S. ") for s in sentences)
    assert "Photo: RIA Novosti" in sentences  # a caption line stays on its own


@pytest.mark.parametrize("overlap", [0, 1])
def test_consecutive_chunks_follow_on_or_overlap_by_a_sentence(embedder, settings, overlap):
    chunker = Chunker(embedder.count_tokens, embedder.token_spans, settings.chunk_tokens, overlap)
    result = chunker.chunk(SEED.read_text(encoding="utf-8"))
    assert len(result.chunks) > 3
    for a, b in zip(result.chunks, result.chunks[1:], strict=False):
        if overlap:
            assert b.first_sentence == a.last_sentence and b.start < a.end  # one sentence shared
        else:
            assert b.first_sentence == a.last_sentence + 1 and b.start > a.end  # the next sentence on


def test_run_on_paragraph_gives_bounded_chunks(chunker, embedder):
    rng = random.Random(7)
    vocabulary = ["harbour", "tide", "vessel", "anchor", "storm", "keeper", "lantern", "island", "current", "pilot"]
    words = []
    while sum(len(w) + 1 for w in words) < 20_000:
        words.append(rng.choice(vocabulary))
    text = " ".join(words)[:20_000]
    assert len(text) == 20_000 and "." not in text
    result = chunker.chunk(text)
    assert len(result.chunks) > 10
    for c in result.chunks:
        piece = text[c.start : c.end]
        assert piece and embedder.count_tokens([piece])[0] <= chunker.max_tokens
    # The pieces tile the text: nothing is lost between them.
    assert result.sentences[0].start == 0 and result.sentences[-1].end == len(text)
    for a, b in zip(result.sentences, result.sentences[1:], strict=False):
        assert text[a.end : b.start].strip() == ""


def test_title_budget_shrinks_chunks(chunker, embedder):
    text = SEED.read_text(encoding="utf-8")
    small = chunker.chunk(text, budget=60)
    assert len(small.chunks) > len(chunker.chunk(text).chunks)
    for c in small.chunks:
        assert embedder.count_tokens([text[c.start : c.end]])[0] <= 60


def test_empty_text_has_no_chunks(chunker):
    assert chunker.chunk("   \n\n  ").chunks == []
