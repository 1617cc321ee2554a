"""Server-side tools: the ``[[tools]]`` of the configuration, ready to run inside a generation.

A tool is a Python function, sync or async. It is called with the call's arguments as keyword
arguments, once they are valid JSON that fits its ``parameters`` schema. Its return value becomes
the result's ``content``: a string as it is, anything else as JSON. Whatever goes wrong becomes a
result with ``is_error`` that the model reads, never a dead stream, and never a traceback or the
exception's message (which may hold a secret): arguments that are not JSON or do not fit the
schema, an exception (its type is named; the traceback goes to the log), a timeout.

An async tool runs on the event loop and is cancelled when the answer is cancelled (or its time is
up). A sync tool runs in a thread of its own, so that blocking calls stall nothing; a thread cannot
be interrupted, so on a cancel or a timeout the generation stops waiting for it, and the function
runs on to its end unobserved.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from tokenwire.config import ConfigError, Settings, ToolConfig
from tokenwire.hub.schema import argument_problem, parameters_from_signature, schema_problem
from tokenwire.providers.base import Provider, supports_tools
from tokenwire.providers.python import import_callable, runs_on_loop

logger = logging.getLogger("tokenwire.hub.tools")

__all__ = ["ServerTool", "build_tools", "load_function", "model_tools", "tool_spec"]


def load_function(reference: str | Callable[..., Any], tool: str) -> Callable[..., Any]:
    """The callable a tool's ``function`` names, imported and checked now."""
    return reference if callable(reference) else import_callable(reference, f"tool {tool}")


def tool_spec(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """A function tool in OpenAI's shape, as providers receive it in ``params.tools``."""
    function: dict[str, Any] = {"name": name, "parameters": parameters}
    if description:
        function["description"] = description
    return {"type": "function", "function": function}


class ServerTool:
    def __init__(self, config: ToolConfig) -> None:
        self.name = config.name
        self.function = load_function(config.function, config.name)
        self.description = (
            config.description
            if config.description is not None
            else inspect.getdoc(self.function) or ""
        )
        if config.parameters is not None:
            problem = schema_problem(config.parameters)
            if problem is not None:
                where, what = problem
                path = f"parameters.{where}" if where else "parameters"
                raise ConfigError(f"tool {config.name}: `{path}` {what}")
            self.parameters = config.parameters
        else:
            self.parameters = parameters_from_signature(self.function, config.name)
        self.timeout = float(config.timeout_seconds)
        self.spec = tool_spec(self.name, self.description, self.parameters)
        self._on_loop = runs_on_loop(self.function)
        try:
            self._signature: inspect.Signature | None = inspect.signature(self.function)
        except (TypeError, ValueError):
            self._signature = None

    async def run(self, arguments: str) -> tuple[str, bool]:
        """Run the tool on a call's JSON arguments: ``(content, is_error)``. Never raises,
        except ``CancelledError`` when the answer is cancelled."""
        try:
            parsed = orjson.loads(arguments) if arguments.strip() else {}
        except orjson.JSONDecodeError:
            return f"invalid arguments for {self.name}: not valid JSON", True
        if not isinstance(parsed, dict):
            return f"invalid arguments for {self.name}: expected a JSON object", True
        problem = argument_problem(parsed, self.parameters)
        if problem is None and self._signature is not None:
            try:
                self._signature.bind(**parsed)
            except TypeError as exc:
                problem = str(exc)
        if problem is not None:
            return f"invalid arguments for {self.name}: {problem}", True
        deadline = asyncio.timeout(self.timeout)
        try:
            async with deadline:
                result = await (self._call(parsed) if self._on_loop else self._in_thread(parsed))
        except Exception as exc:
            if isinstance(exc, TimeoutError) and deadline.expired():
                logger.warning("tool %s did not answer within %g s", self.name, self.timeout)
                return f"the tool {self.name} did not answer within {self.timeout:g} s", True
            logger.error("tool %s failed", self.name, exc_info=exc)
            return f"the tool {self.name} failed ({type(exc).__name__})", True
        return _content(result), False

    async def _call(self, arguments: dict[str, Any]) -> Any:
        result = self.function(**arguments)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _in_thread(self, arguments: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[Any] = loop.create_future()
        call = functools.partial(self.function, **arguments)
        context = contextvars.copy_context()  # request ids, tracing spans go along

        def settle(ok: bool, value: Any) -> None:
            if outcome.done():  # nobody waits any more: cancelled, or out of time
                return
            if ok:
                outcome.set_result(value)
            else:
                outcome.set_exception(value)

        def work() -> None:
            try:
                ok, value = True, context.run(call)
            except BaseException as exc:
                ok, value = False, exc
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody reads
                loop.call_soon_threadsafe(settle, ok, value)

        threading.Thread(target=work, name=f"tokenwire-tool-{self.name}", daemon=True).start()
        return await outcome


def _content(result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        return orjson.dumps(result, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return str(result)


def build_tools(configs: Iterable[ToolConfig]) -> dict[str, ServerTool]:
    """Every declared tool, its function imported and its schema checked or derived, now: a bad
    tool is a ``ConfigError`` at start-up, not a failed call later."""
    return {config.name: ServerTool(config) for config in configs}


async def model_tools(
    settings: Settings, providers: Mapping[str, Provider]
) -> dict[str, dict[str, ServerTool]]:
    """The server's tools each model may call, by model id: ``ConfigError`` for a model that
    names a tool not declared, or that cannot be offered tools at all."""
    built = build_tools(settings.tools)
    tools: dict[str, dict[str, ServerTool]] = {}
    for model in settings.models:
        missing = [name for name in model.tools if name not in built]
        if missing:
            raise ConfigError(
                f"model {model.id!r}: tool(s) {', '.join(missing)} not declared in [[tools]]"
            )
        if model.tools and not await supports_tools(providers[model.id]):
            raise ConfigError(
                f"model {model.id!r} cannot be offered tools (its chat template has none);"
                " remove its `tools`"
            )
        tools[model.id] = {name: built[name] for name in model.tools}
    return tools
