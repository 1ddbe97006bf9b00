"""qa's JSON API, served by the chat's own server under /api (OpenAPI docs at /api/docs).

Every answer is exactly what `qa ask --json` prints. Errors are JSON, `{"error": "…"}`, with
a proper status: 400 a bad question or body, 401 no or wrong credentials, 403 a change to a
read-only server, 404 no such article, 409 an article already there, 413 too large, 429 too
many failed logins, 503 the index cannot be used (or, before the chat starts, is being built
for the first time: server.py answers then). Like the chat, the API is thin over `QA`: no answering logic here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Literal

from fastapi import APIRouter, File, HTTPException, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from ..config import SUPPORTED_KINDS
from ..types import Answer, Citation, InvalidQuestion

log = logging.getLogger("qa.api")


QUESTION_CHARS = 1000
"""The longest question the server takes (`Settings.max_question_chars`'s default)."""


class ErrorBody(BaseModel):
    """Every /api error: a sentence saying what went wrong and what to do."""

    error: str


def errors(*statuses: int) -> dict:
    """OpenAPI `responses` for these error statuses, all with the one error body."""
    said = {
        400: "bad request: the body, the question or a parameter is not acceptable",
        401: "missing or wrong credentials (when the server has them)",
        403: "this server is read-only",
        404: "no such article",
        409: "the article is already there",
        413: "the file is over the size limit",
        429: "too many failed sign-ins from this address",
        503: "the index cannot be used right now (or is being built)",
    }
    return {code: {"model": ErrorBody, "description": said[code]} for code in statuses}


SSE_EVENT = {
    "type": "object",
    "description": "one server-sent event: its name and its JSON data",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}},
    "required": ["data"],
}

GUARDED = (401, 429, 503)
"""What any guarded route may answer, whatever it is asked."""


def _question_field(description: str):
    # The length is counted as sent. "At least one letter or digit" (str.isalnum, as
    # search/question.py requires) is said in words, not as a `pattern`: JSON Schema
    # patterns are ECMA-262, whose `\w` is ASCII, so a validating client would refuse
    # "Москва?" before the server saw it.
    limits = {"minLength": 1, "maxLength": QUESTION_CHARS}
    return Field(description=description + "; at least one letter or digit (any script)", json_schema_extra=limits)


class AskBody(BaseModel):
    question: str = _question_field("the question; follow-ups may lean on `history`")
    k: int | None = Field(
        default=None, ge=1, le=100, strict=True, description="passages to read (default: the setting, 8)"
    )  # strict: `true` or "5" is not a number of passages
    mode: Literal["extractive", "generative"] | None = Field(
        default=None, description="generative needs a language model (`qa serve --llm`)"
    )
    history: list[tuple[str, str]] = Field(
        default_factory=list, description="earlier (question, answer) turns, oldest first, for a follow-up"
    )


class SearchBody(BaseModel):
    question: str = _question_field("what to search for")
    k: int | None = Field(default=None, ge=1, le=100, strict=True)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def api_router(chat, read_only: bool) -> APIRouter:
    """The /api routes over `chat` (a `ui.app.ChatApp`: the engine, the corpus, the build lock)."""
    router = APIRouter(prefix="/api")

    @router.get(
        "/health", summary="Is the server up, and which index version does it answer from?", responses=errors(*GUARDED)
    )
    def health() -> dict:
        info = chat.qa.info()
        return {"status": "ok", "version": info["version"], "documents": info["documents"]}

    @router.get("/info", summary="The index: what `qa info --json` prints", responses=errors(*GUARDED))
    def info() -> dict:
        return chat.qa.info()

    @router.post(
        "/ask",
        summary="Answer a question: the object `qa ask --json` prints (stream=true: SSE)",
        responses={
            200: {
                "description": "the answer; with stream=true, server-sent events: piece, citation, answer (or error)",
                "content": {"application/json": {}, "text/event-stream": {"schema": SSE_EVENT}},
            },
            **errors(400, *GUARDED),
        },
    )
    def ask(body: AskBody, stream: bool = False):
        try:
            if stream:
                events = chat.qa.stream(body.question, k=body.k, history=body.history, mode=body.mode)
                first = next(events)  # a bad question fails here, as a 400, before the stream starts
                return StreamingResponse(_sse(first, events), media_type="text/event-stream")
            return chat.qa.ask(body.question, k=body.k, history=body.history, mode=body.mode).to_dict()
        except ValueError as exc:  # an InvalidQuestion, or generative mode without a language model
            raise HTTPException(400, str(exc)) from None

    @router.post(
        "/search", summary="The passages qa would read for a question, best first", responses=errors(400, *GUARDED)
    )
    def search(body: SearchBody) -> dict:
        try:
            passages = chat.qa.search(body.question, k=body.k)
        except InvalidQuestion as exc:
            raise HTTPException(400, str(exc)) from None
        return {"question": chat.qa.cleaned(body.question), "passages": [p.to_dict() for p in passages]}

    @router.post(
        "/articles",
        status_code=201,
        summary="Add an article to the corpus and index it",
        description=f"A file of one of these types: {SUPPORTED_KINDS}; at most the server's size limit (20 MB by default).",
        responses=errors(400, 403, 409, 413, *GUARDED),
    )
    def upload(file: UploadFile = File(...)) -> dict:  # noqa: B008  (FastAPI's idiom)
        _writable(read_only)
        data = file.file.read(chat.settings.max_file_bytes + 1)
        if len(data) > chat.settings.max_file_bytes:
            raise HTTPException(413, f"{file.filename} is over the {chat.settings.max_file_bytes // 2**20} MB limit")
        added = chat.add_article(file.filename or "", data)
        if added.source is None:
            raise HTTPException(409 if added.duplicate else 400, added.message)
        report = chat.update_index({added.source})
        return {"source": added.source, "message": added.message, "index": report.to_dict()}

    @router.delete(
        "/articles/{name:path}",
        summary="Remove an article from the corpus and the index",
        responses=errors(403, 404, *GUARDED),
    )
    def remove(name: str) -> dict:
        _writable(read_only)
        try:
            source = chat.remove_article(name)
        except (ValueError, FileNotFoundError) as exc:  # a name no article can have is no such article either
            raise HTTPException(404, str(exc)) from None
        report = chat.update_index({source})
        return {"source": source, "removed": True, "index": report.to_dict()}

    return router


READ_ONLY = "this server is read-only: articles are added in its corpus folder on disk"
BODY_LIMIT = 2**20
"""The largest JSON body the server reads (a question, its history, a conversation): 1 MB."""


def _writable(read_only: bool) -> None:
    if read_only:
        raise HTTPException(403, READ_ONLY)


def _sse(first, events: Iterator) -> Iterator[str]:
    """Server-sent events: `piece` (text as the model writes it), `citation` (a quote once
    checked), and last `answer`, the whole answer object; or, if answering fails midway,
    `error` with a message."""
    try:
        for event in _chain(first, events):
            if isinstance(event, str):
                yield f"event: piece\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
            elif isinstance(event, Citation):
                yield f"event: citation\ndata: {json.dumps(event.to_dict(), ensure_ascii=False)}\n\n"
            elif isinstance(event, Answer):
                yield f"event: answer\ndata: {json.dumps(event.to_dict(), ensure_ascii=False)}\n\n"
    except Exception:
        log.exception("streamed answer failed")
        message = {"error": "something went wrong while answering; the details are in the server log"}
        yield f"event: error\ndata: {json.dumps(message)}\n\n"


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest
