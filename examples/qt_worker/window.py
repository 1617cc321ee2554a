"""A small window: a question, Send and Stop, and the answer growing as the worker's signals come.

Each piece is inserted at the end of the document through one ``QTextCursor`` kept there: the cost
of a piece is the piece, not the whole answer so far (``setPlainText(text_so_far)`` on every chunk,
the usual first version, re-lays out the whole answer each time).
"""

from __future__ import annotations

from typing import Any

from examples.qt_worker.qt import QtGui, QtWidgets
from examples.qt_worker.worker import AnswerThread


class ChatWindow(QtWidgets.QWidget):  # type: ignore[misc]
    def __init__(self, base_url: str, *, model: str | None = None) -> None:
        super().__init__()
        self.base_url = base_url
        self.model = model
        self.worker: AnswerThread | None = None
        self.conversation_id = ""  # where the server stores the latest answer
        self.setWindowTitle("tokenwire: Qt worker")
        self.question = QtWidgets.QLineEdit()
        self.send = QtWidgets.QPushButton("Send")
        self.stop = QtWidgets.QPushButton("Stop")
        self.stop.setEnabled(False)
        self.answer = QtWidgets.QPlainTextEdit()
        self.answer.setReadOnly(True)
        self.status = QtWidgets.QLabel("idle")
        layout = QtWidgets.QVBoxLayout(self)
        for widget in (self.question, self.send, self.stop, self.answer, self.status):
            layout.addWidget(widget)
        self._end = QtGui.QTextCursor(self.answer.document())
        self.send.clicked.connect(self.ask)
        self.stop.clicked.connect(self.stop_answer)

    def ask(self) -> None:
        if self.worker is not None and self.worker.isRunning():
            return
        self.answer.clear()
        self._end = QtGui.QTextCursor(self.answer.document())
        self.status.setText("streaming")
        self.send.setEnabled(False)
        self.stop.setEnabled(True)
        self.worker = AnswerThread(self.base_url, self.question.text(), model=self.model)
        self.worker.named.connect(self.on_named)
        self.worker.delta.connect(self.append)
        self.worker.ended.connect(self.on_ended)
        self.worker.start()

    def on_named(self, stream_id: str, conversation_id: str) -> None:
        self.conversation_id = conversation_id

    def append(self, text: str) -> None:
        self._end.insertText(text)  # the cursor stays at the end: nothing else is re-laid out

    def stop_answer(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def on_ended(self, state: str, detail: str) -> None:
        self.status.setText(f"{state}: {detail}" if detail else state)
        self.send.setEnabled(True)
        self.stop.setEnabled(False)

    def closeEvent(self, event: Any) -> None:
        # Never let a running QThread be destroyed: stop the answer and wait for the thread.
        if self.worker is not None:
            self.worker.shutdown()
        super().closeEvent(event)


def main() -> int:
    """``python -m examples.qt_worker.window [URL]``: against ``tokenwire serve``."""
    import sys

    from examples.qt_worker.qt import run_event_loop

    app = QtWidgets.QApplication(sys.argv)
    window = ChatWindow(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
    window.resize(640, 480)
    window.show()
    return run_event_loop(app)


if __name__ == "__main__":
    raise SystemExit(main())
