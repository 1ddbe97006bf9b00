"""Learning from a teacher: a larger reader (`qa reader train --base all-mpnet-base-v2`) scores
every training pair through its own tokenizer, and the student learns those scores beside the
labels (`--teacher`). A label says only 0 for a near-miss; the teacher says how answer-like it
is, which is what refusing at the right threshold needs."""

from __future__ import annotations

from pathlib import Path

from .batches import encode, tensors
from .config import TrainConfig
from .net import reader_net


def listwise(logits, batch, taught=None):
    """Mean over the batch's questions of a softmax across each question's sentences: against
    its answering sentence (questions that have one), or against the teacher's softmax."""
    import torch
    import torch.nn.functional as F

    losses, at = [], 0
    for g in batch:
        n = len(g.sentences)
        mine = logits[at : at + n]
        if taught is not None and n > 1:
            losses.append(
                F.kl_div(
                    F.log_softmax(mine, 0), F.log_softmax(taught[at : at + n], 0), log_target=True, reduction="sum"
                )
            )
        elif taught is None and any(g.labels):
            losses.append(F.cross_entropy(mine[None], torch.tensor([g.labels.index(1)])))
        at += n
    return torch.stack(losses).mean() if losses else logits.new_zeros(())


class Teacher:
    """A trained reader checkpoint (a larger one, `--base all-mpnet-base-v2`) scoring each
    training batch through its own tokenizer, for the student to learn its scores."""

    def __init__(self, ckpt: Path, cfg: TrainConfig):
        from tokenizers import Tokenizer

        from ..answering.reader.pairs import PairEncoder

        self.net = reader_net(ckpt).eval()
        self.bf16 = cfg.bf16
        self.encoder = PairEncoder(Tokenizer.from_file(str(ckpt / "tokenizer.json")), cfg.max_length, cfg.max_question)

    def logits(self, batch):
        import torch

        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            return self.net(**tensors(encode(self.encoder, batch)))[0].float()
