"""Bounded load test of the running chat server: N concurrent clients for S seconds.

    .venv/bin/python bench/load.py                 # starts `qa serve` on a free port itself
    .venv/bin/python bench/load.py --url http://127.0.0.1:7860/

Every client asks questions about the seed article (answerable and not) through the
server's `/ask` endpoint in a loop until the time is up; the script reports requests,
errors and latency percentiles. Traffic goes to 127.0.0.1 only, and it stops by itself.
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", help="a running qa server (default: start one on a free port)")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/load.json")
    args = ap.parse_args()
    if args.clients > 64 or args.seconds > 600:
        raise SystemExit("keep the load bounded: at most 64 clients for 600 s")

    server = None
    url = args.url
    if url is None:
        port = _free_port()
        url = f"http://127.0.0.1:{port}/"
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        server = subprocess.Popen(
            [sys.executable, "-m", "qa", "serve", "--port", str(port), "--no-watch"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until_up(url, 180)
    if not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise SystemExit("the load test only targets this machine (127.0.0.1)")

    from gradio_client import Client

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds

    def client_loop(n: int) -> None:
        client = Client(url, verbose=False)
        i = n
        while time.monotonic() < deadline:
            question = QUESTIONS[i % len(QUESTIONS)]
            i += 1
            t0 = time.perf_counter()
            try:
                answer = client.predict(question, api_name="/ask")
                ok = isinstance(answer, dict) and "refused" in answer
                error = None if ok else f"bad answer: {str(answer)[:80]}"
            except Exception as exc:  # every failure counts, none stops the test
                error = f"{type(exc).__name__}: {str(exc)[:80]}"
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)
                if error:
                    errors.append(error)

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(args.clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if server is not None:
        server.terminate()
        server.wait(timeout=30)

    from qa.evaluation import percentile

    result = {
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:5],
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms_p50": round(percentile(latencies, 50), 1),
        "latency_ms_p95": round(percentile(latencies, 95), 1),
        "latency_ms_max": round(max(latencies, default=0.0), 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
