"""What one training step reads: batches of questions of similar length, their pairs
encoded into one padded array, and the short answer's first and last piece in each row."""

from __future__ import annotations

import random

import numpy as np

from .config import TrainConfig


def span_targets(pairs, groups, null: bool = False) -> tuple[list[int], list[int]]:
    """Row positions of the first and last piece of each pair's short answer (-100: none).
    With `null`, a sentence that does not answer points at the [CLS] piece (position 0), as
    SQuAD 2.0 readers learn "no answer": the span head's best span against that piece is then
    a second judgement of whether the sentence answers, made word by word."""
    starts, ends, row = [], [], 0
    for g in groups:
        for k, sentence in enumerate(g.sentences):
            s = e = 0 if null and g.labels[k] == 0 else -100
            if k == 0 and g.answer and g.labels[0] == 1:
                at = sentence.find(g.answer)
                if at >= 0:
                    a, b = at, at + len(g.answer)
                    pieces = [i for i, (x, y) in enumerate(pairs.offsets[row]) if x < b and y > a]
                    if pieces and pairs.offsets[row][pieces[0]][0] <= a and pairs.offsets[row][pieces[-1]][1] >= b:
                        s, e = pairs.first[row] + pieces[0], pairs.first[row] + pieces[-1]
            starts.append(s)
            ends.append(e)
            row += 1
    return starts, ends


def encode(encoder, batch):
    """All pairs of a batch of groups in one padded array (each group's questions repeated)."""
    from ..answering.reader.pairs import Pairs

    parts = [encoder.encode(g.question, g.sentences) for g in batch]
    width = max(p.input_ids.shape[1] for p in parts)

    def stack(name):
        fill = encoder.pad if name == "input_ids" else 0
        return np.concatenate(
            [np.pad(getattr(p, name), ((0, 0), (0, width - p.input_ids.shape[1])), constant_values=fill) for p in parts]
        )

    return Pairs(
        stack("input_ids"),
        stack("attention_mask"),
        stack("token_type_ids"),
        [f for p in parts for f in p.first],
        [o for p in parts for o in p.offsets],
    )


def tensors(pairs) -> dict:
    """The encoded pairs as the PyTorch inputs of `net.reader_net`."""
    import torch

    return {k: torch.from_numpy(v) for k, v in pairs.feed({"input_ids", "attention_mask", "token_type_ids"}).items()}


def make_batches(groups, encoder, cfg: TrainConfig) -> list[list]:
    """Batches of `batch_groups` questions of similar length, in a seeded random order.

    A batch is padded to its longest pair, so mixing a 60-piece pair with 30-piece ones
    nearly doubles the work; sorting within windows of 50 batches keeps the shuffle."""
    lengths = [max(encoder.lengths(g.question, g.sentences)) for g in groups]
    order = list(range(len(groups)))
    window = cfg.batch_groups * 50
    batches = []
    for w in range(0, len(order), window):
        part = sorted(order[w : w + window], key=lambda i: lengths[i])
        batches += [[groups[i] for i in part[b : b + cfg.batch_groups]] for b in range(0, len(part), cfg.batch_groups)]
    random.Random(cfg.seed).shuffle(batches)
    return batches
