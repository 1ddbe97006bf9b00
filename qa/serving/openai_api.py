"""An OpenAI-compatible door on `qa serve`: `GET /v1/models` and `POST /v1/chat/completions`,
plain and streamed, so the `openai` SDK, LangChain's `ChatOpenAI`, Open WebUI and other chat
front-ends can ask qa as they ask any local engine. Same port and credentials as /api (the
clients' `api_key` is the bearer token).

What a person reads is the message content: the answer with its numbered quotes and the
sources under it (what `qa ask` prints). The structured citations travel beside it in a
`citations` field (and the whole answer object in `qa`), so a program can check each quote.
A refusal is an ordinary assistant message saying the articles don't answer. Streamed
answers are sent only once every quote in them is verified (quotes are never shown
unchecked), line by line as `chat.completion.chunk` events, ending with `data: [DONE]`.
Errors are OpenAI's error objects, `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..answering.presenting import as_plain_text
from ..types import Answer, InvalidQuestion
from .api import SSE_EVENT

EXTRACTIVE, GENERATIVE = "qa", "qa-generative"
CREATED = int(time.time())


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict] | None = None


class ChatBody(BaseModel):
    """The fields of OpenAI's chat request that qa reads; the others (temperature, …) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(description="`qa` (quotes picked by qa) or `qa-generative` (with `qa serve --llm`)")
    messages: list[Message] = Field(description="the conversation; the last user message is the question")
    stream: bool | None = False  # OpenAI's API allows null: not streamed


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """OpenAI's error object, as its clients expect it."""

    error: OpenAIError


def _errors(*statuses: int) -> dict:
    said = {
        400: "bad request: no user question, an empty or overlong one, a malformed body",
        401: "missing or wrong API key (the server's token)",
        404: "no such model",
        429: "too many failed sign-ins from this address",
        503: "the index cannot be used right now (or is being built)",
    }
    return {code: {"model": OpenAIErrorBody, "description": said[code]} for code in statuses}


def openai_error(status: int, message: str, kind: str = "invalid_request_error", param=None, code=None):
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status_code=status)


def openai_router(chat) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])

    def models() -> list[str]:
        return [EXTRACTIVE, GENERATIVE] if chat.qa.generative else [EXTRACTIVE]

    @router.get(
        "/models", summary="The answer modes this server offers, as OpenAI models", responses=_errors(401, 429, 503)
    )
    def list_models() -> dict:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": CREATED, "owned_by": "qa"} for m in models()],
        }

    @router.post(
        "/chat/completions",
        summary="Answer the conversation's last question (stream=true: SSE chunks)",
        responses={
            200: {
                "description": "a chat.completion; with stream=true, chat.completion.chunk events ending with [DONE]",
                "content": {"application/json": {}, "text/event-stream": {"schema": SSE_EVENT}},
            },
            **_errors(400, 401, 404, 429, 503),
        },
    )
    def completions(body: ChatBody):
        if body.model not in models():
            hint = "" if chat.qa.generative else " (qa-generative needs a language model: qa serve --llm)"
            return openai_error(
                404,
                f"the model {body.model!r} does not exist: use one of {models()}{hint}",
                param="model",
                code="model_not_found",
            )
        mode = "generative" if body.model == GENERATIVE else "extractive"
        try:
            messages = [{"role": m.role, "content": _text(m.content)} for m in body.messages]
            question, turns = chat.qa.conversation(messages, mode)
            answer = chat.qa.ask(question, history=turns, mode=mode)
        except ValueError as exc:  # no user message, an empty or overlong question
            return openai_error(400, str(exc), param="messages")
        reply_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            return StreamingResponse(_chunks(answer, body.model, reply_id, created), media_type="text/event-stream")
        return {
            "id": reply_id,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": as_plain_text(answer), "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            **_beside(answer),
        }

    return router


def _text(content) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if content is None or isinstance(content, str):
        return content or ""
    texts = [p.get("text") for p in content if p.get("type") == "text"]
    if any(t is not None and not isinstance(t, str) for t in texts):  # never str() a dict into a question
        raise InvalidQuestion("a text part's `text` must be a string")
    return "\n".join(t for t in texts if t)


def _beside(answer: Answer) -> dict:
    """What travels beside the message: the structured citations and the answer object."""
    return {"citations": [c.to_dict() for c in answer.citations], "qa": answer.to_dict()}


def _chunks(answer: Answer, model: str, reply_id: str, created: int) -> Iterator[str]:
    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {
            "id": reply_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    lines = as_plain_text(answer).split("\n")
    for i, line in enumerate(lines):
        yield chunk({"content": line + ("\n" if i < len(lines) - 1 else "")})
    yield chunk({}, "stop", **_beside(answer))
    yield "data: [DONE]\n\n"
