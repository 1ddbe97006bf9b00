"""A fast-starting encoder: the index's model exported to ONNX, run by ONNX Runtime.

Answering a question needs one short text embedded. Loading PyTorch and
sentence-transformers for that takes most of a new process's start-up (about
6 s on 2 cores); ONNX Runtime and the Rust tokenizer load in well under a
second. So after a build that loaded the model, the indexer exports it once per
machine into `Settings.cache_dir` and checks that it gives the same vectors as
PyTorch. `QA.load` then embeds questions with it, and `qa index` the articles an
update adds, so neither imports PyTorch; only a machine's first build needs it.

Only models that are a transformer followed by mean pooling (and optionally
normalisation) are exported; anything else, or any failure, keeps PyTorch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .model import Embedded, Embedder, EmbedInput, embed_in_batches, normalise, resolve_model_path

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
INFO_FILE = "encoder.json"
CHECK_TEXTS = (
    "What did Russia announce on Mar. 25?",
    "The lighthouse on Skerry Rock will be fully automated by March, the harbour board said.",
    "Quand le gardien du phare a-t-il pris sa retraite ?",
    "灯台守は1998年に引退した。",
)
MIN_COSINE = 0.9999


class OnnxEmbedder:
    """The index's model run by ONNX Runtime: `embed_queries` for questions, and `embed` with
    sentence spans for the articles an update adds, with the same vectors as `Embedder` (cosine
    ≥ 0.9999, checked at export) and without importing PyTorch."""

    def __init__(self, folder: Path, info: dict, batch_size: int = 32, threads: int = 0):
        from tokenizers import Tokenizer

        self.name = info["model"]
        self.dim = int(info["dimension"])
        self.max_tokens = int(info["max_tokens"])
        self.normalize = bool(info["normalize"])
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_tokens)
        self._counter = Tokenizer.from_file(str(folder / TOKENIZER_FILE))  # whole texts: no truncation
        self._counter.no_padding()
        self._counter.no_truncation()
        self.session = cpu_session(folder / MODEL_FILE, threads)
        self._inputs = {i.name for i in self.session.get_inputs()}

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, without the model's special tokens."""
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of every word piece of `text`."""
        return [tuple(span) for span in self._counter.encode(text, add_special_tokens=False).offsets]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):  # one at a time: questions are short, no padding needed
            enc = self.tokenizer.encode(text)
            ids = np.asarray([enc.ids], dtype=np.int64)
            out[row] = self._tokens(ids, np.ones_like(ids))[0].mean(axis=0)
        return normalise(out) if self.normalize else out

    def embed(self, inputs: Sequence[EmbedInput], progress: Callable[[int], None] | None = None) -> Embedded:
        """Embed texts and their spans, as `Embedder.embed` does."""
        return embed_in_batches(inputs, self.batch_size, self.dim, self._run, progress)

    def _run(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        encoded = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(texts), width), np.int64)
        mask = np.zeros((len(texts), width), np.int64)
        offsets = np.zeros((len(texts), width, 2), np.int64)
        for row, e in enumerate(encoded):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
            offsets[row, : len(e.ids)] = e.offsets
        tokens = self._tokens(ids, mask)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (tokens * weights).sum(axis=1) / weights.sum(axis=1)  # the model's mean pooling
        return pooled, tokens, offsets, mask.astype(bool)

    def _tokens(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]


def cpu_session(model_file: Path, threads: int = 0):
    """An ONNX Runtime session on the CPU that keeps its warnings to itself; `threads`: 0, all cores."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    # An answer runs two sessions (the query encoder, then the reader) between FAISS and numpy
    # on the same cores. By default each session's worker threads spin after a run, waiting
    # for the next, and so take the cores from whatever runs next: with spinning off, one
    # answer with the reader took 53 ms instead of 82 at p50 (docs/benchmarks.md,
    # twenty-fourth session). A long batch (articles) loses nothing measurable.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])


def folder_for(cache_dir: Path, model: str) -> Path:
    """One folder per model and version of its files."""
    readable = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(model).name)[:60]
    return Path(cache_dir) / "onnx" / f"{readable}-{model_fingerprint(model)}"


def load(cache_dir: Path, model: str, batch_size: int = 32, threads: int = 0) -> OnnxEmbedder | None:
    """The exported encoder for `model`, or None (then PyTorch is used)."""
    try:
        folder = folder_for(cache_dir, model)
        if not _exported(folder, model):
            return None
        return OnnxEmbedder(folder, json.loads((folder / INFO_FILE).read_text(encoding="utf-8")), batch_size, threads)
    except Exception as exc:  # a damaged export must never stop questions: PyTorch still works
        log.warning("the ONNX query encoder for %s cannot be used (%s); using PyTorch", model, exc)
        return None


def model_fingerprint(model: str) -> str:
    """Changes when the model's files change: names and sizes, and the contents of the small ones."""
    path = resolve_model_path(model)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        size = f.stat().st_size
        h.update(f"{f.relative_to(path).as_posix()}:{size}\n".encode())
        if size < 4_000_000:
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def export(cache_dir: Path, embedder) -> bool:
    """Export the embedder's model unless a checked export exists; True if one exists now."""
    try:
        if _exported(folder_for(cache_dir, embedder.name), embedder.name):
            return True
        plan = _pooling_plan(embedder.path)
        if plan is None:
            log.info("model %s is not plain mean pooling; questions are embedded with PyTorch", embedder.name)
            return False
        folder = folder_for(cache_dir, embedder.name)
        tmp = folder.with_name(f".{folder.name}-{uuid.uuid4().hex[:8]}")
        tmp.mkdir(parents=True)
        try:
            _export_onnx(embedder, tmp / MODEL_FILE)
            shutil.copy(embedder.path / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
            info = {
                "model": embedder.name,
                "dimension": embedder.dim,
                "max_tokens": embedder.max_tokens,
                "normalize": plan["normalize"],
            }
            (tmp / INFO_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
            ours = OnnxEmbedder(tmp, info).embed_queries(CHECK_TEXTS)
            cosine = float(np.min(np.sum(ours * embedder.embed_queries(CHECK_TEXTS), axis=1)))
            if cosine < MIN_COSINE:
                log.warning("ONNX export of %s differs from PyTorch (cosine %.5f); not used", embedder.name, cosine)
                return False
            info["checked_min_cosine"] = round(cosine, 7)
            (tmp / INFO_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
            with contextlib.suppress(OSError):  # atomic; another process may have won the race, which is fine
                tmp.rename(folder)
            return _exported(folder, embedder.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except Exception as exc:  # export is an optimisation; the index is complete without it
        log.info("no ONNX query encoder for %s (%s); questions are embedded with PyTorch", embedder.name, exc)
        return False


def exported(cache_dir: Path, model: str) -> bool:
    """Whether a checked export of `model` is in `cache_dir` (cheap: no model is loaded)."""
    try:
        return _exported(folder_for(cache_dir, model), model)
    except Exception:
        return False


def _exported(folder: Path, model: str) -> bool:
    try:
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("model") == model and "checked_min_cosine" in info and (folder / MODEL_FILE).is_file()


def _pooling_plan(model_path: Path) -> dict | None:
    """{'normalize': bool} for Transformer → mean Pooling [→ Normalize] models, else None."""
    modules = json.loads((model_path / "modules.json").read_text(encoding="utf-8"))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return None
    pooling = json.loads((model_path / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modes != {"pooling_mode_mean_tokens"} or not (model_path / TOKENIZER_FILE).is_file():
        return None
    return {"normalize": kinds[-1] == "Normalize"}


def _export_onnx(embedder, path: Path) -> None:
    import torch

    transformer = embedder.model[0].auto_model

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones(1, 8, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenEmbeddings().eval(),
            (ids, ids, torch.zeros_like(ids)),
            str(path),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["token_embeddings"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "token_embeddings": axes},
            dynamo=False,
            opset_version=17,
        )


def article_embedder(settings, threads: int = 0) -> OnnxEmbedder | Embedder:
    """What embeds articles: the ONNX export of the model when this machine has one (no PyTorch
    import: an update's few articles are embedded in well under a second; builds 1.65× faster),
    else PyTorch on `settings.device`."""
    if settings.fast_query_encoder and settings.device == "cpu":
        found = load(settings.cache_dir, settings.model, settings.batch_size, threads)
        if found is not None:
            return found
    if threads:
        import torch

        torch.set_num_threads(threads)
    return Embedder(settings.model, device=settings.device, batch_size=settings.batch_size)
