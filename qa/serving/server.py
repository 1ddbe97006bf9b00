"""One server for the chat and the JSON API: Gradio's own FastAPI app, with qa's /api routes
added first and a gate in front of them (no second server, one port).

The chat's routes are guarded by Gradio's login (`auth=`), which answers 401 to every chat
request without a session, its queue included; the gate adds what Gradio lacks: credentials
on /api (Bearer token or HTTP Basic), a limit on failed logins for both, JSON errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from fastapi import Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from gradio.routes import App
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..ingestion.files import file_size
from ..store import IndexError_
from .api import BODY_LIMIT, READ_ONLY, api_router
from .api import error as api_error
from .auth import ATTEMPT_WAIT_S, Credentials
from .openai_api import openai_error, openai_router

log = logging.getLogger("qa.api")

API_DOCS = {"docs_url": "/api/docs", "openapi_url": "/api/openapi.json", "redoc_url": None}
_OPENAI_KINDS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}


def _guarded(path: str) -> bool:
    """The routes behind qa's credentials: the JSON API, the OpenAI door, the MCP server."""
    return path.startswith(("/api/", "/v1/")) or path.rstrip("/") == "/mcp"


def qa_openapi(app: App, chat, routes: list) -> dict:
    """The OpenAPI of qa's own routes (/api and /v1; Gradio's internal routes are not qa's API),
    with the statuses they really send: a body the schema rejects is a 400 with qa's error
    body, never FastAPI's 422. Built once per server, for what it offers (no language model:
    no generative mode)."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=routes)
    for name, path in spec["paths"].items():
        body = "OpenAIErrorBody" if name.startswith("/v1/") else "ErrorBody"
        for operation in path.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            if operation.get("requestBody") or operation.get("parameters"):
                content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}
                responses.setdefault("400", {"description": "bad request", "content": content})
    schemas = spec.get("components", {}).get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    if "ChatBody" in schemas:
        offered = ["qa", "qa-generative"] if chat.qa.generative else ["qa"]
        schemas["ChatBody"]["properties"]["model"]["enum"] = offered
    if not chat.qa.generative and "AskBody" in schemas:
        mode = schemas["AskBody"]["properties"]["mode"]
        mode["anyOf"] = [{"type": "string", "enum": ["extractive"]}, {"type": "null"}]
        mode["description"] = "extractive only: this server has no language model (qa serve --llm)"
    app.openapi_schema = spec
    return spec


def mount_mcp(app: App, chat, host: str):
    """The MCP server over streamable HTTP at /mcp (stateless, JSON replies: any worker can answer
    any request); returns the lifespan that runs its session manager while the server runs.

    `host`: the address the server answers on. The SDK guards a loopback one against DNS
    rebinding (only a loopback Host header passes); any other must answer to the names clients
    use for it, as /api does, and the credentials `qa serve` then requires guard it."""
    from starlette.routing import Mount

    from .mcp_server import build_server

    server = build_server(chat.qa)
    mcp_app = server.streamable_http_app(streamable_http_path="/", stateless_http=True, json_response=True, host=host)
    app.router.routes.insert(0, Mount("/mcp", app=mcp_app))

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        async with server.session_manager.run():
            yield

    return lifespan


def error(path: str, status: int, message: str, code: str | None = None):
    """An error in the shape the route's clients expect: OpenAI's under /v1, qa's under /api."""
    if path.startswith("/v1/"):
        return openai_error(status, message, _OPENAI_KINDS.get(status, "server_error"), code=code)
    return api_error(status, message)


def server_app(chat, credentials: Credentials | None, host: str = "127.0.0.1") -> App:
    app = App(**API_DOCS, title="qa", description="Ask your articles: verbatim quotes with citations, or a refusal.")
    routers = [api_router(chat, chat.read_only), openai_router(chat)]
    for router in routers:
        app.include_router(router)
    app.state.lifespan = mount_mcp(app, chat, host)
    app.openapi = lambda: qa_openapi(app, chat, [r for router in routers for r in router.routes])

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own (a body it cannot parse) as well as ours
    async def http_error(request: Request, exc: StarletteHTTPException):
        if _guarded(request.url.path):
            response = error(request.url.path, exc.status_code, str(exc.detail))
            response.headers.update(exc.headers or {})  # a 405's Allow, among others
            return response
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError):
        if not _guarded(request.url.path):
            return await request_validation_exception_handler(request, exc)  # Gradio's own routes: as before
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        message = f"bad request: {where}: {first.get('msg', 'invalid')}" if where else "bad request"
        return error(request.url.path, 400, message)

    @app.exception_handler(IndexError_)
    async def index_unavailable(request: Request, exc: IndexError_):
        return error(request.url.path, 503, f"the index cannot be used right now: {exc}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.error("request failed: %s %s", request.method, request.url.path, exc_info=exc)
        if not _guarded(request.url.path):
            return PlainTextResponse("Internal Server Error", status_code=500)
        return error(request.url.path, 500, "something went wrong while answering; the details are in the server log")

    @app.middleware("http")  # inside the gate (added first): only a request it let in gets here
    async def limits(request: Request, call_next):
        """What can be refused before a body is read: a change to a read-only server, and a
        body over the limit (an upload's is the file size limit), by its Content-Length."""
        path = request.url.path
        if not _guarded(path) or request.method not in ("POST", "PUT", "PATCH", "DELETE"):
            return await call_next(request)
        if chat.read_only and path.startswith("/api/articles"):
            return error(path, 403, READ_ONLY)
        upload = path.rstrip("/") == "/api/articles"
        limit = chat.settings.max_file_bytes + 2**16 if upload else BODY_LIMIT  # 64 KB: the form's own parts
        size = request.headers.get("content-length", "")
        if size.isdigit() and int(size) > limit:
            what = (
                f"the file is over the {file_size(chat.settings.max_file_bytes)} limit"
                if upload
                else (f"the request body is over the {file_size(BODY_LIMIT)} limit")
            )
            return error(path, 413, what)
        return await call_next(request)

    @app.middleware("http")
    async def gate(request: Request, call_next):
        path = request.url.path
        if credentials is None or not (_guarded(path) or path.rstrip("/") == "/login"):
            return await call_next(request)
        if path in ("/api/docs", "/api/openapi.json"):
            return await call_next(request)  # the API's description is no secret
        peer = request.client.host if request.client else "?"
        client = credentials.client_of(peer, request.headers.get("x-forwarded-for"))
        allowed = credentials.attempt(client)
        waited = 0.0
        while allowed is False and waited < ATTEMPT_WAIT_S:  # its other checks under way settle first
            await asyncio.sleep(0.01)
            waited += 0.01
            allowed = credentials.attempt(client)
        if not allowed:
            return error(path, 429, "too many failed sign-ins from this address: wait a minute")
        if path.rstrip("/") == "/login":  # Gradio checks the password
            ok = False
            try:
                response = await call_next(request)
                ok = response.status_code == 200
            finally:
                credentials.settle(client, ok)
            return response
        ok = False
        try:
            ok = await run_in_threadpool(credentials.check_header, request.headers.get("authorization"))
        finally:  # a cancelled request settles too, or its client would wait for ever
            credentials.settle(client, ok)
        if not ok:
            response = error(
                path,
                401,
                "missing or wrong credentials: send Authorization: Bearer TOKEN (or Basic user:password)",
                code="invalid_api_key",
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="qa"'
            return response
        return await call_next(request)

    return app


BUILDING_PAGE = """<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>qa — building the index</title></head><body style="font-family: system-ui, sans-serif; margin: 3em">
<h1>qa is building its index</h1><p>The articles are being read for the first time. This page
reloads by itself; the chat opens here as soon as the index is ready.</p></body></html>"""


@contextlib.contextmanager
def while_building(host: str, port: int) -> Iterator[None]:
    """Until the first index exists, the port already answers: 503 on /api (JSON, with Retry-After)
    and a page that reloads itself elsewhere. Nothing else is served; the real server takes the
    port over when the block ends."""
    import threading
    import time

    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
    async def building(path: str):
        if path.startswith(("api/", "v1/")):
            response = error("/" + path, 503, "the first index is being built: ask again in a minute")
        else:
            response = HTMLResponse(BUILDING_PAGE, status_code=503)
        response.headers["Retry-After"] = "10"
        return response

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="qa-building", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
