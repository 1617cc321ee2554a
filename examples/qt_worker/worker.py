"""A QThread that streams one answer with tokenwire's Python client and emits a signal per piece.

The seed's pattern is a ``QThread`` whose ``run`` reads the model's stream and emits a signal per
chunk; done by hand it breaks in three places, each handled here:

- **Stop** that only sets a flag leaves the model generating (and billing) upstream, and the flag
  is read only when the next chunk comes. ``stop()`` cancels the generation on the server (from a
  thread of its own, so the window never waits on the network); the stream then ends with
  ``done``/``cancelled``, and the text shown so far is what the server stored.
- **A dropped connection** ends the hand-made loop with an exception and a half answer. The client
  reconnects by itself with ``Last-Event-ID`` and goes on after the last event it had: no piece is
  shown twice, none is lost, and the question is never sent twice.
- **Quitting while it streams** destroys a running ``QThread`` (a crash). ``shutdown()`` stops the
  answer and waits for ``run`` to return, so the thread has finished before the window goes.

The signals are emitted from the worker thread and delivered to slots in the window's thread
(Qt queues them across threads), so the window never calls ``processEvents``.
"""

from __future__ import annotations

import threading

import httpx

from examples.qt_worker.qt import QtCore, Signal
from tokenwire.client import Client, TokenwireError

# How long shutdown() waits for the server to confirm a cancel and the stream to end.
SHUTDOWN_WAIT_MS = 10_000


class AnswerThread(QtCore.QThread):  # type: ignore[misc]
    named = Signal(str, str)  # stream_id, conversation_id: the answer has started
    delta = Signal(str)  # a piece of the answer
    reasoning = Signal(str)  # a piece of the model's reasoning
    ended = Signal(str, str)  # "done", "cancelled", "length", "error"...; the error's message

    def __init__(self, base_url: str, message: str, *, model: str | None = None) -> None:
        super().__init__()
        self.base_url = base_url
        self.message = message
        self.model = model
        self.stream_id: str | None = None
        self._stop = threading.Event()
        self._cancel_sent = False
        self._lock = threading.Lock()

    def run(self) -> None:
        try:
            with Client(self.base_url) as client, client.chat(self.message, model=self.model) as s:
                for event in s:
                    if event.type == "start":
                        self.stream_id = s.stream_id
                        self.named.emit(s.stream_id or "", s.conversation_id or "")
                        if self._stop.is_set():  # stopped before the server named the stream
                            self._send_cancel()
                    elif event.type == "delta":
                        self.delta.emit(event.payload.text)  # type: ignore[union-attr]
                    elif event.type == "reasoning":
                        self.reasoning.emit(event.payload.text)  # type: ignore[union-attr]
                if s.error is not None:
                    self.ended.emit("error", f"{s.error.code}: {s.error.message}")
                else:
                    self.ended.emit(s.finish_reason or "done", "")
        except TokenwireError as exc:  # refused, or the connection could not be got back
            self.ended.emit("error", str(exc))

    def stop(self) -> None:
        """Stop the answer on the server; ``ended`` follows with ``cancelled``."""
        self._stop.set()
        if self.stream_id is not None:
            threading.Thread(target=self._send_cancel, daemon=True).start()

    def shutdown(self) -> bool:
        """Stop, and wait until ``run`` has returned; False if it did not in time."""
        if self.isRunning():
            self.stop()
        return bool(self.wait(SHUTDOWN_WAIT_MS))

    def _send_cancel(self) -> None:
        with self._lock:
            if self._cancel_sent or self.stream_id is None:
                return
            self._cancel_sent = True
        try:
            with Client(self.base_url) as client:
                client.cancel(self.stream_id)
        except (TokenwireError, httpx.HTTPError):
            pass  # the server is unreachable: the stream ends when the client gives up on it
