"""The JSON API and authentication, on really launched servers: answers, errors, SSE, uploads,
tokens and passwords, read-only mode, the refusal to serve beyond this machine unguarded,
and the sign-in page in a real headless Chromium."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import time

import httpx
import pytest
from conftest import ROOT, SEED_SOURCE, start_chat
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from qa.serving.auth import MAX_FAILURES, AuthConfigError, Credentials, hash_password, read_auth_file

pytestmark = pytest.mark.slow

TOKEN = "test-token-0123456789abcdef"
QUESTION = "What did Russia announce on Mar. 25?"


@pytest.fixture(scope="module")
def open_server(tmp_path_factory, settings, embedder):
    chat = start_chat(tmp_path_factory.mktemp("api-open"), settings, embedder, watch=False)
    yield chat
    chat["demo"].close()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, settings, embedder):
    users = tmp_path_factory.mktemp("auth") / "users"
    users.write_text(f"# qa users\nada:{hash_password('correct horse')}\n", encoding="utf-8")
    credentials = Credentials.from_options(TOKEN, users)
    chat = start_chat(tmp_path_factory.mktemp("api-guarded"), settings, embedder, watch=False, credentials=credentials)
    yield chat
    chat["demo"].close()


def _api(chat, path: str, **kwargs) -> httpx.Response:
    method = kwargs.pop("method", "POST" if "json" in kwargs or "files" in kwargs else "GET")
    return httpx.request(method, chat["url"].rstrip("/") + path, timeout=60, **kwargs)


def test_ask_answers_with_the_verbatim_quote_of_qa_ask_json(open_server):
    r = _api(open_server, "/api/ask", json={"question": QUESTION})
    assert r.status_code == 200
    answer = r.json()
    c = answer["citations"][0]
    text = (open_server["corpus"] / SEED_SOURCE).read_text(encoding="utf-8")
    assert not answer["refused"] and c["source"] == SEED_SOURCE and text[c["start"] : c["end"]] == c["quote"]
    assert "Russia announced on Mar. 25" in c["quote"]
    expected = open_server["qa"].ask(QUESTION).to_dict()
    assert {k: v for k, v in answer.items() if k != "timings"} == {k: v for k, v in expected.items() if k != "timings"}


def test_the_short_answer_comes_through_the_api_verbatim_inside_its_quote(open_server):
    answer = _api(
        open_server, "/api/ask", json={"question": "When did Russia announce the deployment on the Kuril Islands?"}
    ).json()
    short, first = answer["short_answer"], answer["citations"][0]
    text = (open_server["corpus"] / SEED_SOURCE).read_text(encoding="utf-8")
    assert short["text"] == "Mar. 25" and text[short["start"] : short["end"]] == short["text"]
    assert first["start"] <= short["start"] < short["end"] <= first["end"] and short["n"] == first["n"]


def test_search_info_health_and_docs(open_server):
    passages = _api(open_server, "/api/search", json={"question": QUESTION, "k": 3}).json()["passages"]
    assert len(passages) == 3 and passages[0]["source"] == SEED_SOURCE
    info = _api(open_server, "/api/info").json()
    assert info["documents"] == 1 and info["version"].startswith("v")
    assert _api(open_server, "/api/health").json()["status"] == "ok"
    spec = _api(open_server, "/api/openapi.json").json()
    assert {"/api/ask", "/api/search", "/api/articles", "/api/info", "/api/health"} <= set(spec["paths"])
    assert "swagger" in _api(open_server, "/api/docs").text.lower()


@pytest.mark.parametrize(
    "body, message",
    [
        ({"question": "   "}, "empty"),
        ({"question": "x" * 5000}, "too long"),
        ({"k": 3}, "question"),
        ({"question": QUESTION, "k": 0}, "k"),
        ({"question": QUESTION, "mode": "poetry"}, "mode"),
        ({"question": QUESTION, "mode": "generative"}, "need a language model"),
    ],
)
def test_bad_questions_get_400_json_never_a_traceback(open_server, body, message):
    r = _api(open_server, "/api/ask", json=body)
    assert r.status_code == 400 and message in r.json()["error"] and "Traceback" not in r.text


def test_upload_duplicate_oversize_traversal_and_delete(open_server, settings):
    article = b"Lighthouse keepers\n\nThe last keeper of Skerryvore retired in 1998 after 31 years.\n"
    r = _api(open_server, "/api/articles", files={"file": ("keeper.txt", article, "text/plain")})
    assert r.status_code == 201 and r.json()["source"] == "keeper.txt" and r.json()["index"]["added"] == ["keeper.txt"]
    answer = _api(open_server, "/api/ask", json={"question": "When did the last keeper of Skerryvore retire?"}).json()
    assert answer["citations"][0]["source"] == "keeper.txt"
    again = _api(open_server, "/api/articles", files={"file": ("copy.txt", article, "text/plain")})
    assert again.status_code == 409 and "already in the corpus" in again.json()["error"]
    big = b"x" * (settings.max_file_bytes + 1)
    assert _api(open_server, "/api/articles", files={"file": ("big.txt", big, "text/plain")}).status_code == 413
    sneaky = _api(open_server, "/api/articles", files={"file": ("../../evil.txt", b"Evil\n\nText here.\n")})
    assert sneaky.status_code == 201 and sneaky.json()["source"] == "evil.txt"  # the name is made safe
    assert (open_server["corpus"] / "evil.txt").exists() and not (open_server["corpus"].parent / "evil.txt").exists()
    # A name no article can have is no such article (404), as the OpenAPI schema says.
    for name, status in [("..%2F..%2Fetc%2Fpasswd", 404), ("nothing.txt", 404), (".hidden.txt", 404)]:
        assert _api(open_server, f"/api/articles/{name}", method="DELETE").status_code == status, name
    for name in ("keeper.txt", "evil.txt"):
        r = _api(open_server, f"/api/articles/{name}", method="DELETE")
        assert r.status_code == 200 and r.json()["index"]["removed"] == [name]
    assert _api(open_server, "/api/info").json()["documents"] == 1


def test_guarded_server_wants_credentials_on_every_route(guarded):
    for path in ("/api/health", "/api/info"):
        assert _api(guarded, path).status_code == 401
        assert _api(guarded, path, headers={"Authorization": "Bearer wrong-token-000000000"}).status_code == 401
        assert _api(guarded, path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert _api(guarded, "/api/ask", json={"question": QUESTION}).status_code == 401
    basic = base64.b64encode(b"ada:correct horse").decode()
    assert _api(guarded, "/api/ask", json={"question": QUESTION}, headers={"Authorization": f"Basic {basic}"}).json()[
        "citations"
    ]
    # The chat: its config, its queue and its upload endpoint all refuse without a session.
    assert _api(guarded, "/config").status_code == 401
    assert _api(guarded, "/gradio_api/queue/join", json={"data": [QUESTION], "fn_index": 0}).status_code == 401
    assert _api(guarded, "/gradio_api/upload", files={"files": ("a.txt", b"Title\n\nText.\n")}).status_code == 401
    assert _api(guarded, "/gradio_api/info").status_code == 401
    with httpx.Client(base_url=guarded["url"], timeout=60) as browser:
        assert browser.post("/login", data={"username": "anyone", "password": "nope"}).status_code == 400
        assert browser.post("/login", data={"username": "anyone", "password": TOKEN}).status_code == 200
        assert browser.get("/config").status_code == 200


def test_many_right_requests_at_once_are_all_let_in(guarded):
    # Checks under way are not failures: a client's parallel requests queue for their turn
    # (each Basic check is a ~50 ms scrypt) instead of being refused as a brute force.
    from concurrent.futures import ThreadPoolExecutor

    basic = {"Authorization": "Basic " + base64.b64encode(b"ada:correct horse").decode()}
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with ThreadPoolExecutor(20) as pool:
        codes = list(
            pool.map(lambda i: _api(guarded, "/api/health", headers=(basic, bearer)[i % 2]).status_code, range(40))
        )
    assert codes == [200] * 40


def test_failures_are_forgotten_once_their_window_has_passed(monkeypatch):
    from qa.serving import auth

    credentials = Credentials.from_options(TOKEN, None)
    for i in range(1000):  # addresses that fail once and never come back
        assert credentials.attempt(f"10.0.{i // 250}.{i % 250}") is True
        credentials.settle(f"10.0.{i // 250}.{i % 250}", ok=False)
    assert len(credentials._failures) == 1000 and not credentials._pending
    monkeypatch.setattr(auth, "FAILURE_WINDOW_S", 0.01)  # a minute, shortened
    time.sleep(0.05)
    assert credentials.attempt("10.9.9.9") is True
    assert len(credentials._failures) == 0


def test_failed_sign_ins_are_rate_limited_and_the_token_never_logged(tmp_path, settings, embedder, caplog):
    credentials = Credentials.from_options(TOKEN, None)
    assert TOKEN not in repr(credentials) and TOKEN not in repr(credentials.login)
    with caplog.at_level(logging.DEBUG):
        chat = start_chat(tmp_path, settings, embedder, watch=False, credentials=credentials)
        try:
            from concurrent.futures import ThreadPoolExecutor

            def wrong(_):  # many at once: counted before they are checked, so none slips through
                return _api(chat, "/api/info", headers={"Authorization": "Bearer nope"}).status_code

            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(wrong, range(MAX_FAILURES + 6)))
            assert codes.count(401) == MAX_FAILURES and codes.count(429) == 6
            r = _api(chat, "/api/info", headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 429 and "too many failed" in r.json()["error"]
            assert _api(chat, "/login", data={"username": "a", "password": TOKEN}).status_code == 429
        finally:
            chat["demo"].close()
    assert TOKEN not in caplog.text


def _headers_only(chat, path: str, length: int) -> tuple[int, str]:
    """POST only the headers of a `length`-byte body, then read the reply: a server that waits
    for the whole body before refusing it never answers in time."""
    import socket

    host, port = chat["url"].rstrip("/").removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        sock.sendall(head.encode())
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < _length(reply):
            got = sock.recv(65536)
            if not got:
                break
            reply += got
    text = reply.decode(errors="replace")
    return int(text.split(" ", 2)[1]), text.split("\r\n\r\n", 1)[-1]


def _length(reply: bytes) -> int:
    for line in reply.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def test_bodies_over_the_limit_are_refused_before_they_are_read(open_server):
    status, body = _headers_only(open_server, "/api/articles", 10**9)
    assert status == 413 and "over the 20 MB limit" in body
    status, body = _headers_only(open_server, "/api/ask", 5 * 2**20)
    assert status == 413 and "the request body is over the 1 MB limit" in body


def test_odd_but_well_formed_requests_get_the_right_status(open_server):
    # A lone surrogate is valid JSON: searched for without it, and echoed without it (not a 500).
    body = json.dumps({"question": "Russia \ud800 missile?", "k": 1})  # ASCII, the surrogate escaped
    r = _api(open_server, "/api/search", content=body, headers={"Content-Type": "application/json"}, method="POST")
    assert r.status_code == 200 and r.json()["question"] == "Russia missile?"
    # Only a duplicate is a conflict, whatever the file is called.
    r = _api(open_server, "/api/articles", files={"file": ("already.exe", b"MZ\x90", "application/octet-stream")})
    assert r.status_code == 400 and "only .txt" in r.json()["error"]
    r = _api(open_server, "/api/articles", files={"file": ("already-read.txt", b"   ", "text/plain")})
    assert r.status_code == 400 and "empty" in r.json()["error"]
    for k in (True, "5", 2.5):  # not a number of passages, though Python would make one of it
        r = _api(open_server, "/api/ask", json={"question": QUESTION, "k": k})
        assert r.status_code == 400 and r.json()["error"].startswith("bad request: k:"), (k, r.text)


def test_read_only_refuses_changes_but_answers(tmp_path, settings, embedder):
    chat = start_chat(tmp_path, settings, embedder, watch=False, read_only=True)
    try:
        r = _api(chat, "/api/articles", files={"file": ("a.txt", b"Title\n\nSome text.\n", "text/plain")})
        assert r.status_code == 403 and "read-only" in r.json()["error"]
        assert _api(chat, f"/api/articles/{SEED_SOURCE}", method="DELETE").status_code == 403
        status, body = _headers_only(chat, "/api/articles", 10**8)  # refused before a byte of it is read
        assert status == 403 and "read-only" in body
        assert (chat["corpus"] / SEED_SOURCE).exists()
        assert not _api(chat, "/api/ask", json={"question": QUESTION}).json()["refused"]
        config = _api(chat, "/config").json()
        assert "upload" not in {d.get("api_name") for d in config["dependencies"]}  # nothing to call, even by hand
    finally:
        chat["demo"].close()


def test_streaming_sends_pieces_then_the_answer(tmp_path, settings, embedder):
    said = "Russia announced on Mar. 25 that it planned to deploy missile defense systems"
    llm = FakeListChatModel(responses=[f'Russia said "{said}" [1].'], sleep=0.01)
    chat = start_chat(tmp_path, settings, embedder, llm=llm, watch=False)
    try:
        with httpx.stream("POST", chat["url"] + "api/ask?stream=true", json={"question": QUESTION}, timeout=120) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            events = [block for block in r.read().decode().split("\n\n") if block]
        kinds = [e.split("\n")[0].removeprefix("event: ") for e in events]
        assert kinds[-1] == "answer" and kinds.count("piece") > 1 and kinds.index("piece") < kinds.index("answer")
        answer = json.loads(events[-1].split("data: ", 1)[1])
        assert answer["mode"] == "generative" and answer["citations"][0]["quote"] == said
    finally:
        chat["demo"].close()


def test_serving_beyond_this_machine_without_a_credential_is_refused(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for extra in (["--host", "0.0.0.0"], ["--share"]):
        run = subprocess.run(
            [sys.executable, "-m", "qa", "serve", "--index", str(tmp_path / "i"), "--corpus", str(tmp_path), *extra],
            capture_output=True, text=True, cwd=ROOT, timeout=120, env=env,
        )  # fmt: skip
        assert run.returncode == 1 and "without a credential" in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "i").exists()


def test_auth_file_needs_hashes_and_tokens_a_sensible_length(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("ada:correct horse\n", encoding="utf-8")
    with pytest.raises(AuthConfigError, match=r"line 1.*never stored in plain text"):
        read_auth_file(plain)
    with pytest.raises(AuthConfigError, match="too short"):
        Credentials.from_options("short", None)
    run = subprocess.run(
        [sys.executable, "-m", "qa", "hash-password", "ada"], input="correct horse\n",
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    (tmp_path / "users").write_text(run.stdout, encoding="utf-8")
    users = read_auth_file(tmp_path / "users")
    assert "correct horse" not in run.stdout and Credentials(users=users).login("ada", "correct horse")
    assert not Credentials(users=users).login("ada", "wrong horse")


@pytest.mark.browser
def test_the_sign_in_page_in_a_real_browser(guarded, tmp_path):
    from playwright.sync_api import sync_playwright
    from test_ui import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(guarded["url"], wait_until="load")
            page.get_by_label("username").wait_for(timeout=30_000)
            for password in ("wrong horse", "correct horse"):  # a failed attempt clears the form
                page.get_by_label("username").fill("ada")
                page.get_by_label("password").fill(password)
                page.get_by_role("button", name="Login").click()
                if password == "wrong horse":
                    page.get_by_text("Incorrect", exact=False).first.wait_for(timeout=15_000)
            box = page.locator("#qa-question textarea")
            box.wait_for(timeout=30_000)
            box.fill(QUESTION)
            box.press("Enter")
            page.locator("#qa-sources mark").first.wait_for(timeout=30_000)
            assert "Kuril Islands" in page.locator("#qa-sources mark").first.inner_text()
        finally:
            browser.close()


def test_two_read_only_replicas_follow_one_writer(tmp_path, settings, embedder):
    """Two servers answer from one index while one writer (here an Indexer, as `qa index --watch`
    would) publishes a new version: each follows it at its next question."""
    from qa.indexing.indexer import Indexer

    replicas = [start_chat(tmp_path, settings, embedder, watch=False, read_only=True) for _ in range(2)]
    try:
        question = {"question": "When did the last keeper of Skerryvore retire?"}
        assert all(_api(r, "/api/ask", json=question).json()["refused"] for r in replicas)
        (tmp_path / "corpus" / "keeper.txt").write_text(
            "Lighthouse keepers\n\nThe last keeper of Skerryvore retired in 1998 after 31 years.\n", encoding="utf-8"
        )
        report = Indexer(settings, embedder).build(tmp_path / "corpus", tmp_path / "index", progress=False)
        assert report.added == ["keeper.txt"]
        for replica in replicas:
            answer = _api(replica, "/api/ask", json=question).json()
            assert not answer["refused"] and answer["citations"][0]["source"] == "keeper.txt"
            assert _api(replica, "/api/health").json()["version"] == report.version
    finally:
        for replica in replicas:
            replica["demo"].close()


def test_while_the_first_index_is_built_the_port_answers_503(tmp_path):
    """`qa serve` over a corpus with no index yet: the port answers at once (503 with a reason,
    Retry-After) instead of refusing connections, then the chat and the API take it over."""
    import os
    import socket
    import time

    from conftest import DATA, copy_seed

    corpus = tmp_path / "corpus"
    copy_seed(corpus)
    texts = [p.read_bytes().decode("latin-1") for p in sorted((DATA / "bbc").rglob("*.txt"))]
    for i in range(120):  # each a distinct article: a build of some seconds
        (corpus / f"a{i:03d}.txt").write_text(f"Article {i}\n\n{texts[i % len(texts)]}\n\nEdition {i}.\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "qa", "serve", "--corpus", str(corpus), "--index", str(tmp_path / "index"),
         "--port", str(port), "--no-watch"],
        cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    seen = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            seen.append((r.status_code, r.json(), r.headers.get("retry-after")))
            if r.status_code == 200:
                break
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert seen and seen[-1][0] == 200 and seen[-1][1]["documents"] == 121
    building = [s for s in seen if s[0] == 503]
    assert building, f"never answered 503 while building: {seen[:3]}"
    assert "being built" in building[0][1]["error"] and building[0][2] == "10"


def test_behind_a_trusted_proxy_failures_count_per_client(tmp_path, settings, embedder):
    """Behind a reverse proxy every request comes from the proxy: with --trusted-proxy, one
    client's failed attempts lock out that client only; without it, the header is ignored."""
    credentials = Credentials.from_options(TOKEN, None, ["127.0.0.1"])
    chat = start_chat(tmp_path, settings, embedder, watch=False, credentials=credentials)
    try:
        attacker = {"Authorization": "Bearer nope", "X-Forwarded-For": "198.51.100.1, 203.0.113.5"}
        for _ in range(MAX_FAILURES):
            assert _api(chat, "/api/info", headers=attacker).status_code == 401
        assert _api(chat, "/api/info", headers={**attacker, "Authorization": f"Bearer {TOKEN}"}).status_code == 429
        user = {"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": "203.0.113.9"}
        assert _api(chat, "/api/info", headers=user).status_code == 200  # another client: not locked out
    finally:
        chat["demo"].close()
    assert Credentials.from_options(TOKEN, None).client_of("127.0.0.1", "203.0.113.9") == "127.0.0.1"
