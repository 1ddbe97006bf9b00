"""qa's MCP server, driven by the official `mcp` SDK's own client: over stdio (`qa mcp`, a real
subprocess) and over streamable HTTP at /mcp on a really launched, guarded `qa serve`."""

from __future__ import annotations

import asyncio
import os
import sys

import httpx
import httpx2
import pytest
from conftest import SEED_SOURCE, copy_seed, start_chat
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from qa.indexing.indexer import Indexer
from qa.serving.auth import Credentials

pytestmark = pytest.mark.slow

QUESTION = "What did Russia announce on Mar. 25?"
TOKEN = "test-token-mcp-0123456789"
LIGHTHOUSE = (
    "Skerry Rock light automated\n\nThe lighthouse on Skerry Rock was automated in March. Its last keeper retired.\n"
)


async def _exercise(client: Client, article: str) -> None:
    """What an agent does: list the tools, ask, check the quote against the article."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"ask", "search", "list_articles", "read_article"}
    assert "verbatim" in tools["ask"].description or "checked" in tools["ask"].description
    assert all(t.output_schema for t in tools.values())  # typed, structured output

    asked = (await client.call_tool("ask", {"question": QUESTION})).structured_content
    assert asked["refused"] is False and asked["citations"]
    for c in asked["citations"]:
        assert c["source"] == SEED_SOURCE and article[c["start"] : c["end"]] == c["quote"]
        read = await client.call_tool("read_article", {"source": c["source"], "start": c["start"], "end": c["end"]})
        assert read.structured_content["text"] == c["quote"]
    assert "Russia announced on Mar. 25" in asked["citations"][0]["quote"]

    follow = await client.call_tool(
        "ask",
        {"question": "Where will it deploy them?", "conversation": [{"question": QUESTION, "answer": asked["answer"]}]},
    )
    assert "Kuril" in follow.structured_content["answer"]
    refused = (await client.call_tool("ask", {"question": "Who won the 2018 World Cup?"})).structured_content
    assert refused["refused"] is True and refused["citations"] == []

    passages = (await client.call_tool("search", {"query": QUESTION, "k": 2})).structured_content["passages"]
    assert len(passages) == 2 and all(article[p["start"] : p["end"]] == p["text"] for p in passages)
    articles = (await client.call_tool("list_articles", {})).structured_content["articles"]
    assert articles == [{"source": SEED_SOURCE, "title": articles[0]["title"], "characters": len(article)}]
    missing = await client.call_tool("read_article", {"source": "nowhere.txt"})
    assert missing.is_error and "no article 'nowhere.txt'" in missing.content[0].text
    empty = await client.call_tool("ask", {"question": "   "})
    assert empty.is_error and "empty" in empty.content[0].text


def test_qa_mcp_over_stdio_with_the_sdk_client(tmp_path, settings, embedder):
    from qa.indexing.indexer import Indexer

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    copy_seed(corpus)
    Indexer(settings, embedder).build(corpus, index, progress=False)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    params = StdioServerParameters(command=sys.executable, args=["-m", "qa", "mcp", "--index", str(index)], env=env)

    async def run():
        async with Client(params) as client:
            await _exercise(client, (corpus / SEED_SOURCE).read_text(encoding="utf-8"))

    asyncio.run(run())


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {TOKEN}"}


def test_mcp_over_streamable_http_on_qa_serve_behind_its_credentials(tmp_path, settings, embedder):
    # Served beyond this machine (0.0.0.0, as credentials allow): /mcp answers to the name a
    # client reaches it by, as /api does, not only to a loopback Host header.
    chat = start_chat(
        tmp_path, settings, embedder, watch=False, credentials=Credentials.from_options(TOKEN, None), host="0.0.0.0"
    )
    try:
        assert httpx.post(chat["url"] + "mcp/", json={}, timeout=30).status_code == 401  # no token, no tools
        port = chat["url"].rstrip("/").rsplit(":", 1)[1]
        remote = {**MCP_HEADERS, "Host": f"qa.example.org:{port}"}
        r = httpx.post(chat["url"] + "mcp/", json=INITIALIZE, headers=remote, timeout=30)
        assert r.status_code == 200 and r.json()["result"]["serverInfo"]["name"] == "qa"
        assert httpx.get(chat["url"] + "api/health", headers=remote, timeout=30).status_code == 200

        async def run():
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=60) as http,
                Client(streamable_http_client(chat["url"] + "mcp", http_client=http)) as client,
            ):
                await _exercise(client, (chat["corpus"] / SEED_SOURCE).read_text(encoding="utf-8"))
                # Another process indexes a new article: the next listing and read follow it,
                # with no question asked in between.
                (chat["corpus"] / "lighthouse.txt").write_text(LIGHTHOUSE, encoding="utf-8")
                Indexer(settings, embedder).build(chat["corpus"], tmp_path / "index", progress=False)
                listed = (await client.call_tool("list_articles", {})).structured_content["articles"]
                assert sorted(a["source"] for a in listed) == [SEED_SOURCE, "lighthouse.txt"]
                read = (await client.call_tool("read_article", {"source": "lighthouse.txt"})).structured_content
                assert read["text"] == LIGHTHOUSE

        asyncio.run(run())
    finally:
        chat["demo"].close()


def test_mcp_on_a_loopback_server_refuses_a_foreign_host_header(tmp_path, settings, embedder):
    # On 127.0.0.1 without credentials, a web page that rebinds its own name to this machine
    # must not reach the tools: the SDK's DNS-rebinding guard stays on.
    chat = start_chat(tmp_path, settings, embedder, watch=False)
    try:
        port = chat["url"].rstrip("/").rsplit(":", 1)[1]
        r = httpx.post(chat["url"] + "mcp/", json=INITIALIZE, headers={**MCP_HEADERS, "Host": f"evil.example:{port}"})
        assert r.status_code == 421
        r = httpx.post(chat["url"] + "mcp/", json=INITIALIZE, headers=MCP_HEADERS, timeout=30)
        assert r.status_code == 200 and r.json()["result"]["serverInfo"]["name"] == "qa"
    finally:
        chat["demo"].close()
