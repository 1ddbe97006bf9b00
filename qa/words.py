"""Words of a question as the lexical index sees them: lowercased, stopwords out, Porter stems."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"\w+", re.UNICODE)

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "may",
        "might",
        "must",
        "shall",
        "s",
        "t",
        "article",
        "articles",
        "say",
        "says",
        "said",
        "tell",
        "according",
    ]
)
"""Function words, plus question filler ('according to the article') that no passage answers."""


# News style abbreviates a month before a date ("Mar. 25", "Sept. 11"); readers write it out.
# ("May", "June" and "July" are never shortened; "may" is a stopword anyway.)
MONTH_SPELLINGS = (
    ("january", "jan"),
    ("february", "feb"),
    ("march", "mar"),
    ("april", "apr"),
    ("august", "aug"),
    ("september", "sept", "sep"),
    ("october", "oct"),
    ("november", "nov"),
    ("december", "dec"),
)
_SPELLINGS = {w: group for group in MONTH_SPELLINGS for w in group}


def spellings(word: str) -> tuple[str, ...]:
    """Every spelling of `word` (a month's full name and abbreviations), itself first."""
    return (word, *(w for w in _SPELLINGS.get(word, ()) if w != word))


def normalise(word: str) -> str:
    """One spelling for words written several ways: a month's full name."""
    return _SPELLINGS.get(word, (word,))[0]


def with_spellings(terms: list[str]) -> list[str]:
    """`terms` plus the other spellings of each, for a lexical query that must match any."""
    return list(dict.fromkeys(w for t in terms for w in spellings(t)))


def words(text: str) -> list[str]:
    """Lowercased words with accents folded, the way FTS5's unicode61 tokenizer sees them."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(folded)


def content_words(text: str) -> list[str]:
    """Distinct non-stopwords, in order of first appearance."""
    seen: dict[str, None] = {}
    for word in words(text):
        if word not in STOPWORDS and word not in seen:
            seen[word] = None
    return list(seen)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("porter")


def stems(tokens: list[str]) -> list[str]:
    """Porter stems, matching the `porter` tokenizer of the FTS5 index."""
    return _stemmer().stemWords(tokens)
