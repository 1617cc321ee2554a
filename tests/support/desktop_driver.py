"""Drives ``tokenwire desktop`` in a process of its own (Qt in the pytest process is fragile).

It opens the real window through the product's own launcher, types a prompt into the page, waits
for the answer, and prints one JSON object with what the page showed. Run by
tests/desktop/test_window.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from typing import Any

from tokenwire.config import load_settings
from tokenwire.desktop.launch import launch

FINAL = ("done", "error", "cancelled", "interrupted", "length")
NETWORK_COUNTER = """(() => {
  window.__sockets = 0;
  const Socket = window.WebSocket;
  window.WebSocket = class extends Socket {
    constructor(...args) { super(...args); window.__sockets++; }
  };
  return true;
})()"""
# WebSockets opened since NETWORK_COUNTER ran, and fetches that start or read a stream (the client
# keeps its own reference to fetch, so those are read from the page's resource timing instead).
NETWORK_STREAMS = """window.__sockets === undefined ? 'reloaded' : window.__sockets +
  performance.getEntriesByType('resource')
    .filter((e) => /\\/api\\/(chat|streams\\/[^/]+)$/.test(new URL(e.name).pathname)).length"""
# The answer's text. Not innerText: the app sets `content-visibility: auto` on finished blocks, and
# a block's innerText reads empty until the frame after it was added, when it is found on screen.
ANSWER_TEXT = "document.querySelector('article.assistant .markdown')?.textContent"
# What the page shows, for the report of a failure.
PAGE_SNAPSHOT = """JSON.stringify({url: location.href, reloaded: window.__sockets === undefined,
  transport: document.body.dataset.transport, notice: document.getElementById('notice')?.innerText,
  thread: document.getElementById('thread')?.innerHTML.slice(0, 3000)})"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    parser.add_argument("--url")
    parser.add_argument("--prompt", default="Hello")
    parser.add_argument("--model")
    parser.add_argument("--screenshot")
    parser.add_argument("--resize", help="WxH: resize the window before quitting")
    parser.add_argument("--quit-while-streaming", action="store_true")
    parser.add_argument("--stop-while-streaming", action="store_true", help="the page's Stop")
    parser.add_argument("--reload-while-streaming", action="store_true", help="the menu's Reload")
    parser.add_argument("--kill-renderer", action="store_true", help="after the answer")
    parser.add_argument("--token", help="sign in with it through the page's form first")
    args = parser.parse_args()
    report: dict[str, Any] = {}

    def script(window: Any) -> None:
        from PySide6.QtCore import QEventLoop, QTimer

        def js(code: str, timeout: float = 30.0) -> Any:
            box: list[Any] = []
            loop = QEventLoop()
            window.view.page().runJavaScript(code, 0, lambda r: (box.append(r), loop.quit()))
            QTimer.singleShot(int(timeout * 1000), loop.quit)
            loop.exec()
            if not box:
                raise TimeoutError(f"no answer from the page to {code!r}")
            return box[0]

        def wait_for(code: str, timeout: float = 90.0) -> Any:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                value = js(code)
                if value:
                    return value
                pause = QEventLoop()
                QTimer.singleShot(100, pause.quit)
                pause.exec()
            raise TimeoutError(f"the page never satisfied {code!r}")

        try:
            report["size_at_start"] = [window.width(), window.height()]
            if args.token:
                wait_for("!document.getElementById('login').hidden")
                js(
                    "(() => { document.getElementById('token').value = "
                    f"{json.dumps(args.token)}; document.getElementById('login').requestSubmit();"
                    " return true; })()"
                )
            wait_for("document.querySelectorAll('#model option').length > 0")
            # Count what the page opens on the network for streams from here on: none is expected
            # where the window's bridge carries them.
            js(NETWORK_COUNTER)
            if args.model:
                js(f"document.getElementById('model').value = {json.dumps(args.model)}")
            js(
                "(() => { const i = document.getElementById('input');"
                f" i.value = {json.dumps(args.prompt)};"
                " i.dispatchEvent(new Event('input', {bubbles: true}));"
                " document.getElementById('send').click(); return true; })()"
            )
            if args.stop_while_streaming or args.reload_while_streaming:
                wait_for(ANSWER_TEXT)
                if args.stop_while_streaming:
                    js("document.getElementById('stop').click()")
                else:
                    window.reload_action.trigger()
            if args.quit_while_streaming:
                wait_for(ANSWER_TEXT)
                report["shown_before_quit"] = js(ANSWER_TEXT)
                window.quit_action.trigger()
                return
            # State and text read at once, from one document: after a reload, the new page's
            # (its network counter is gone), as the old one streams on until the new one opens.
            reloaded = "window.__sockets === undefined && " if args.reload_while_streaming else ""
            final = wait_for(
                f"(() => {{ const a = document.querySelector('article.assistant');"
                f" return {reloaded}{json.dumps(list(FINAL))}.includes(a?.dataset.state)"
                f" && JSON.stringify([a.dataset.state, {ANSWER_TEXT}]); }})()"
            )
            report["state"], report["answer"] = json.loads(final)
            report["hash"] = js("location.hash")
            report["transport"] = js("document.body.dataset.transport")
            report["network_streams"] = js(NETWORK_STREAMS)
            report["title"] = window.windowTitle()
            if args.kill_renderer:
                loads: list[bool] = []
                window.view.loadFinished.connect(loads.append)
                os.kill(window.view.page().renderProcessPid(), signal.SIGKILL)
                deadline = time.monotonic() + 60
                while not loads and time.monotonic() < deadline:  # the window loads a new page
                    pause = QEventLoop()
                    QTimer.singleShot(100, pause.quit)
                    pause.exec()
                report["reloaded"] = loads
                report["after_reload"] = wait_for(
                    "document.querySelector('article.assistant')?.dataset.state === 'done'"
                    f" && {ANSWER_TEXT}"
                )
            if args.screenshot:
                wait_for("document.getElementById('stop').hidden")
                pause = QEventLoop()  # the page's last frame reaches the widget a little later
                QTimer.singleShot(800, pause.quit)
                pause.exec()
                report["screenshot"] = window.grab().save(args.screenshot)
            window.new_chat_action.trigger()
            report["after_new_chat"] = wait_for(
                "document.querySelectorAll('#thread article').length === 0"
                " && location.hash !== " + json.dumps(report["hash"]) + " && 'empty'"
            )
            if args.resize:
                width, height = (int(n) for n in args.resize.split("x"))
                window.resize(width, height)
            window.quit_action.trigger()
        except Exception as exc:  # reported, and the window closed, so the test sees why
            report["failure"] = repr(exc)
            with contextlib.suppress(Exception):
                report["page"] = js(PAGE_SNAPSHOT, timeout=5)
            window.close()

    from PySide6.QtCore import QTimer

    def start(window: Any) -> None:
        QTimer.singleShot(0, lambda: script(window))

    settings = None if args.url else load_settings(args.config)
    code = launch(settings, args.url, start)
    report["exit_code"] = code
    from PySide6.QtCore import QCoreApplication

    # Nothing of Qt may be left for the interpreter's exit to destroy: PySide crashes there.
    report["application_left"] = QCoreApplication.instance() is not None
    print(json.dumps(report), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
