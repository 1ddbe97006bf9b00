"""One server for the chat and the JSON API: Gradio's own FastAPI app, with qa's /api routes
added first and a gate in front of them (no second server, one port).

The chat's routes are guarded by Gradio's login (`auth=`), which answers 401 to every chat
request without a session, its queue included; the gate adds what Gradio lacks: credentials
on /api (Bearer token or HTTP Basic), a limit on failed logins for both, JSON errors.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from gradio.routes import App

from ui.api import api_router, error
from ui.auth import Credentials

API_DOCS = {"docs_url": "/api/docs", "openapi_url": "/api/openapi.json", "redoc_url": None}


def server_app(chat, credentials: Credentials | None) -> App:
    app = App(**API_DOCS, title="qa", description="Ask your articles: verbatim quotes with citations, or a refusal.")
    app.include_router(api_router(chat, chat.read_only))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if request.url.path.startswith("/api/"):
            return error(exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return error(400, f"bad request: {where}: {first.get('msg', 'invalid')}" if where else "bad request")

    @app.middleware("http")
    async def gate(request: Request, call_next):
        path = request.url.path
        if credentials is None or not (path.startswith("/api/") or path.rstrip("/") == "/login"):
            return await call_next(request)
        client = request.client.host if request.client else "?"
        if credentials.blocked(client):
            return error(429, "too many failed sign-ins from this address: wait a minute")
        if path.rstrip("/") == "/login":  # Gradio checks the password; failures count here
            response = await call_next(request)
            if response.status_code == 400:
                credentials.failed(client)
            return response
        if path in ("/api/docs", "/api/openapi.json"):
            return await call_next(request)  # the API's description is no secret
        if not credentials.check_header(request.headers.get("authorization")):
            credentials.failed(client)
            return JSONResponse(
                {"error": "missing or wrong credentials: send Authorization: Bearer TOKEN (or Basic user:password)"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="qa"'},
            )
        return await call_next(request)

    return app
