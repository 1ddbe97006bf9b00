"""Training pairs for the reader: (question, sentence, label), grouped by question.

Sources (docs/reader.md has the provenance and licences):
- SQuAD 1.1 train and SQuAD 2.0 dev half B: each paragraph is split into sentences
  the way qa splits articles (`chunking.split_sentences`). The sentence holding the
  answer text is the positive; a question whose answer text sits in several
  sentences is dropped (the offsets given are first occurrences, so the right one is
  unknown), as is one whose answer crosses a sentence boundary.
  Negatives are what qa confuses: the paragraph's sentences sharing the most words
  with the question (the ones that restate it), plus a sentence from another
  paragraph of the same article. An unanswerable SQuAD 2.0 question contributes
  only negatives: the near-miss sentences that look like they answer.
- TREC-QA train and dev: newswire answer-sentence labels, detokenised.
- Optionally (`--written FILE`), questions written over train-split BBC articles
  (`written_groups`): the evidence sentence is the positive, the sentences that restate
  the question's subject without answering it are the negatives.

SQuAD 2.0 dev half A is never read here: it is the evaluation set.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..ingestion.chunking import split_sentences
from ..words import content_words, normalise, stems


@dataclass
class Group:
    """One question with its candidate sentences and their labels (1 answers, 0 does not).

    `answer`: the short answer's text inside the positive (the first sentence of an
    answerable SQuAD group), which teaches the span head; None where the data gives none."""

    question: str
    sentences: list[str]
    labels: list[int]
    origin: str
    answer: str | None = None

    def to_json(self) -> dict:
        return {"q": self.question, "s": self.sentences, "y": self.labels, "o": self.origin, "a": self.answer}

    @classmethod
    def from_json(cls, row: dict) -> Group:
        return cls(row["q"], row["s"], row["y"], row["o"], row.get("a"))

    def copy(self) -> Group:
        """A group with lists of its own: growing the copy leaves this one as it was."""
        return Group(self.question, list(self.sentences), list(self.labels), self.origin, self.answer)


def write_groups(path: Path, groups: list[Group]) -> None:
    """Groups as JSON lines, written beside `path` and renamed over it: a crash leaves no half file."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for g in groups:
            fh.write(json.dumps(g.to_json(), ensure_ascii=False) + "\n")
    tmp.rename(path)


def read_groups(path: Path) -> list[Group]:
    with open(path, encoding="utf-8") as fh:
        return [Group.from_json(json.loads(line)) for line in fh]


def _stem_set(text: str) -> set[str]:
    return set(stems([normalise(w) for w in content_words(text)]))


def squad_articles(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))["data"]


UNANSWERABLE_FILE = "squad2-train-unanswerable/squad2_train_unanswerable.squad.json"


def merge_unanswerable(articles: list[dict], path: Path) -> int:
    """Add SQuAD 2.0 train's unanswerable questions to the SQuAD 1.1 paragraphs they were
    written against (their paragraphs are byte-identical ones: matched by title and text),
    so each paragraph carries both kinds, as in SQuAD 2.0 train. Returns how many joined."""
    by_text = {(a["title"], p["context"]): p for a in articles for p in a["paragraphs"]}
    joined = 0
    for article in squad_articles(path):
        for p in article["paragraphs"]:
            target = by_text.get((article["title"], p["context"]))
            if target is None:
                continue
            target["qas"] = target["qas"] + [dict(q, is_impossible=True) for q in p["qas"]]
            joined += len(p["qas"])
    return joined


def squad_groups(
    articles: list[dict],
    rng: random.Random,
    origin: str,
    hard: int = 2,
    far: float = 0.3,
) -> Iterator[Group]:
    """Groups from SQuAD articles (answerable and unanswerable questions alike).

    Negatives are what qa itself confuses with an answer: the `hard` sentences of the
    paragraph that share most words with the question (the ones that restate it), and
    with probability `far` the sentence of another paragraph of the same article that
    shares most (qa reads eight passages, mostly of one article). An unanswerable
    question's first negative is the sentence holding its plausible answer when the data
    names one: the near-miss its writer aimed at."""
    for article in articles:
        paragraphs = []
        for p in article["paragraphs"]:
            text = p["context"]
            paragraphs.append([text[s.start : s.end] for s in split_sentences(text)])
        article_stems = [[_stem_set(s) for s in ss] for ss in paragraphs]
        for pi, p in enumerate(article["paragraphs"]):
            sents = paragraphs[pi]
            stem_sets = article_stems[pi]
            for qa in p["qas"]:
                question = qa["question"].strip()
                impossible = bool(qa.get("is_impossible"))
                if not question:
                    continue
                # One draw per question, unused: the shipped reader's groups were drawn with it
                # in the stream, and `make reader` reproduces them only if it stays.
                rng.random()
                positive, answer = None, None
                if not impossible:
                    texts = [a["text"] for a in qa["answers"]]
                    positive = _answer_sentence(sents, texts)
                    if positive is None:
                        continue
                    answer = next((t.strip() for t in texts if t.strip() and t.strip() in sents[positive]), None)
                q_stems = _stem_set(question)
                first = []
                if impossible:
                    plausible = [a["text"] for a in qa.get("plausible_answers", [])]
                    near = _answer_sentence(sents, plausible) if plausible else None
                    first = [near] if near is not None else []
                ranked = sorted(
                    (i for i in range(len(sents)) if i != positive and i not in first),
                    key=lambda i: (-len(q_stems & stem_sets[i]), rng.random()),
                )
                picked = (first + ranked)[: hard + (1 if impossible else 0)]
                negatives = [sents[i] for i in picked]
                if rng.random() < far and len(paragraphs) > 1:
                    best = max(
                        ((pj, i) for pj, ss in enumerate(article_stems) if pj != pi for i in range(len(ss))),
                        key=lambda x: (len(q_stems & article_stems[x[0]][x[1]]), rng.random()),
                    )
                    negatives.append(paragraphs[best[0]][best[1]])
                if not negatives:
                    continue
                if positive is None:
                    yield Group(question, negatives, [0] * len(negatives), origin)
                else:
                    yield Group(question, [sents[positive], *negatives], [1] + [0] * len(negatives), origin, answer)


def _answer_sentence(sentences: list[str], answers: list[str]) -> int | None:
    """The one sentence that holds the answer, or None when none or several might."""
    for answer in answers:
        answer = answer.strip()
        if not answer:
            continue
        holding = [i for i, s in enumerate(sentences) if answer in s]
        if len(holding) == 1:
            return holding[0]
        if len(holding) > 1:
            # Several: keep the question only if its other gold answers single one out.
            both = [i for i in holding if all(a.strip() in sentences[i] for a in answers)]
            return both[0] if len(both) == 1 else None
    return None


_PTB = [
    (re.compile(r"-LRB-"), "("),
    (re.compile(r"-RRB-"), ")"),
    (re.compile(r"-LSB-"), "["),
    (re.compile(r"-RSB-"), "]"),
    (re.compile(r"-LCB-"), "{"),
    (re.compile(r"-RCB-"), "}"),
    (re.compile(r"``\s*"), '"'),
    (re.compile(r"\s*''"), '"'),
    (re.compile(r"\s+([.,;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$])\s+"), r"\1"),
    (re.compile(r"\s+(n't|'s|'re|'ve|'ll|'d|'m)\b", re.I), r"\1"),
]


def detokenise(text: str) -> str:
    """Penn-Treebank tokens back to ordinary text: qa reads articles as written."""
    for pattern, repl in _PTB:
        text = pattern.sub(repl, text)
    text = text.strip()
    return text[:1].upper() + text[1:]


def trec_groups(folder: Path, splits: tuple[str, ...] = ("train", "dev")) -> Iterator[Group]:
    for split in splits:
        by_question: dict[str, Group] = {}
        with open(Path(folder) / f"{split}.csv", encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                q = detokenise(row["qtext"])
                g = by_question.setdefault(q, Group(q, [], [], f"trecqa-{split}"))
                g.sentences.append(detokenise(row["atext"]))
                g.labels.append(int(row["label"]))
        for g in by_question.values():
            if sum(g.labels) == 0:  # a TREC question with no answer in its pool is still a lesson in refusing
                yield Group(g.question, g.sentences[:4], g.labels[:4], g.origin)
                continue
            # Keep every positive and at most three negatives per positive: the pools are long.
            pos = [s for s, y in zip(g.sentences, g.labels, strict=True) if y]
            neg = [s for s, y in zip(g.sentences, g.labels, strict=True) if not y]
            for i, p in enumerate(pos):
                yield Group(g.question, [p, *neg[3 * i : 3 * i + 3]], [1] + [0] * len(neg[3 * i : 3 * i + 3]), g.origin)


def build(
    data_dir: Path,
    squad_questions: int | None,
    seed: int = 0,
    validation_articles: int = 2,
    unanswerable_questions: int | None = None,
) -> tuple[list[Group], list[Group]]:
    """(training groups, validation groups).

    Training: SQuAD 1.1 train with SQuAD 2.0 train's unanswerable questions merged into
    their paragraphs (`squad_questions` answerable and `unanswerable_questions` of the
    others, drawn with the seed; None: all), SQuAD 2.0 dev half B but its last
    `validation_articles` articles, TREC-QA train and dev. Validation: those last articles
    (answerable and not), kept out of training, and TREC-QA test."""
    rng = random.Random(seed)
    data_dir = Path(data_dir)
    articles = squad_articles(data_dir / "squad1.1-train.json")
    if (data_dir / UNANSWERABLE_FILE).is_file():
        merge_unanswerable(articles, data_dir / UNANSWERABLE_FILE)
    squad = list(squad_groups(articles, rng, "squad1.1-train"))
    rng.shuffle(squad)
    answerable = [g for g in squad if any(g.labels)]
    unanswerable = [g for g in squad if not any(g.labels)]
    for g in unanswerable:
        g.origin = "squad2-train-unanswerable"
    train = answerable[:squad_questions] if squad_questions is not None else answerable
    train += unanswerable[:unanswerable_questions] if unanswerable_questions is not None else unanswerable
    dev_b = squad_articles(data_dir / "squad2-dev-b.json")
    cut = len(dev_b) - validation_articles
    train += list(squad_groups(dev_b[:cut], rng, "squad2-dev-b"))
    validation = list(squad_groups(dev_b[cut:], rng, "squad2-dev-b-held"))
    train += list(trec_groups(data_dir / "trecqa"))
    validation += list(trec_groups(data_dir / "trecqa", ("test",)))
    rng.shuffle(train)
    return train, validation


SPLIT_FILE = "bbc-splits/train.txt"


def written_groups(path: Path, data_dir: Path, hard: int = 3) -> list[Group]:
    """Groups from a file of questions written over BBC articles (bench/questions/bbc_train_*.json):
    each answerable question's `evidence` sentence is its positive and `answer` its short answer;
    the negatives, for answerable and unanswerable alike, are its `restating` sentences (those
    that name the subject without answering) and then the article's sentences sharing most
    words with the question, up to `hard` in all. Only articles of the BBC train split may be
    learned from: a question about any other article is an error, named."""
    data_dir = Path(data_dir)
    allowed = set((data_dir / SPLIT_FILE).read_text(encoding="utf-8").split())
    questions = json.loads(Path(path).read_text(encoding="utf-8"))["questions"]
    outside = sorted({q["source"] for q in questions if q["source"] not in allowed})
    if outside:
        raise ValueError(f"{path}: questions about articles outside {SPLIT_FILE}: {', '.join(outside[:5])}")
    groups = []
    for q in questions:
        text = (data_dir / "bbc" / q["source"]).read_text(encoding="utf-8")
        sentences = [text[s.start : s.end] for s in split_sentences(text)]
        evidence = q.get("evidence") if q["answerable"] else None
        q_stems = _stem_set(q["question"])
        negatives = [r for r in q.get("restating") or [] if r != evidence]
        ranked = sorted(
            (
                s
                for s in sentences
                if s not in negatives and (evidence is None or (s not in evidence and evidence not in s))
            ),
            key=lambda s: -len(q_stems & _stem_set(s)),
        )
        negatives = list(dict.fromkeys(negatives + ranked))[:hard]
        if evidence:
            groups.append(
                Group(q["question"], [evidence, *negatives], [1] + [0] * len(negatives), "bbc-written", q.get("answer"))
            )
        elif negatives:
            groups.append(Group(q["question"], negatives, [0] * len(negatives), "bbc-written"))
    return groups
