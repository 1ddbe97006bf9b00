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
from pathlib import Path

from . import data as reader_data
from .bases import base_path
from .batches import encode, make_batches, span_targets, tensors
from .config import TrainConfig
from .distill import Teacher, listwise
from .export import export
from .net import is_checkpoint, reader_net, save_net


def train(cfg: TrainConfig) -> Path:
    import torch
    from tokenizers import Tokenizer
    from tqdm import tqdm
    from transformers import AutoTokenizer

    from ..answering.reader.pairs import PairEncoder

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    if cfg.teacher and not is_checkpoint(Path(cfg.teacher)):
        raise FileNotFoundError(f"--teacher {cfg.teacher}: not a checkpoint folder (a run's OUT/work/checkpoint)")
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
        if cfg.written:
            # In-domain: news questions, with the sentences that only restate them as negatives.
            written = [g for path in cfg.written for g in reader_data.written_groups(Path(path), Path(cfg.data_dir))]
            if cfg.mine_written:
                from .mine import mine_written

                written = mine_written(written, Path(cfg.data_dir), work, cfg.mined_negatives)
            groups += written
            random.Random(cfg.seed).shuffle(groups)
        if cfg.swaps:
            from .swaps import swapped_groups

            # Near-misses of the answerable questions: one name swapped, the answer kept as a negative.
            groups += swapped_groups(groups, cfg.swaps, cfg.seed)
            random.Random(cfg.seed).shuffle(groups)
        reader_data.write_groups(val_file, validation)
        reader_data.write_groups(groups_file, groups)  # last: its presence means both are whole
    groups = reader_data.read_groups(groups_file)
    validation = reader_data.read_groups(val_file)
    if cfg.groups:
        groups = groups[: cfg.groups]
    print(f"{len(groups):,} questions prepared; validation {len(validation):,} questions", flush=True)

    base = base_path(cfg.base)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    encoder = PairEncoder(Tokenizer.from_str(tokenizer.backend_tokenizer.to_str()), cfg.max_length, cfg.max_question)
    ckpt = work / "checkpoint"
    start = _start(cfg.init, work) if cfg.init else base
    model = reader_net(ckpt if is_checkpoint(ckpt) else start)
    batches = make_batches(groups, encoder, cfg)
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
    if state_file.exists() and is_checkpoint(ckpt):
        state = json.loads(state_file.read_text())
        done, elapsed = state["step"], state["seconds"]
        optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
        schedule.load_state_dict(torch.load(ckpt / "schedule.pt", weights_only=True))
        print(f"resuming at step {done:,} of {steps:,}", flush=True)

    teacher = Teacher(Path(cfg.teacher), cfg) if cfg.teacher else None
    model.train()
    bce = torch.nn.BCEWithLogitsLoss()
    span_ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    started = time.monotonic() - elapsed
    bar = tqdm(total=steps, initial=done, desc="training", unit="step", smoothing=0.05, mininterval=10)
    for step in range(done, steps):
        batch = batches[step]
        pairs = encode(encoder, batch)
        t = tensors(pairs)
        labels = torch.tensor([y for g in batch for y in g.labels], dtype=torch.float32)
        # Mixed precision: bfloat16 products, float32 weights and losses (no loss scaling needed).
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            logits, start_logits, end_logits = model(**t)
        logits, start_logits, end_logits = logits.float(), start_logits.float(), end_logits.float()
        if teacher is None:
            loss = bce(logits, labels) + listwise(logits, batch)
        else:
            # Distillation: part of each answer loss aims at the teacher's scores, which say how
            # answer-like a near-miss is where the labels only say 0.
            w = cfg.teacher_weight
            taught = teacher.logits(batch)
            loss = (1 - w) * (bce(logits, labels) + listwise(logits, batch))
            loss = loss + w * (bce(logits, torch.sigmoid(taught)) + listwise(logits, batch, taught))
        starts, ends = span_targets(pairs, batch, cfg.span_null)
        if any(x >= 0 for x in starts):
            # Only the sentence's own pieces may hold the answer (and [CLS], "none", with span_null).
            outside = t["token_type_ids"] == 0
            if cfg.span_null:
                outside[:, 0] = False
            outside |= t["attention_mask"] == 0
            sl = start_logits.masked_fill(outside, -1e4)
            el = end_logits.masked_fill(outside, -1e4)
            st, en = torch.tensor(starts), torch.tensor(ends)
            span_loss = (span_ce(sl, st) + span_ce(el, en)) / 2
            if cfg.span_null and (st > 0).any():
                # Averaged with the short answers' own mean: the many "none"s would drown them.
                answer = st > 0
                span_loss = (span_loss + (span_ce(sl[answer], st[answer]) + span_ce(el[answer], en[answer])) / 2) / 2
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


def _start(init: str, work: Path) -> Path:
    """The checkpoint folder `--init` names: a checkpoint itself, or an exported reader (a folder
    `qa reader train` wrote, or the name of one qa ships), recovered into `work` (recover.py)."""
    from ..answering.reader import PACKAGED
    from ..answering.reader.onnx_reader import MODEL_FILE

    path = PACKAGED / init if (PACKAGED / init / MODEL_FILE).is_file() else Path(init).expanduser()
    if is_checkpoint(path):
        return path
    if (path / MODEL_FILE).is_file():
        from .recover import recover

        target = work / "init-checkpoint"
        if not is_checkpoint(target):
            print(f"recovering a checkpoint from {path} …", flush=True)
            recover(path, target)
        return target
    raise FileNotFoundError(f"--init {init}: neither a checkpoint folder nor an exported reader")


def _checkpoint(model, tokenizer, optimizer, schedule, ckpt: Path, state_file: Path, step: int, seconds: float) -> None:
    """Written beside the old one and renamed over it: a kill mid-write leaves the previous checkpoint.
    With its tokenizer, it is a complete sentence-transformers CrossEncoder folder too (the
    span head rides beside it in its own file)."""
    import torch

    tmp = ckpt.with_name("checkpoint.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_net(model, tokenizer, tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(schedule.state_dict(), tmp / "schedule.pt")
    old = ckpt.with_name("checkpoint.old")
    shutil.rmtree(old, ignore_errors=True)
    if ckpt.exists():
        ckpt.rename(old)
    tmp.rename(ckpt)
    state_file.write_text(json.dumps({"step": step, "seconds": round(seconds, 1)}))
    shutil.rmtree(old, ignore_errors=True)


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
        "--base",
        default=d.base,
        help="the encoder to start from: %(default)s (ships), all-mpnet-base-v2 (a teacher; `make teacher-base`) "
        "or a Hugging Face folder",
    )
    p.add_argument(
        "--teacher",
        default=None,
        metavar="CHECKPOINT",
        help="also learn the scores of this trained checkpoint (a teacher run's OUT/work/checkpoint)",
    )
    p.add_argument(
        "--teacher-weight",
        type=float,
        default=d.teacher_weight,
        help="share of the answer loss taken from the teacher's scores (default: %(default)s)",
    )
    p.add_argument("--name", default=d.name, help="the exported reader's name (default: %(default)s)")
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
        help="SQuAD 2.0 train unanswerable questions used, of 32,286 (default: %(default)s)",
    )
    p.add_argument("--max-length", type=int, default=d.max_length, help="word pieces per pair (default: %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument(
        "--init",
        default=None,
        help="start from this checkpoint folder (a run's OUT/work/checkpoint), or from an exported reader "
        "(OUT/model, or the shipped qa-reader-minilm-l6-v2), its int8 weights recovered",
    )
    p.add_argument(
        "--mined-articles",
        type=int,
        default=d.mined_articles,
        help="stage two: negatives mined with qa's own retrieval over N SQuAD train articles (default: off)",
    )
    p.add_argument(
        "--mined-negatives", type=int, default=d.mined_negatives, help="negatives mined per question (default: 4)"
    )
    p.add_argument(
        "--mine-written",
        action="store_true",
        help="add qa's own candidates over the BBC train split as negatives of the --written questions",
    )
    p.add_argument(
        "--written",
        action="append",
        default=[],
        metavar="FILE",
        help="also train on questions written over train-split BBC articles (e.g. bench/questions/bbc_train_a.json; repeatable)",
    )
    p.add_argument(
        "--span-null",
        action="store_true",
        help="the span head also learns 'no answer' ([CLS]) on the sentences that do not answer",
    )
    p.add_argument(
        "--swaps",
        type=float,
        default=d.swaps,
        metavar="SHARE",
        help="also make a near-miss from this share of the answerable questions by swapping one name or number "
        "for another of the same story's (default: off)",
    )
    p.add_argument(
        "--version",
        default=d.version,
        help="the exported reader's version, in reader.json and the card (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument(
        "--bf16",
        action="store_true",
        help="compute in bfloat16 (float32 weights): about twice as fast on CPUs with AMX or AVX512-BF16, "
        "slower elsewhere",
    )
    p.add_argument("--save-every", type=int, default=d.save_every)
    args = vars(p.parse_args(argv))
    train(TrainConfig(**{**args, "written": tuple(args["written"])}))
