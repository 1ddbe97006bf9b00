"""Language models for the generative mode, as LangChain chat models.

`chat_model(spec)` picks the implementation from one string (the `llm` setting):

- a path to a `.gguf` file: run it in this process with llama.cpp (`xllamacpp`, a
  prebuilt wheel; nothing is downloaded, the user brings the model file);
- `ollama:MODEL`: a model served by a local Ollama (needs `langchain-ollama`);
- `openai:MODEL@BASE_URL` (or `openai:MODEL`, with `OPENAI_BASE_URL`): any
  OpenAI-compatible endpoint, e.g. a llama.cpp or vLLM server (needs `langchain-openai`).

Any other LangChain `BaseChatModel` can be handed to `QA` directly.
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from ..config import Settings


class LLMUnavailable(RuntimeError):
    """The configured language model can't be used; the message says how to fix it."""


def chat_model(spec: str, settings: Settings | None = None) -> BaseChatModel:
    settings = settings or Settings()
    if spec.startswith("ollama:"):
        try:
            from langchain_ollama import ChatOllama
        except ImportError as exc:
            raise LLMUnavailable("`ollama:` models need `pip install langchain-ollama`") from exc
        return ChatOllama(model=spec.removeprefix("ollama:"), temperature=settings.llm_temperature)
    if spec.startswith("openai:"):
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:
            raise LLMUnavailable("`openai:` models need `pip install langchain-openai`") from exc
        model, _, base_url = spec.removeprefix("openai:").partition("@")
        return ChatOpenAI(
            model=model,
            base_url=base_url or os.environ.get("OPENAI_BASE_URL"),
            api_key=os.environ.get("OPENAI_API_KEY", "not-needed"),
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
        )
    path = Path(spec).expanduser()
    if not path.is_file():
        raise LLMUnavailable(
            f"no language model at {spec!r}: give the path of a .gguf file, 'ollama:MODEL' or 'openai:MODEL@URL'"
        )
    return LlamaCppChat(
        model_path=str(path),
        context_tokens=settings.llm_context_tokens,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        threads=settings.llm_threads,
    )


class LlamaCppChat(BaseChatModel):
    """A GGUF model run in this process by llama.cpp's own server code (thread-safe)."""

    model_path: str
    context_tokens: int = 4096
    max_tokens: int = 384
    temperature: float = 0.0
    threads: int = 0
    """CPU threads; 0 = all cores."""

    _server: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama.cpp"

    @property
    def _identifying_params(self) -> dict:
        return {"model_path": self.model_path, "context_tokens": self.context_tokens}

    def load(self) -> LlamaCppChat:
        """Load the model now (it is otherwise loaded by the first question)."""
        self._ensure_server()
        return self

    def _ensure_server(self):
        with self._lock:
            if self._server is None:
                try:
                    import xllamacpp
                except ImportError as exc:
                    raise LLMUnavailable("GGUF models need the `xllamacpp` package (pip install xllamacpp)") from exc
                params = xllamacpp.CommonParams()
                params.model.path = self.model_path
                params.n_ctx = self.context_tokens
                params.n_predict = self.max_tokens
                params.n_parallel = 1
                threads = self.threads or os.cpu_count() or 1
                params.cpuparams.n_threads = threads
                params.cpuparams_batch.n_threads = threads
                params.sampling.temp = self.temperature
                params.warmup = False
                params.verbosity = -1  # llama.cpp logs every request at info level otherwise
                # llama.cpp's server code also listens on a random 127.0.0.1 port; qa calls it
                # in-process, so a random key keeps other local programs off that port.
                params.api_keys = [secrets.token_hex(16)]
                try:
                    self._server = xllamacpp.Server(params)
                except Exception as exc:
                    raise LLMUnavailable(f"llama.cpp could not load {self.model_path}: {exc}") from exc
        return self._server

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, stream: bool, **kwargs) -> dict:
        roles = {"human": "user", "ai": "assistant", "system": "system"}
        request = {
            "messages": [{"role": roles.get(m.type, "user"), "content": str(m.text)} for m in messages],
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "stop": stop or [],
            "stream": stream,
        }
        if kwargs.get("logprobs"):  # as OpenAI's API asks for them (qa.verification)
            request["logprobs"] = True
            request["top_logprobs"] = kwargs.get("top_logprobs", 5)
        if "cache_prompt" in kwargs:  # llama.cpp: reuse the cached start of the previous prompt
            request["cache_prompt"] = bool(kwargs["cache_prompt"])
        return request

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        result = self._ensure_server().handle_chat_completions(self._request(messages, stop, False, **kwargs))
        if "error" in result:
            raise LLMUnavailable(f"llama.cpp: {result['error']}")
        choice = result["choices"][0]
        text = choice["message"].get("content") or ""
        metadata = {"logprobs": choice["logprobs"]} if choice.get("logprobs") else {}
        message = AIMessage(content=text, response_metadata=metadata)
        return ChatResult(generations=[ChatGeneration(message=message)], llm_output=result.get("usage"))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        server = self._ensure_server()
        pieces: queue.Queue = queue.Queue()
        cancelled = threading.Event()
        done = object()

        def on_chunk(chunk: dict) -> bool:
            pieces.put(chunk)
            return cancelled.is_set()  # True stops generation early

        def run() -> None:
            try:
                server.handle_chat_completions(self._request(messages, stop, True, **kwargs), on_chunk)
            except Exception as exc:  # handed to the consumer, raised there
                pieces.put(exc)
            finally:
                pieces.put(done)

        # The callback runs on the generating thread; a queue turns it into an iterator.
        threading.Thread(target=run, name="llama.cpp", daemon=True).start()
        try:
            while (item := pieces.get()) is not done:
                if isinstance(item, Exception):
                    raise LLMUnavailable(f"llama.cpp: {item}") from item
                if "error" in item:
                    raise LLMUnavailable(f"llama.cpp: {item['error']}")
                for choice in item.get("choices", []):
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        if run_manager:
                            run_manager.on_llm_new_token(text)
                        yield ChatGenerationChunk(message=AIMessageChunk(content=text))
        finally:
            cancelled.set()
