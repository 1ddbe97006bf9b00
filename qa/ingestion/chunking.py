"""Split a document into sentences and pack them into chunks sized in model tokens.

Sentences come from syntok (the successor of segtok, a rule-based splitter that
gets abbreviations such as "Japan-U.S." right) and keep exact character offsets. A "sentence" longer than a chunk
can hold (a run-on paragraph with no punctuation, a table) is cut at word-piece
boundaries, so every chunk fits the model and nothing is silently truncated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..types import Chunk, Span

TokenCounter = Callable[[Sequence[str]], list[int]]
TokenSpans = Callable[[str], list[tuple[int, int]]]


@dataclass(frozen=True)
class Chunked:
    sentences: list[Span]
    chunks: list[Chunk]


def split_sentences(text: str) -> list[Span]:
    """Sentence spans with surrounding whitespace trimmed; never across a blank line."""
    from syntok.segmenter import analyze

    spans: list[Span] = []
    for paragraph in analyze(text):
        for sentence in paragraph:
            tokens = list(sentence)
            if not tokens:
                continue
            start, end = tokens[0].offset, tokens[-1].offset + len(tokens[-1].value)
            if start > 0 and text[start - 1] in "\"'“‘(" and not tokens[0].spacing:
                start -= 1  # syntok hands an opening quote to the sentence before
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if start < end:
                spans.append(Span(start, end))
    return spans


class Chunker:
    def __init__(
        self,
        count_tokens: TokenCounter,
        token_spans: TokenSpans,
        max_tokens: int,
        overlap_sentences: int = 1,
    ):
        if max_tokens < 8:
            raise ValueError("chunk size must be at least 8 tokens")
        self.count_tokens = count_tokens
        self.token_spans = token_spans
        self.max_tokens = max_tokens
        self.overlap = max(0, overlap_sentences)

    def chunk(self, text: str, budget: int | None = None) -> Chunked:
        """Sentences and chunks of `text`; `budget` lowers the token limit (e.g. for a title)."""
        limit = max(8, min(self.max_tokens, budget or self.max_tokens))
        sentences = split_sentences(text)
        counts = self.count_tokens([s.text_of(text) for s in sentences])
        sentences, counts = self._cut_long(text, sentences, counts, limit)
        return Chunked(sentences, self._pack(sentences, counts, limit))

    def _cut_long(
        self, text: str, sentences: list[Span], counts: list[int], limit: int
    ) -> tuple[list[Span], list[int]]:
        if all(c <= limit for c in counts):
            return sentences, counts
        out_spans: list[Span] = []
        out_counts: list[int] = []
        for span, count in zip(sentences, counts, strict=True):
            if count <= limit:
                out_spans.append(span)
                out_counts.append(count)
                continue
            pieces = self.token_spans(span.text_of(text))
            for begin in range(0, len(pieces), limit):
                window = pieces[begin : begin + limit]
                out_spans.append(Span(span.start + window[0][0], span.start + window[-1][1]))
                out_counts.append(len(window))
        return out_spans, out_counts

    def _pack(self, sentences: list[Span], counts: list[int], limit: int) -> list[Chunk]:
        chunks: list[Chunk] = []
        first, n = 0, len(sentences)
        while first < n:
            last, used = first, counts[first]
            while last + 1 < n and used + counts[last + 1] <= limit:
                last += 1
                used += counts[last]
            chunks.append(Chunk(sentences[first].start, sentences[last].end, first, last))
            if last + 1 >= n:
                break
            # Start the next chunk a few sentences back so an answer spanning the
            # boundary is whole in one chunk, but always move forward.
            next_first = last + 1
            back = 0
            while back < self.overlap and next_first - 1 > first:
                if sum(counts[next_first - 1 : last + 1]) > limit // 2:
                    break
                next_first -= 1
                back += 1
            first = next_first
        return chunks
