"""Ask one question and show its answer as it streams; Ctrl-C stops it on the server.

The first Ctrl-C asks the server to cancel: the answer ends with ``done`` (``cancelled``) and is
stored with what was received. A second Ctrl-C stops waiting for that.

Tool calls are shown one line each, and the results of the tools the server ran. This chat runs
no tool itself: a turn that ends with ``tool_calls`` says which tools the model asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console
from rich.text import Text

from tokenwire.client import AsyncChatStream, AsyncClient, TokenwireError
from tokenwire.events import Delta, Reasoning, ToolResult
from tokenwire.terminal.render import AnswerView
from tokenwire.terminal.tools import CallLines, tool_names

Status = Literal["complete", "length", "cancelled", "tool_calls", "error", "abandoned"]


_FINISHED: dict[str, Status] = {
    "stop": "complete",
    "length": "length",
    "cancelled": "cancelled",
    "tool_calls": "tool_calls",
}


class ChatFailed(TokenwireError):
    """The question could not be asked or its answer not read; the message says why."""


@dataclass(frozen=True, slots=True)
class Outcome:
    conversation_id: str | None
    status: Status


class Asker:
    """Asks questions in one conversation at a time and shows the answers."""

    def __init__(
        self,
        client: AsyncClient,
        make_view: Callable[[], AnswerView],
        notices: Console,
        *,
        model: str | None = None,
    ) -> None:
        self._client = client
        self._make_view = make_view
        self._notices = notices  # where status lines go: stderr when stdout is a pipe
        self.model = model

    async def ask(self, message: str, conversation_id: str | None) -> Outcome:
        stream = self._client.chat(message, conversation_id=conversation_id, model=self.model)
        interrupts = _Interrupts(stream)
        with interrupts.handled(), _no_echo():
            try:
                status = await interrupts.run(self._show(stream))
            except TokenwireError as exc:
                raise ChatFailed(str(exc)) from exc
        self._notice(status, stream)
        return Outcome(stream.conversation_id, status)

    async def _show(self, stream: AsyncChatStream) -> Status:
        async with stream:
            view = self._make_view()
            calls = CallLines()
            try:
                async for event in stream:
                    payload = event.payload
                    for call in calls.add(payload):
                        view.tool_call(call)
                    if isinstance(payload, Delta):
                        view.delta(payload.text)
                    elif isinstance(payload, Reasoning):
                        view.reasoning(payload.text)
                    elif isinstance(payload, ToolResult):
                        view.tool_result(payload)
            finally:
                for call in calls.complete():
                    view.tool_call(call)
                view.finish()  # what was received stays on the screen
        if stream.error is not None:
            return "error"
        return _FINISHED.get(stream.finish_reason or "stop", "complete")

    def _notice(self, status: Status, stream: AsyncChatStream) -> None:
        if status == "cancelled":
            self._notices.print(Text("⏹ stopped; the partial answer is stored", style="yellow"))
        elif status == "abandoned":
            self._notices.print(Text("⏹ stopped waiting for the answer", style="yellow"))
        elif status == "length":
            self._notices.print(Text("… the answer reached its length limit", style="yellow"))
        elif status == "tool_calls":
            names = tool_names(stream.pending_tool_calls) or "none named"
            self._notices.print(
                Text(f"⚙ the model asked for tools this chat cannot run: {names}", style="yellow")
            )
        elif status == "error" and stream.error is not None:
            error = stream.error
            hint = " (asking again may work)" if error.retryable else ""
            self._notices.print(Text(f"error {error.code}: {error.message}{hint}", style="red"))


@contextlib.contextmanager
def _no_echo() -> Iterator[None]:
    """While an answer streams, keys typed are not echoed: an echoed ``^C`` or typed-ahead text
    would move the cursor under the live region, which then redraws a line too low. What is typed
    is kept for the next prompt."""
    try:
        import termios
    except ImportError:  # not on this platform
        yield
        return
    try:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError):  # stdin is not a terminal
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


class _Interrupts:
    """Ctrl-C while an answer streams: the first cancels it on the server, the second abandons."""

    def __init__(self, stream: AsyncChatStream) -> None:
        self._stream = stream
        self._presses = 0
        self._task: asyncio.Task[Status] | None = None
        self._cancel: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def handled(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self._press)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            yield
            return
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    async def run(self, show: Coroutine[Any, Any, Status]) -> Status:
        self._task = asyncio.ensure_future(show)
        try:
            return await self._task
        except asyncio.CancelledError:
            if self._presses < 2:
                raise
            return "abandoned"
        finally:
            if self._cancel is not None and not self._cancel.done():
                self._cancel.cancel()

    def _press(self) -> None:
        self._presses += 1
        if self._presses == 1:
            self._cancel = asyncio.ensure_future(self._cancel_on_server())
        elif self._task is not None:
            self._task.cancel()

    async def _cancel_on_server(self) -> None:
        # The stream is named by the response to the POST; a press before that waits for it.
        while self._stream.stream_id is None:
            if self._task is not None and self._task.done():
                return
            await asyncio.sleep(0.02)
        with contextlib.suppress(TokenwireError):
            await self._stream.cancel()
