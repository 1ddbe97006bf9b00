"""How the reader sees a question and a sentence: word pieces, with a long sentence read
as the window around the question's words.

Training (train.py) and answering (onnx_reader.py) both encode through `PairEncoder`, so
the model is read exactly as it was taught. A pair is `[CLS] question [SEP] sentence
[SEP]`; the question keeps at most `max_question` pieces and the sentence the rest of
`max_length`. A sentence longer than its room is cut to the window holding most of the
question's word pieces (the answer sits near the words that name its subject), so a
long sentence costs no more than a short one. Each sentence piece keeps its character
offsets in the sentence: the answer-span head points at pieces, and those offsets turn
its pick back into characters of the article.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Pieces too common to say where a question's subject is.
_COMMON_WORDS = (
    "the a an of in on at to for by with from and or is are was were be been be did do does has have had "
    "what which who whom whose when where why how that this these those it its as than then there their "
    "he she they his her them not no , . ? ! ' \" - ( ) : ; 's"
)
_COMMON = set(_COMMON_WORDS.split())


@dataclass
class Pairs:
    """A padded batch of encoded pairs, ready for the model."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    first: list[int]
    """Per pair: position of its sentence's first piece in the row."""
    offsets: list[list[tuple[int, int]]]
    """Per pair: (start, end) in the sentence of each sentence piece in the row, in order."""

    def feed(self, names: set[str]) -> dict[str, np.ndarray]:
        arrays = {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "token_type_ids": self.token_type_ids,
        }
        return {k: v for k, v in arrays.items() if k in names}


class PairEncoder:
    def __init__(self, tokenizer, max_length: int = 64, max_question: int = 24, window: bool = True):
        """`tokenizer`: a `tokenizers.Tokenizer` (the reader's tokenizer.json). `window`
        False cuts pairs as Hugging Face's longest-first truncation does (how v1 readers
        were trained) instead of windowing the sentence."""
        self.tok = tokenizer
        self.tok.no_truncation()
        self.tok.no_padding()
        self.max_length = max_length
        self.max_question = max_question
        self.windowed = window
        # BERT's names, else RoBERTa's and MPNet's (a teacher's tokenizer: training/bases.py).
        self.cls = _special(tokenizer, "[CLS]", "<s>")
        self.sep = _special(tokenizer, "[SEP]", "</s>")
        self.pad = _special(tokenizer, "[PAD]", "<pad>")
        self._common = {i for w in _COMMON if (i := tokenizer.token_to_id(w)) is not None}

    def encode(self, question: str, sentences: Sequence[str]) -> Pairs:
        """The pairs of `question` with each of `sentences`, padded into one batch."""
        return pad(self.pieces(question, sentences), self.pad)

    def pieces(self, question: str, sentences: Sequence[str]) -> list[Piece]:
        """Each pair's word pieces, unpadded: the reader sorts them by length and pads each
        batch apart, from one tokenisation of each sentence."""
        full_q = self.tok.encode(question, add_special_tokens=False).ids
        q = full_q[: self.max_question]
        asked = {i for i in q if i not in self._common}
        room = max(8, self.max_length - len(q) - 3)
        out = []
        for enc in self.tok.encode_batch(list(sentences), add_special_tokens=False):
            ids, offs = enc.ids, enc.offsets
            if self.windowed:
                q_here, w, take = q, window(ids, asked, room), room
            else:
                q_here, w, take = _longest_first(full_q, len(ids), self.max_length - 3)
            row = [self.cls, *q_here, self.sep, *ids[w : w + take], self.sep]
            out.append(Piece(row, len(q_here) + 2, [tuple(o) for o in offs[w : w + take]]))
        return out

    def lengths(self, question: str, sentences: Sequence[str]) -> list[int]:
        """Each pair's length in pieces, for batching pairs of similar length together."""
        return [len(p.ids) for p in self.pieces(question, sentences)]


def _special(tokenizer, *names: str) -> int:
    for name in names:
        if (i := tokenizer.token_to_id(name)) is not None:
            return i
    raise ValueError(f"the reader's tokenizer has none of {', '.join(names)}")


@dataclass
class Piece:
    """One pair, encoded and not yet padded."""

    ids: list[int]
    first: int
    """Position of the sentence's first piece."""
    offsets: list[tuple[int, int]]
    """(start, end) in the sentence of each sentence piece, in order."""


def pad(pieces: Sequence[Piece], pad_id: int = 0) -> Pairs:
    """Pairs padded to the longest of them, with their masks and segment ids."""
    width = max((len(p.ids) for p in pieces), default=0)
    n = len(pieces)
    ids_arr = np.full((n, width), pad_id, dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    type_arr = np.zeros((n, width), dtype=np.int64)
    for i, p in enumerate(pieces):
        ids_arr[i, : len(p.ids)] = p.ids
        mask[i, : len(p.ids)] = 1
        type_arr[i, p.first : len(p.ids)] = 1
    return Pairs(ids_arr, mask, type_arr, [p.first for p in pieces], [p.offsets for p in pieces])


def _longest_first(q: list[int], n: int, budget: int) -> tuple[list[int], int, int]:
    """(question pieces, sentence start, sentence room) as the tokenizers library's
    longest-first truncation cuts a pair: the longer side loses pieces until both fit, and
    the shorter keeps up to half the budget (the odd piece goes to the side that was longer)."""
    a, b = len(q), n
    if a + b <= budget:
        return q, 0, b
    if a <= b:
        a = min(a, budget // 2)
        return q[:a], 0, budget - a
    b = min(b, budget // 2)
    return q[: budget - b], 0, b


def window(ids: Sequence[int], asked: set[int], room: int) -> int:
    """Start of the `room` pieces of `ids` holding the most of the question's pieces
    (the middle one of equally good windows, so the words are not at its very edge)."""
    if len(ids) <= room:
        return 0
    hits = np.fromiter((i in asked for i in ids), dtype=np.int32, count=len(ids))
    sums = np.convolve(hits, np.ones(room, dtype=np.int32), mode="valid")  # sums[w] = hits in [w, w+room)
    best = np.flatnonzero(sums == sums.max())
    return int(best[len(best) // 2])


@dataclass(frozen=True)
class Span:
    """The short answer the span head found in a sentence: characters [start, end) of it."""

    start: int
    end: int
    confidence: float
    """P(start) * P(end) under the head's softmax over the sentence's pieces."""
    gap: float | None = None
    """For a head trained with "no answer" (`span_null`): the span's start + end logit over the
    [CLS] piece's. Above 0, the head finds an answer in the sentence; None for other heads."""


SPAN_PIECES = 12
"""The longest short answer, in word pieces. Chosen on development data the shipped reader
never trained on (5,000 unseen SQuAD 1.1 train questions, and SQuAD 2.0 dev half B's held
articles): 12 gave the best exact match and F1 on the first and +1.9 EM on the second over
24, since a long pick is mostly an answer with its surroundings (docs/reader.md)."""


def best_span(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    first: int,
    offsets: list[tuple[int, int]],
    max_pieces: int = SPAN_PIECES,
    null: bool = False,
) -> Span | None:
    """The most likely answer span among one pair's sentence pieces (at most `max_pieces` long);
    with `null`, also its `gap` over "no answer" (the [CLS] piece, position 0 of the row)."""
    n = len(offsets)
    if n == 0:
        return None
    s = start_logits[first : first + n].astype(np.float64)
    e = end_logits[first : first + n].astype(np.float64)
    ps = np.exp(s - s.max())
    ps /= ps.sum()
    pe = np.exp(e - e.max())
    pe /= pe.sum()
    joint = np.triu(np.outer(ps, pe)) - np.triu(np.outer(ps, pe), k=max_pieces)
    i, j = np.unravel_index(int(np.argmax(joint)), joint.shape)
    # The pick maximises P(start)·P(end), so also start + end logit: the SQuAD 2.0 comparison.
    gap = float(s[i] + e[j] - start_logits[0] - end_logits[0]) if null else None
    return Span(offsets[i][0], offsets[j][1], float(joint[i, j]), gap)


def whole_words(text: str, span: Span | None) -> Span | None:
    """`span` widened to whole words of `text`: a pick that starts or ends inside a word
    ("##s" of "foxes") quotes the word whole, as a reader would expect and SQuAD's answers are."""
    if span is None:
        return None
    start, end = span.start, span.end
    while 0 < start < len(text) and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while 0 < end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    if (start, end) == (span.start, span.end):
        return span
    return Span(start, end, span.confidence, span.gap)


@dataclass
class Reading:
    """What a reader says of each sentence: a logit (above 0: it more likely answers than
    not) and, for a reader with a span head, where its short answer lies (else None)."""

    logits: np.ndarray
    spans: list[Span | None]
