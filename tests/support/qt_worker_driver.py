"""Drives examples/qt_worker in a process of its own, on the binding ``QT_API`` names, offscreen.

Three questions in one window, each waited for by what the window shows, never by a sleep:

1. ``resumed``: asked through the cutting proxy (``--cut-url``), whose first connection drops
   mid-answer; the client resumes and the window must show the whole answer once.
2. ``stopped``: Stop pressed at the first piece shown; the answer ends ``cancelled``.
3. ``closed``: the window closed at the first piece shown, while the thread streams; closing must
   leave the thread finished (a running QThread destroyed is a crash).

Prints one JSON object with what the window showed. Run by tests/examples/test_qt_worker.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from examples.qt_worker.qt import VERSION, QtCore, QtWidgets
from examples.qt_worker.window import ChatWindow

WAIT = 60.0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Run the event loop until ``condition`` holds (checked as events are processed)."""
    deadline = time.monotonic() + WAIT
    loop = QtCore.QEventLoop()
    timer = QtCore.QTimer()
    timer.timeout.connect(lambda: loop.quit() if condition() else None)
    timer.start(10)
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {WAIT} s for {what}")
        loop.exec() if hasattr(loop, "exec") else loop.exec_()
    timer.stop()


def ended(window: ChatWindow) -> bool:
    return window.status.text() != "streaming" and window.send.isEnabled()


def ask(window: ChatWindow, question: str, model: str, on_first_piece: Callable[[], None]) -> None:
    fired: list[bool] = []

    def first_piece() -> None:
        if not fired and window.answer.toPlainText():
            fired.append(True)
            on_first_piece()

    window.answer.textChanged.connect(first_piece)
    window.model = model
    window.question.setText(question)
    window.send.click()
    wait_until(lambda: bool(fired) or ended(window), "the first piece")
    window.answer.textChanged.disconnect(first_piece)


def shown(window: ChatWindow) -> dict[str, Any]:
    return {
        "text": window.answer.toPlainText(),
        "status": window.status.text(),
        "conversation_id": window.conversation_id,
    }


def scenarios(url: str, cut_url: str) -> dict[str, Any]:
    report: dict[str, Any] = {"binding": VERSION}
    window = ChatWindow(cut_url)
    window.show()
    ask(window, "resume me", "slow", lambda: None)
    wait_until(lambda: ended(window), "the resumed answer's end")
    report["resumed"] = shown(window)

    window.base_url = url
    ask(window, "stop me", "crawl", window.stop.click)
    wait_until(lambda: ended(window), "the stopped answer's end")
    report["stopped"] = shown(window)

    # closeEvent stops the answer and waits for the thread.
    ask(window, "close me", "crawl", window.close)
    worker = window.worker
    assert worker is not None
    report["closed"] = {
        "thread_finished": worker.isFinished(),
        "thread_running": worker.isRunning(),
        "visible": window.isVisible(),
        "conversation_id": window.conversation_id,
    }
    return report


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="the tokenwire server")
    parser.add_argument("--cut-url", required=True, help="the cutting proxy in front of it")
    args = parser.parse_args()
    app = QtWidgets.QApplication(sys.argv[:1])
    report = scenarios(args.url, args.cut_url)  # the window is gone when this returns
    app.quit()
    del app
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
