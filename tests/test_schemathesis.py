"""Schemathesis (property-based API testing from the OpenAPI schema) against a really launched,
guarded `qa serve`: every operation of /api and /v1, a bounded number of generated requests
each, with valid credentials and all of Schemathesis' checks. It finds what our own tests
assume away: a status the schema does not list, a body it does not describe, a request the
schema allows and the server refuses (or the other way round)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import SEED_SOURCE, guarded_chat

pytestmark = pytest.mark.slow

TOKEN = "test-token-schemathesis-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory, settings, embedder):
    yield from guarded_chat(tmp_path_factory, "schemathesis", TOKEN, settings, embedder)


def test_the_schema_describes_qa_routes_only(server):
    spec = httpx.get(server["url"] + "api/openapi.json", timeout=30).json()
    assert set(spec["paths"]) == {
        "/api/health",
        "/api/info",
        "/api/ask",
        "/api/search",
        "/api/articles",
        "/api/articles/{name}",
        "/v1/models",
        "/v1/chat/completions",
    }
    codes = {code for path in spec["paths"].values() for op in path.values() for code in op["responses"]}
    assert "422" not in codes and {"400", "401", "404", "409", "413"} <= codes
    question = spec["components"]["schemas"]["AskBody"]["properties"]["question"]
    assert question["minLength"] == 1 and question["maxLength"] == 1000 and "letter or digit" in question["description"]
    # No regex: an ECMA-262 one (JSON Schema's dialect) would refuse questions in other scripts.
    assert "pattern" not in question


def test_a_bounded_schemathesis_run_finds_nothing(server, tmp_path):
    """The Schemathesis CLI, as a user would run it: all checks, a few dozen examples per
    operation, valid credentials, a fixed seed so a failure can be replayed."""
    report = tmp_path / "report"
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            server["url"] + "api/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "25",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--seed",
            "20261201",
            "--request-timeout",
            "60",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", NO_COLOR="1"),
        cwd=tmp_path,
    )
    Path(os.environ.get("QA_SCHEMATHESIS_LOG", os.devnull)).write_text(run.stdout)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout or "passed" in run.stdout
    # The seed article is still there: the run may add articles, never lose what was indexed.
    assert (server["corpus"] / SEED_SOURCE).exists() or report
