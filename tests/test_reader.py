"""The reader: the shipped model, loading by name or folder, training a few real steps."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import DATA, ROOT, SEED

from qa.answering.reader import DEFAULT_READER, PACKAGED, ReaderNotFound, is_packaged, load_reader
from qa.answering.reader.onnx_reader import OnnxReader
from qa.training.data import _answer_sentence, build, detokenise, written_groups


def test_the_default_reader_ships_with_qa_with_its_card():
    folder = PACKAGED / DEFAULT_READER
    info = json.loads((folder / "reader.json").read_text(encoding="utf-8"))
    assert f"{info['name']}-v{info['version']}" == DEFAULT_READER
    assert (folder / "card.md").read_text(encoding="utf-8").startswith(f"# {info['name']}")
    assert sum(f.stat().st_size for f in folder.iterdir()) < 30 * 1024 * 1024
    assert is_packaged(DEFAULT_READER) and not is_packaged("none")


def test_the_shipped_reader_prefers_the_sentence_that_answers_to_the_one_that_restates():
    reader = load_reader(DEFAULT_READER)
    text = SEED.read_text(encoding="utf-8")
    answers = (
        "In fact, the Kurile Islands dispute presents perhaps the only true stumbling block to much closer and "
        "healthier Japan-Russia ties"
    )
    sentence = text[text.index(answers) : text.index(".", text.index(answers)) + 1]
    restates = "Japan, Russia and the U.S. alliance: can Tokyo and Moscow get closer over the Kuril Islands?"
    off_topic = "The harbour board said the lighthouse will be fully automated by March."
    scores = reader.score(
        "What is the main obstacle to better relations between Japan and Russia?", [restates, sentence, off_topic]
    )
    assert scores.shape == (3,)
    assert scores[1] > scores[0] + 1 and scores[1] > scores[2] + 1  # logits: -0.4, -2.0, -4.3 when written
    assert reader.score("anything", []).shape == (0,)


def test_questions_never_import_pytorch():
    code = (
        "import sys; from qa.answering.reader import load_reader; "
        f"r = load_reader({DEFAULT_READER!r}); r.score('Who?', ['Smith did.']); "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120).returncode == 0


def test_reader_none_and_unknown_readers():
    assert load_reader("none") is None and load_reader("") is None and load_reader(None) is None
    with pytest.raises(ReaderNotFound, match="qa runs offline"):
        load_reader("no-such-reader-anywhere")


def test_training_pairs_drop_ambiguous_answers_and_read_treebank_text():
    sentences = ["It opened in 1990.", "It closed in 1990.", "Smith built it."]
    assert _answer_sentence(sentences, ["Smith"]) == 2
    assert _answer_sentence(sentences, ["1990"]) is None  # in two sentences: which one is unknown
    assert _answer_sentence(sentences, ["1990", "closed in 1990"]) == 1  # the other answer settles it
    assert _answer_sentence(sentences, ["Jones"]) is None
    assert (
        detokenise("the company -LRB- IBM -RRB- said `` no '' , did n't it ?")
        == 'The company (IBM) said "no", didn\'t it?'
    )


def test_training_data_keeps_the_validation_articles_out():
    train, validation = build(DATA / "reader", squad_questions=None)
    origins = {g.origin for g in train}
    assert origins == {"squad1.1-train", "squad2-train-unanswerable", "squad2-dev-b", "trecqa-train", "trecqa-dev"}
    assert {g.origin for g in validation} == {"squad2-dev-b-held", "trecqa-test"}
    held = {g.question for g in validation}
    assert not held & {g.question for g in train}
    assert any(not any(g.labels) for g in train if g.origin == "squad2-dev-b")  # unanswerable: negatives only
    for g in train:
        assert len(g.sentences) == len(g.labels) and g.labels.count(1) <= 1 and len(g.sentences) >= 1
        if any(g.labels) and g.origin.startswith("squad"):
            assert g.labels[0] == 1
            assert g.answer and g.answer in g.sentences[0]  # what the span head learns from
    # SQuAD 2.0 train's unanswerable questions join the SQuAD 1.1 paragraphs they were written
    # against; the sentence holding the plausible answer (the near-miss) is their first negative.
    unanswerable = [g for g in train if g.origin == "squad2-train-unanswerable"]
    assert len(unanswerable) == 6 and not any(y for g in unanswerable for y in g.labels)
    fixture = json.loads((DATA / "reader/squad2-train-unanswerable/squad2_train_unanswerable.squad.json").read_text())
    plausible = {
        q["question"].strip(): q["plausible_answers"][0]["text"]
        for p in fixture["data"][0]["paragraphs"]
        for q in p["qas"]
    }
    for g in unanswerable:
        assert plausible[g.question] in g.sentences[0]


def test_pairs_keep_a_long_sentence_around_the_question_words():
    from tokenizers import Tokenizer

    from qa.answering.reader.pairs import PairEncoder

    tok = Tokenizer.from_file(str(PACKAGED / DEFAULT_READER / "tokenizer.json"))
    enc = PairEncoder(tok, max_length=32, max_question=8)
    filler = "Nothing much happened in the long years before anyone came along here. " * 4
    sentence = filler + "The lighthouse keeper was Margaret Hale, who lit it nightly. " + filler
    pairs = enc.encode("Who was the lighthouse keeper at the harbour of the old town?", [sentence, "Short one."])
    assert pairs.input_ids.shape == (2, 32) and pairs.attention_mask[1].sum() < 32
    first, offsets = pairs.first[0], pairs.offsets[0]
    window = sentence[offsets[0][0] : offsets[-1][1]]
    assert "lighthouse keeper" in window and "Margaret" in window  # cut to the window, not the first pieces
    assert (pairs.token_type_ids[0, first:] == 1).all() and (pairs.token_type_ids[0, :first] == 0).all()
    assert enc.lengths("Who was the lighthouse keeper at the harbour of the old town?", [sentence]) == [32]


def test_v1_readers_read_pairs_as_they_were_trained():
    """A reader without `window` in its reader.json is fed exactly what the tokenizers library's
    longest-first truncation gives (how the v1 reader was trained)."""
    from tokenizers import Tokenizer

    from qa.answering.reader.pairs import PairEncoder

    path = str(PACKAGED / DEFAULT_READER / "tokenizer.json")
    hf = Tokenizer.from_file(path)
    hf.enable_truncation(40, strategy="longest_first")
    hf.enable_padding()
    ours = PairEncoder(Tokenizer.from_file(path), 40, 40, window=False)
    words = SEED.read_text(encoding="utf-8").split()
    for q_len, s_len in ((3, 10), (30, 30), (25, 26), (40, 5), (5, 60), (21, 21)):
        question, sentences = " ".join(words[:q_len]), [" ".join(words[100 : 100 + s_len]), "Short."]
        expected = hf.encode_batch([(question, s) for s in sentences])
        got = ours.encode(question, sentences)
        assert got.input_ids.tolist() == [e.ids for e in expected]
        assert got.token_type_ids.tolist() == [e.type_ids for e in expected]


def test_best_span_picks_the_likeliest_start_and_end_in_the_sentence():
    from qa.answering.reader.pairs import best_span

    offsets = [(0, 3), (4, 9), (10, 15), (16, 20)]  # "The quick brown foxes"
    start = np.array([9, 9, 0, 5, 0, 0, 9], dtype=np.float32)  # row: [CLS] q [SEP] pieces..., then [SEP]
    end = np.array([9, 9, 0, 0, 1, 6, 9], dtype=np.float32)
    span = best_span(start, end, 2, offsets)
    assert (span.start, span.end) == (4, 20) and 0.5 < span.confidence <= 1  # "quick brown foxes"
    assert span.gap is None  # a head not trained with "no answer" says nothing about it
    assert best_span(start, end, 2, []) is None
    # Trained with "no answer", the head's [CLS] logits (9 + 9) beat the span's (5 + 6): no answer here.
    assert best_span(start, end, 2, offsets, null=True).gap == pytest.approx(-7.0)
    start[0] = end[0] = 1.0
    assert best_span(start, end, 2, offsets, null=True).gap == pytest.approx(9.0)


def test_a_short_answer_is_widened_to_whole_words_and_kept_short():
    from qa.answering.reader.pairs import SPAN_PIECES, Span, best_span, whole_words

    text = "The quick brown foxes"
    # A pick from inside "quick" to inside "foxes" quotes both words whole.
    assert whole_words(text, Span(6, 17, 0.5)) == Span(4, 21, 0.5)
    exact = Span(4, 9, 0.7)
    assert whole_words(text, exact) is exact and whole_words(text, None) is None
    assert whole_words("(1984)", Span(1, 5, 0.9)) == Span(1, 5, 0.9)  # brackets are not words
    # No span longer than SPAN_PIECES pieces, however sure the head is of its two ends.
    n = SPAN_PIECES + 5
    offsets = [(3 * i, 3 * i + 2) for i in range(n)]
    start, end = np.zeros(n + 2, dtype=np.float32), np.zeros(n + 2, dtype=np.float32)
    start[1], end[n] = 9.0, 9.0  # the head likes the first piece as start and the last as end
    span = best_span(start, end, 1, offsets)
    pieces = [i for i, o in enumerate(offsets) if span.start <= o[0] and o[1] <= span.end]
    assert len(pieces) <= SPAN_PIECES


def test_with_span_null_every_sentence_that_does_not_answer_points_at_cls():
    from tokenizers import Tokenizer

    from qa.answering.reader.pairs import PairEncoder, pad
    from qa.training.batches import span_targets as _span_targets
    from qa.training.data import Group

    encoder = PairEncoder(Tokenizer.from_file(str(PACKAGED / DEFAULT_READER / "tokenizer.json")), 64, 24)
    g = Group("Who founded TI?", ["TI was founded by Cecil Green.", "It is big."], [1, 0], "squad", "Cecil Green")
    pairs = pad(encoder.pieces(g.question, g.sentences), encoder.pad)
    plain, null = _span_targets(pairs, [g]), _span_targets(pairs, [g], null=True)
    assert plain[0][1] == plain[1][1] == -100 and null[0][1] == null[1][1] == 0  # the negative: [CLS]
    assert plain[0][0] == null[0][0] > 0 and plain[1][0] == null[1][0] >= null[0][0]  # the answer is unchanged
    answer = pairs.input_ids[0][null[0][0] : null[1][0] + 1]
    assert encoder.tok.decode(answer.tolist()) == "cecil green"


@pytest.mark.slow
def test_training_a_few_steps_exports_a_reader_that_qa_loads(tmp_path):
    """The real training script on a miniature of the data: pairs, steps, checkpoint, ONNX, card."""
    out = tmp_path / "reader"
    cmd = [sys.executable, "-m", "qa", "reader", "train", "--data", str(DATA / "reader"), "--out", str(out)]
    cmd += ["--groups", "8", "--batch", "4", "--span-null", "--swaps", "1"]

    def train():
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)

    run = train()
    assert run.returncode == 0, run.stderr[-2000:]
    model = out / "model"
    info = json.loads((model / "reader.json").read_text(encoding="utf-8"))
    assert info["training"]["steps"] == 2 and info["weights"] in ("int8", "fp32")
    assert set(info["validation"]["int8"]) == {"squad2-dev-b-held", "trecqa-test"}
    card = (model / "card.md").read_text(encoding="utf-8")
    assert "CC BY-SA 4.0" in card and "near-misses made from 100% of the answerable questions" in card
    groups = [json.loads(line) for line in (out / "work" / "groups.jsonl").read_text(encoding="utf-8").splitlines()]
    assert any(g["o"].endswith("-swapped") and not any(g["y"]) for g in groups)
    reader = load_reader(str(model))
    assert isinstance(reader, OnnxReader) and reader.score("Who?", ["Smith did.", "No."]).shape == (2,)
    # Trained with --span-null, its span head also says whether each sentence holds an answer.
    assert info["span_null"] and reader.span_null
    assert all(s is not None and np.isfinite(s.gap) for s in reader.read("Who?", ["Smith did.", "No."]).spans)

    # Resumable: the same command again finds the finished checkpoint and only exports.
    again = train()
    assert again.returncode == 0 and "resuming at step 2 of 2" in again.stdout

    # The checkpoint is a plain Hugging Face model: as a sentence-transformers CrossEncoder
    # (the `reader` setting's other kind) it gives the exported model's scores.
    fp32 = OnnxReader(out / "work" / "fp32")
    torch_reader = load_reader(str(out / "work" / "checkpoint"))
    pairs = ["The Kuril Islands are disputed.", "Tokyo and Moscow have never signed a peace treaty."]
    assert np.allclose(
        torch_reader.score("Why no peace treaty?", pairs), fp32.score("Why no peace treaty?", pairs), atol=1e-3
    )


def test_training_without_its_data_says_where_it_looked(tmp_path, capsys):
    from qa.cli.main import EXIT_ERROR, main

    assert main(["reader", "train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "the training data is not in" in err and "squad1.1-train.json" in err and "--data" in err


def test_the_short_answer_is_the_articles_own_words_inside_the_first_quote(seed_qa):
    answer = seed_qa.ask("When did Russia announce the deployment on the Kuril Islands?")
    short, first = answer.short_answer, answer.citations[0]
    text = SEED.read_text(encoding="utf-8")
    assert short is not None and short.text == "Mar. 25" and text[short.start : short.end] == short.text
    assert first.start <= short.start < short.end <= first.end and short.n == first.n == 1
    assert short.confidence >= seed_qa.settings.short_answer_threshold
    assert answer.to_dict()["short_answer"] == short.to_dict()
    from qa.answering.presenting import as_plain_text
    from qa.ui.render import quote_markdown

    assert as_plain_text(answer).startswith("Answer: Mar. 25\n")
    assert "<strong>Mar\\. 25</strong>" in quote_markdown(first, short)  # bold inside the quote in the chat
    # Not shown below its threshold, nor for a refusal.
    strict = type(seed_qa)(
        seed_qa.settings.replace(short_answer_threshold=1.01), seed_qa.snapshot, encoder=seed_qa.encoder
    )
    assert strict.ask("When did Russia announce the deployment on the Kuril Islands?").short_answer is None
    refused = seed_qa.ask("Who won the 2018 World Cup?")
    assert refused.refused and refused.short_answer is None and "short_answer" not in refused.to_dict()


def test_a_yes_no_question_gets_its_quote_but_no_short_answer(seed_qa):
    # "Did Russia announce…?" is answered by the sentence, not by a span of it ("Mar. 25").
    answer = seed_qa.ask("Did Russia announce the deployment of missile defense systems on the Kuril Islands?")
    assert not answer.refused and "Russia announced on Mar. 25" in answer.citations[0].quote
    assert answer.short_answer is None


def test_the_short_answer_keeps_the_full_stop_of_an_abbreviation():
    from qa.answering.answerer import Selection
    from qa.answering.presenting import short_answer
    from qa.types import Citation

    def short(quote: str, span: str):
        first = Citation(n=1, quote=quote, source="a.txt", title="A", start=100, end=100 + len(quote), score=1.0)
        at = 100 + quote.index(span)
        return short_answer(Selection(short=("a.txt", at, at + len(span), 0.5)), first)

    assert short("Its founder was Jane Doe Jr. who moved from Leeds.", "Jane Doe Jr. ").text == "Jane Doe Jr."
    assert short("The club was founded by Smith & Co. in Leeds.", "Smith & Co.").text == "Smith & Co."
    found = short("The mill opened in 1990.", "1990.")  # the sentence's own full stop goes
    assert found.text == "1990" and (found.start, found.end) == (119, 123)


def test_invisible_characters_inside_a_question_word_leave_the_word_whole():
    from qa import QA

    assert QA.cleaned("When did the mu\u00adseum in Dun\u200bdee open?") == "When did the museum in Dundee open?"
    assert QA.cleaned("Who\x07won\tthe\ncup?") == "Who won the cup?"  # control characters still separate


@pytest.mark.slow
def test_mined_negatives_are_what_qa_ranks_and_never_hold_the_answer(tmp_path):
    """Stage two's data: each question's group gains the candidates qa itself ranks highest
    (from other paragraphs too), never one holding the answer, and the result is cached."""
    from qa.training.data import UNANSWERABLE_FILE, merge_unanswerable, squad_articles
    from qa.training.mine import mine

    data = DATA / "reader"
    groups = mine(data, tmp_path, articles=3, per_question=2)
    articles = squad_articles(data / "squad1.1-train.json")
    merge_unanswerable(articles, data / UNANSWERABLE_FILE)
    paragraph_of = {}
    for a in articles:
        for p in a["paragraphs"]:
            for q in p["qas"]:
                paragraph_of[q["question"].strip()] = p["context"]
    assert groups and {g.origin for g in groups} == {"squad1.1-train-mined", "squad2-train-unanswerable-mined"}
    from_elsewhere = 0
    for g in groups:
        assert len(g.sentences) == len(g.labels) == len(set(g.sentences))
        assert sum(g.labels) <= 1 and (g.labels[0] == 1) == any(g.labels)
        mined = g.sentences[len(g.sentences) - min(2, len(g.sentences) - 1) :]
        if g.answer:
            assert not any(g.answer in s for s in g.sentences[1:])
        from_elsewhere += sum(s not in paragraph_of[g.question] for s in mined)
    assert from_elsewhere > 0  # qa's candidates come from other articles too, not only the question's paragraph
    assert (tmp_path / "mined.jsonl").exists()
    assert [g.to_json() for g in mine(data, tmp_path, articles=3, per_question=2)] == [g.to_json() for g in groups]


TOBACCO_LEAD = (
    "A US government claim accusing the country's biggest tobacco companies of covering up "
    "the effects of smoking has been thrown out by an appeal court."
)
TOBACCO_EVIDENCE = (
    "The court in Washington found that the case could not be brought under federal anti-racketeering laws."
)


def _written_questions(tmp_path, train: list[str], near_miss: str, restating: list[str]):
    """A data folder holding the fixture BBC articles with `train` as its train split, and a
    file of two questions written over business/010.txt: one answerable, one near-miss."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(DATA / "bbc", data / "bbc")
    (data / "bbc-splits").mkdir()
    (data / "bbc-splits" / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    questions = [
        {
            "question": "Why did the appeal court throw out the US claim against the tobacco firms?",
            "answerable": True,
            "source": "business/010.txt",
            "evidence": TOBACCO_EVIDENCE,
            "answer": "could not be brought under federal anti-racketeering laws",
            "restating": restating,
        },
        {
            "question": near_miss,
            "answerable": False,
            "source": "business/010.txt",
            "evidence": None,
            "answer": None,
            "restating": restating,
        },
    ]
    path = tmp_path / "written.json"
    path.write_text(json.dumps({"questions": questions}), encoding="utf-8")
    return data, path, questions


def test_written_news_questions_teach_the_answer_against_the_sentences_that_restate_it(tmp_path):
    lead, evidence = TOBACCO_LEAD, TOBACCO_EVIDENCE
    data, path, questions = _written_questions(
        tmp_path, ["business/010.txt"], "How much did the tobacco firms spend on lawyers in the appeal?", [lead]
    )
    answerable, unanswerable = written_groups(path, data)
    assert answerable.sentences[0] == evidence and answerable.labels == [1, 0, 0, 0]
    assert answerable.sentences[1] == lead and answerable.answer in evidence
    assert evidence not in answerable.sentences[1:]  # the answer is never its own negative
    article = (data / "bbc" / "business" / "010.txt").read_text(encoding="utf-8")
    assert all(s in article for s in answerable.sentences + unanswerable.sentences)
    assert unanswerable.labels == [0, 0, 0] and unanswerable.sentences[0] == lead

    # Only the train split may be learned from: an eval-split article is refused, by name.
    questions[1]["source"] = "tech/001.txt"
    path.write_text(json.dumps({"questions": questions}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"tech/001\.txt"):
        written_groups(path, data)


@pytest.mark.slow
def test_written_questions_gain_the_candidates_qa_ranks_over_the_train_split(tmp_path):
    """The written questions' groups gain qa's own best candidates as negatives, from any
    train-split article (never the answer, never an eval-split article), mined once."""
    from qa.training.mine import mine_written

    train = ["business/001.txt", "business/010.txt", "politics/003.txt", "sport/010.txt"]
    evidence = TOBACCO_EVIDENCE
    data, path, _ = _written_questions(
        tmp_path, train, "How much did the government want the tobacco companies to pay?", []
    )
    plain = written_groups(path, data)
    groups = mine_written(plain + plain, data, tmp_path / "work", per_question=2)  # a file given twice
    texts = [(data / "bbc" / name).read_text(encoding="utf-8") for name in train]
    assert [g.question for g in groups] == [g.question for g in plain + plain]
    assert [g.to_json() for g in groups[:2]] == [g.to_json() for g in groups[2:]]
    for before, after in zip(plain, groups[:2], strict=True):
        assert after.sentences[: len(before.sentences)] == before.sentences
        assert len(before.sentences) < len(after.sentences) <= len(before.sentences) + 2
        assert len(after.sentences) == len(after.labels) == len(set(after.sentences))
        assert sum(after.labels) == sum(before.labels)
        assert all(any(s in t for t in texts) for s in after.sentences)  # the train split only
    answerable = groups[0]
    assert not any(answerable.answer in s or s in evidence for s in answerable.sentences[1:])
    assert (tmp_path / "work" / "written-mined.jsonl").exists()
    again = mine_written(plain + plain, data, tmp_path / "work", per_question=2)
    assert [g.to_json() for g in again] == [g.to_json() for g in groups]


def test_a_checkpoint_recovered_from_the_shipped_reader_scores_as_it_does(tmp_path):
    # `--init qa-reader-minilm-l6-v2` trains on from the shipped int8 weights, dequantised.
    import torch

    from qa.training.net import reader_net
    from qa.training.recover import recover

    reader = load_reader(DEFAULT_READER)
    ckpt = recover(PACKAGED / DEFAULT_READER, tmp_path / "ckpt")
    model = reader_net(ckpt).eval()
    sentences = [s.strip() for s in SEED.read_text(encoding="utf-8").split(". ")[:16]]
    question = "Which islands do Japan and Russia dispute?"
    pairs = reader.encoder.encode(question, sentences)
    with torch.no_grad():
        logits, _, _ = model(
            *(torch.from_numpy(a) for a in (pairs.input_ids, pairs.attention_mask, pairs.token_type_ids))
        )
    shipped = reader.read(question, sentences).logits
    assert np.abs(logits.numpy() - shipped).max() < 0.6  # int8 activations aside, the same model
    assert np.corrcoef(logits.numpy(), shipped)[0, 1] > 0.99
    assert int(np.argmax(logits.numpy())) == int(np.argmax(shipped))


def test_the_card_of_a_later_stage_says_what_it_continued_from_and_added():
    # A card that claimed "initialised from all-MiniLM-L6-v2, no BBC article" for a stage
    # trained on from another one with written BBC questions would mislead its reader.
    from qa.training.export import model_card

    info = json.loads((PACKAGED / DEFAULT_READER / "reader.json").read_text(encoding="utf-8"))
    first = model_card(info)
    assert "Initialised from all-MiniLM-L6-v2" in first and "any BBC article" in first
    written = ["bench/questions/bbc_train_a.json"] * 2 + ["bench/questions/bbc_train_c.json"]
    info["config"] = {**info["config"], "init": "build/reader/work/checkpoint", "written": written}
    later = model_card(info)
    assert "Continued from `build/reader/work/checkpoint`" in later and "Initialised from" not in later
    assert "`bbc_train_a.json` ×2, `bbc_train_c.json`" in later and "any BBC article" not in later
    assert "qa's own best candidates" not in later
    info["config"] = {**info["config"], "mine_written": True, "mined_negatives": 4}
    assert "up to 4 more negatives, qa's own best candidates" in model_card(info)
    assert "no answer" not in later
    info["config"] = {**info["config"], "span_null": True}
    assert 'with "no answer": every sentence that does not answer points the span head at [CLS]' in model_card(info)
    assert "near-misses made from" not in model_card(info)
    info["config"] = {**info["config"], "swaps": 0.5}
    assert "near-misses made from 50% of the answerable questions above: one name or number" in model_card(info)
    # qa knows its two bases' licence, not a folder's: the card must not claim Apache-2.0 for it.
    assert "all-MiniLM-L6-v2 (Apache-2.0)" in first
    info["config"] = {**info["config"], "base": "/models/my-encoder"}
    folder = model_card(info)
    assert "Apache" not in folder and "`/models/my-encoder` (under that model's own licence" in folder


def test_a_swapped_name_turns_an_answer_into_a_near_miss():
    import random

    from qa.training.data import Group
    from qa.training.swaps import swapped, swapped_groups

    answer = "Tickets for the V festival go on sale on Friday 11 March."
    other = "The Queen tour opens in Cardiff in 2005."
    g = Group(
        "When will tickets for the V festival go on sale?",
        [answer, other, "It sold out."],
        [1, 0, 0],
        "bbc-written",
        "Friday 11 March",
    )
    near = swapped(g, random.Random(0))
    # Only "V" is shared with the answer and is not the short answer; a name of the same kind replaces it.
    assert near.question in (
        "When will tickets for the Queen festival go on sale?",
        "When will tickets for the Cardiff festival go on sale?",
    )
    # The old answer is now a negative; the sentence holding the new name might answer, so it is gone.
    assert near.sentences == [answer, "It sold out."] and near.labels == [0, 0] and near.answer is None
    assert near.origin == "bbc-written-swapped"
    # A year is swapped only for a year, never for a count or a name.
    year = Group(
        "What happened in 1999?", ["In 1999 the bank failed.", "It had 300 staff and Smith in 2004."], [1, 0], "squad"
    )
    assert swapped(year, random.Random(0)).question == "What happened in 2004?"
    # Nothing to swap: an unanswerable question, a question sharing no name with its answer,
    # a name found nowhere else in the group, or only the short answer itself.
    assert swapped(Group("Who?", ["Smith did."], [0], "squad"), random.Random(0)) is None
    assert swapped(Group("who won?", ["smith won.", "Jones lost."], [1, 0], "squad"), random.Random(0)) is None
    assert (
        swapped(Group("What did Smith win?", ["Smith won the cup.", "It rained."], [1, 0], "squad"), random.Random(0))
        is None
    )
    assert (
        swapped(Group("Did Smith win?", ["Yes, Smith won.", "Jones lost."], [1, 0], "squad", "Smith"), random.Random(0))
        is None
    )
    assert len(swapped_groups([g] * 10, 0.5, seed=1)) == len(swapped_groups([g] * 10, 0.5, seed=1)) < 10
