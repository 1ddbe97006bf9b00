"""Bounded load test of a running qa server: N concurrent clients for S seconds, against the
chat (Gradio's queue, `/ask` through gradio_client) and then the JSON API (`POST /api/ask`).

    .venv/bin/python bench/load.py                 # starts `qa serve` on a free port itself
    .venv/bin/python bench/load.py --url http://127.0.0.1:7860/ --targets api
    .venv/bin/python bench/load.py --reader none   # qa's own signals only: the fastest answers

Every client asks questions about the seed article (answerable and not) in a loop until the
time is up; the script reports requests, errors and latency percentiles per target. Traffic
goes to 127.0.0.1 only, and it stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUESTIONS = [
    "What did Russia announce on Mar. 25?",
    "Why might Japan want closer ties with Russia?",
    "What is the only true stumbling block between Japan and Russia?",
    "Which U.S. military base might be relocated?",
    "Who won the 2018 World Cup?",
    "How do I bake sourdough bread?",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server at {url} did not come up in {timeout:.0f} s")


def ask_once(target: str, session, question: str) -> str | None:
    """One question; None if a well-formed answer came back, else what went wrong."""
    if target == "chat":
        answer = session.predict(question, api_name="/ask")
    else:
        response = session.post("/api/ask", json={"question": question})
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:80]}"
        answer = response.json()
    return None if isinstance(answer, dict) and "refused" in answer else f"bad answer: {str(answer)[:80]}"


def run_clients(url: str, target: str, clients: int, seconds: float) -> dict:
    import httpx
    from gradio_client import Client

    from qa.evaluation.runner import percentile

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client_loop(n: int) -> None:
        session = Client(url, verbose=False) if target == "chat" else httpx.Client(base_url=url, timeout=120)
        i = n
        while time.monotonic() < deadline:
            question = QUESTIONS[i % len(QUESTIONS)]
            i += 1
            t0 = time.perf_counter()
            try:
                error = ask_once(target, session, question)
            except Exception as exc:  # every failure counts, none stops the test
                error = f"{type(exc).__name__}: {str(exc)[:80]}"
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)
                if error:
                    errors.append(error)

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:5],
        "answers_per_s": round((len(latencies) - len(errors)) / elapsed, 1),
        "latency_ms_p50": round(percentile(latencies, 50), 1),
        "latency_ms_p95": round(percentile(latencies, 95), 1),
        "latency_ms_max": round(max(latencies, default=0.0), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", help="a running qa server (default: start one on a free port)")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/load.json")
    ap.add_argument("--targets", nargs="*", default=["chat", "api"], choices=["chat", "api"])
    ap.add_argument("--reader", help="the server's --reader (default: its own default, the shipped reader)")
    args = ap.parse_args()
    if args.clients > 64 or args.seconds > 600:
        raise SystemExit("keep the load bounded: at most 64 clients for 600 s")

    server = None
    url = args.url
    if url is None:
        port = _free_port()
        url = f"http://127.0.0.1:{port}/"
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        reader = ["--reader", args.reader] if args.reader else []
        server = subprocess.Popen(
            [sys.executable, "-m", "qa", "serve", "--port", str(port), "--no-watch", *reader],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until_up(url, 180)
    if not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise SystemExit("the load test only targets this machine (127.0.0.1)")

    result = {"clients": args.clients, "reader": args.reader or "default"}
    for target in args.targets:
        result[target] = run_clients(url, target, args.clients, args.seconds)
        print(target, json.dumps(result[target]), flush=True)
    if server is not None:
        server.terminate()
        server.wait(timeout=30)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
