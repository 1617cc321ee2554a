"""Your function is a model: ``provider = "python"``, ``entry = "package.module:function"``.

The function is called with the conversation's messages (``[{"role", "content"}]``, oldest first,
in OpenAI's chat shape: an assistant's ``tool_calls`` and ``tool`` messages with their
``tool_call_id`` included) and the ``GenerationParams`` (``params.tools``: the tools on offer,
OpenAI function tools, the server's own among them; ``params.tool_choice``). It yields what
``tokenwire.providers.output`` accepts: text, or ``Reasoning``/``ToolCall``/``Usage``/``Done``/
``Error`` payloads. To call a tool, yield ``ToolCall(index, id, name, arguments)`` (a whole call at
once, ``arguments`` its JSON text; an ``id`` left out is made up) and end: the answer ends with
``tool_calls``, and the server runs its own tools and calls the function again with their results,
or the caller continues the turn with theirs (docs/tools.md).

The function may be an async generator (or any async function returning an async iterable or a
string), run on the event loop; or a sync one, run in a worker thread of its own so that blocking
calls do not stall the server.

Stopping: an async generator is cancelled where it awaits; a sync one is closed at its next yield
(``GeneratorExit`` there, so its ``finally`` runs), since a thread cannot be interrupted. An
exception becomes the stream's ``model_error``; its traceback goes to the log, never to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import functools
import importlib
import inspect
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator
from dataclasses import dataclass, replace
from typing import Any, Final

from tokenwire.config import ConfigError
from tokenwire.events import Done
from tokenwire.providers.base import ChatMessage, GenerationParams, ProviderError, ProviderPayload
from tokenwire.providers.output import as_payload

__all__ = [
    "MODEL_ERROR",
    "ModelFunction",
    "PythonProvider",
    "check_entry",
    "import_callable",
    "load_entry",
    "runs_on_loop",
]

logger = logging.getLogger("tokenwire.providers.python")

ModelFunction = Callable[[list[ChatMessage], GenerationParams], Any]
MODEL_ERROR: Final = "model_error"
# How many items a sync function may run ahead of the stream before its thread waits.
WINDOW: Final = 64


def import_callable(reference: str, owner: str) -> Callable[..., Any]:
    """Import ``package.module:attribute`` (a dotted attribute too); check that it is callable.
    ``owner`` names what the configuration gave it to, at the head of every error."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"{owner}: {reference!r} must look like 'package.module:function'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{owner}: cannot import {module_name!r}: {exc}") from exc
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise ConfigError(f"{owner}: {module_name} has no {attribute!r}") from None
    if not callable(target):
        raise ConfigError(f"{owner}: {reference!r} is not callable")
    return target  # type: ignore[no-any-return]


def load_entry(entry: str) -> ModelFunction:
    """The model function a python model's ``entry`` names."""
    return import_callable(entry, f"entry {entry!r}")


def check_entry(entry: str | ModelFunction | None) -> ModelFunction:
    """The function a python model's ``entry`` names, imported and checked now: a bad entry is a
    ``ConfigError`` where it is configured, not a failed start later."""
    function = load_entry(entry) if isinstance(entry, str) else entry
    if function is None or not callable(function):
        raise ConfigError(f"a python model's entry must be a function, not {entry!r}")
    _check_signature(function, _name_of(function))
    return function


def runs_on_loop(function: Callable[..., Any]) -> bool:
    """True for async functions and async generator functions, however wrapped."""
    target: Any = function
    if not (inspect.isroutine(target) or isinstance(target, functools.partial)):
        target = type(target).__call__  # an object whose __call__ is async
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def _check_signature(function: ModelFunction, name: str) -> None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # some builtins have none; the call will tell
        return
    try:
        signature.bind([], GenerationParams())
    except TypeError:
        raise ConfigError(f"model function {name} must accept (messages, params)") from None


def _name_of(function: ModelFunction) -> str:
    target: Any = function.func if isinstance(function, functools.partial) else function
    module = getattr(target, "__module__", None) or "?"
    return f"{module}:{getattr(target, '__qualname__', type(target).__qualname__)}"


class PythonProvider:
    def __init__(self, *, id: str, function: ModelFunction, max_tokens: int | None = None) -> None:
        self.id = id
        self.function = function
        self.name = _name_of(function)
        self.max_tokens = max_tokens
        self._on_loop = runs_on_loop(function)
        self._workers: set[_Worker] = set()
        _check_signature(function, self.name)

    async def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[ProviderPayload, None]:
        if params.max_tokens is None and self.max_tokens is not None:
            params = replace(params, max_tokens=self.max_tokens)
        messages = copy.deepcopy(messages)  # the function may change its copy
        items = (
            self._on_loop_items(messages, params)
            if self._on_loop
            else self._thread_items(messages, params)
        )
        try:
            async with contextlib.aclosing(items):
                async for item in items:
                    payload = as_payload(item)
                    if payload is not None:
                        yield payload
                        if isinstance(payload, Done):
                            return
        except ProviderError:
            raise
        except Exception as exc:
            logger.error("model function %s (model %s) failed", self.name, self.id, exc_info=exc)
            raise ProviderError(
                MODEL_ERROR,
                f"the model function failed ({type(exc).__name__}); see the server log",
                retryable=False,
            ) from exc

    async def _on_loop_items(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[object, None]:
        result = self.function(messages, params)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, str) or not hasattr(result, "__aiter__"):
            for item in _sync_items(result):
                yield item
            return
        iterator: AsyncIterator[object] = aiter(result)
        try:
            async for item in iterator:
                yield item
        finally:
            # Cancellation reached the function where it awaited; closing runs its finally now.
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()

    async def _thread_items(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[object, None]:
        worker = _Worker(asyncio.get_running_loop())
        self._workers.add(worker)
        # The caller's context variables (request ids, tracing spans) go along into the thread.
        context = contextvars.copy_context()
        thread = threading.Thread(
            target=context.run,
            args=(worker.run, functools.partial(self.function, messages, params)),
            name=f"tokenwire-model-{self.id}",
            daemon=True,
        )
        thread.start()
        try:
            while (item := await worker.queue.get()) is not _END:
                worker.credits.release()
                if isinstance(item, _Raised):
                    raise item.exception
                yield item
        finally:
            worker.stop()
            self._workers.discard(worker)

    async def aclose(self) -> None:
        for worker in list(self._workers):
            worker.stop()


def _sync_items(result: object) -> Generator[object, None, None]:
    if isinstance(result, str):
        yield result
        return
    if not hasattr(result, "__iter__"):
        raise TypeError(
            f"a model function must return text or an iterable of it, not {type(result).__name__}"
        )
    yield from result


_END: Final = object()


@dataclass(frozen=True, slots=True)
class _Raised:
    exception: BaseException


class _Worker:
    """Runs one sync model function in a thread and hands what it yields to the event loop.

    The thread takes a credit before each handoff and the loop gives one back for each item it
    takes, so the function runs at most ``WINDOW`` items ahead; ``stop`` wakes a waiting thread,
    which then closes the generator instead of asking it for more.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.credits = threading.Semaphore(WINDOW)
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()
        self.credits.release()

    def _put(self, item: object) -> bool:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed: nobody reads any more
            self.stopped.set()
            return False
        return True

    def run(self, call: Callable[[], object]) -> None:
        try:
            if self.stopped.is_set():
                return
            items = _sync_items(call())
            try:
                for item in items:
                    self.credits.acquire()
                    if self.stopped.is_set() or not self._put(item):
                        break
            finally:
                items.close()  # also closes the function's generator: GeneratorExit at its yield
        except BaseException as exc:  # raised on the event loop, where the stream is
            self._put(_Raised(exc))
        finally:
            self._put(_END)
