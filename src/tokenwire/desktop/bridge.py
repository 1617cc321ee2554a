"""The window's own transport: streams from the in-process hub to the page over QWebChannel.

The page's client sends the frames of the WebSocket protocol (:mod:`tokenwire.server.multiplex`)
through the bridge's ``send`` slot. The slot only hands each frame to the embedded server's event
loop, which runs in a worker thread, and returns at once: the window never waits on the hub. The
loop relays every followed stream's events back as one Qt signal per batch (a JSON array of frames),
queued across to the window's thread, where QWebChannel delivers it to the page.

The bridge acts for whoever the page is signed in as, shown by a ticket the page got from the
server with its sign-in cookie (see :mod:`tokenwire.desktop.tickets`). Imported only where Qt can
run (see :mod:`tokenwire.desktop.availability`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from typing import Any

import orjson
from PySide6.QtCore import QFile, QIODevice, QObject, Qt, Signal, Slot
from PySide6.QtWebEngineCore import QWebEngineScript

from tokenwire.desktop.tickets import PATH as TICKET_PATH
from tokenwire.desktop.tickets import Tickets
from tokenwire.server.multiplex import FrameSession, ReaderGone
from tokenwire.server.state import AppState

log = logging.getLogger(__name__)

OBJECT_NAME = "tokenwire"
"""The name the page finds the bridge under: ``channel.objects.tokenwire``."""


class _Crossing(QObject):
    """A signal emitted in the server's thread, received (queued) in the window's."""

    batch = Signal(str)


class _PageSink:
    """Where one page's frames go; closed when the page goes, so nothing reaches the next."""

    def __init__(self, crossing: _Crossing) -> None:
        self.crossing = crossing
        self.lock = threading.Lock()
        self.open = True

    async def send(self, *frames: bytes) -> None:
        text = (b"[" + b",".join(frames) + b"]").decode()
        with self.lock:  # close() waits for an emit under way, so none comes after it
            if not self.open:
                raise ReaderGone
            self.crossing.batch.emit(text)

    def close(self) -> None:
        with self.lock:
            self.open = False


class StreamBridge(QObject):
    """The object the page sees as ``tokenwire``: ``send(ticket, frame)`` in, ``frames(batch)``
    out. (The page's client sees ``send(frame)``: the bootstrap script adds the ticket.)"""

    frames = Signal(str)
    """Server frames for the page, a JSON array of them per batch."""

    def __init__(
        self,
        state: AppState,
        loop: asyncio.AbstractEventLoop,
        tickets: Tickets,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._state = state
        self._loop = loop
        self._tickets = tickets
        self._crossing = _Crossing()
        # Queued: the batch is emitted in the server's thread, and the page is the window's.
        self._crossing.batch.connect(self.frames, Qt.ConnectionType.QueuedConnection)
        self._sink = _PageSink(self._crossing)
        self._session = FrameSession(state, "", self._sink)
        self._closed = False

    @Slot()
    def open(self) -> None:
        """A new page is here (the first, or one after a reload): stop relaying to the last."""
        self._end_session()
        self._sink = _PageSink(self._crossing)
        self._session = FrameSession(self._state, "", self._sink)

    @Slot(str, str)
    def send(self, ticket: str, frame: str) -> None:
        """Act on one client frame, in the server's thread; returns at once."""
        if self._closed:
            return
        self._submit(self._handle(self._session, ticket, frame))

    def close(self, timeout: float = 5.0) -> None:
        """Stop relaying (the generations go on) and wait a little for the readers to end."""
        self._closed = True
        future = self._end_session()
        if future is not None:
            with contextlib.suppress(concurrent.futures.TimeoutError, asyncio.CancelledError):
                future.result(timeout)

    def _end_session(self) -> concurrent.futures.Future[None] | None:
        self._sink.close()
        return self._submit(self._session.close())

    def _submit(self, work: Any) -> concurrent.futures.Future[None] | None:
        try:
            return asyncio.run_coroutine_threadsafe(work, self._loop)
        except RuntimeError:  # the server's loop has stopped: nothing is left to read
            work.close()
            return None

    async def _handle(self, session: FrameSession, ticket: str, frame: str) -> None:
        try:
            owner = await self._tickets.owner(self._state, ticket)
            if owner is None:
                await session.reject(
                    _ref_of(frame), "unauthorized", "sign in first: this server needs an API token"
                )
                return
            await session.handle(frame, owner)
        except ReaderGone:
            pass
        except Exception:
            log.exception("a frame from the page failed")


def _ref_of(frame: str) -> Any:
    try:
        parsed = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    return parsed.get("ref") if isinstance(parsed, dict) else None


# Hands the page a bridge whose `send(frame)` adds the ticket: fetched once with the sign-in
# cookie, and again after a refusal (not signed in yet, say). `then` callbacks run in the order
# they were added, so frames still go out in the order they were sent.
BOOTSTRAP = """
;if (location.origin === ORIGIN && window.qt && window.qt.webChannelTransport) {
  window.tokenwireBridge = new Promise((resolve) =>
    new QWebChannel(qt.webChannelTransport, (channel) => {
      const bridge = channel.objects.OBJECT_NAME;
      bridge.open();
      let ticket = null;
      bridge.frames.connect((batch) => {
        if (batch.includes('"unauthorized"')) ticket = null; // signed out, or a revoked token
      });
      const ticketed = () =>
        (ticket ??= fetch(TICKET_PATH, { method: "POST", credentials: "same-origin" })
          .then((r) => (r.ok ? r.json() : {}))
          .then((body) => (typeof body.ticket === "string" ? body.ticket : ""), () => ""));
      resolve({
        send(frame) {
          ticketed().then((t) => {
            if (!t) ticket = null;
            bridge.send(t, frame);
          });
        },
        frames: bridge.frames,
      });
    }));
}
"""


def bootstrap_script(origin: str) -> QWebEngineScript:
    """Qt's qwebchannel.js and the lines that connect the page to the bridge, injected before the
    page's own scripts run. The page's client finds the bridge as ``globalThis.tokenwireBridge``
    (a promise); only a page of the app's own origin gets it."""
    source = QFile(":/qtwebchannel/qwebchannel.js")
    if not source.open(QIODevice.OpenModeFlag.ReadOnly):
        raise RuntimeError("Qt's qwebchannel.js is missing from this PySide6")
    library = bytes(source.readAll().data()).decode()
    source.close()
    connect = (
        BOOTSTRAP.replace("OBJECT_NAME", OBJECT_NAME)
        .replace("ORIGIN", orjson.dumps(origin).decode())
        .replace("TICKET_PATH", orjson.dumps(TICKET_PATH).decode())
    )
    script = QWebEngineScript()
    script.setName("tokenwire-bridge")
    script.setSourceCode(library + connect)
    script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    script.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)
    script.setRunsOnSubFrames(False)
    return script
