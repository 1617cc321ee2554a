"""examples/qt_worker on each Qt binding (PySide6, PyQt6, PyQt5), offscreen, against a real
tokenwire server: a QThread streams with tokenwire's Python client and emits a signal per piece
into the window; the answer survives a cut connection (shown whole, once, the question sent once),
Stop cancels it on the server (what was shown is what was stored), and closing the window while it
streams leaves the thread finished.

Each binding runs in a process of its own (tests/support/qt_worker_driver.py), chosen by QT_API.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.drivers import qt_offscreen_env, run_driver
from tests.support.proxy import Cut, Proxy
from tests.support.servers import ANSWER, run_server
from tokenwire.client import Client

pytestmark = pytest.mark.timeout(240)

BINDINGS = {"pyside6": "PySide6 ", "pyqt6": "PyQt6 ", "pyqt5": "PyQt5 "}


def stored_answer(client: Client, conversation_id: str) -> tuple[str, str]:
    [_, answer] = client.conversation(conversation_id)["messages"]
    return answer["status"], answer["content"]


@pytest.mark.parametrize("api", BINDINGS)
def test_the_worker_streams_resumes_stops_and_shuts_down_cleanly(tmp_path: Path, api: str) -> None:
    # The first connection (the question's POST) is cut mid-answer; the rest pass untouched.
    with run_server(tmp_path) as server, Proxy(server.base_url, [Cut(after=600)]) as proxy:
        report, done = run_driver(
            "qt_worker_driver.py",
            "--url",
            server.base_url,
            "--cut-url",
            proxy.base_url,
            env=qt_offscreen_env(QT_API=api),
        )
        assert report["binding"].startswith(BINDINGS[api])

        # Resumed: the cut happened, the client came back with Last-Event-ID, and the window shows
        # the whole answer once; the question was sent once.
        resumed = report["resumed"]
        assert (resumed["status"], resumed["text"]) == ("stop", ANSWER)
        assert proxy.cuts
        assert [r.method for r in proxy.requests if r.path == "/api/chat"] == ["POST"]
        resumes = [r for r in proxy.requests if r.path.startswith("/api/streams/")]
        assert resumes and int(resumes[0].headers["last-event-id"]) >= 1

        with Client(server.base_url) as client:
            # Stopped: cancelled on the server, and the text shown is the text stored.
            stopped = report["stopped"]
            assert stopped["status"] == "cancelled"
            assert stopped["text"] and ANSWER.startswith(stopped["text"])
            assert stored_answer(client, stopped["conversation_id"]) == (
                "cancelled",
                stopped["text"],
            )
            # Closed while streaming: the window waited for its thread, which stopped the answer.
            closed = report["closed"]
            assert closed["thread_finished"] and not closed["thread_running"]
            assert not closed["visible"]
            assert stored_answer(client, closed["conversation_id"])[0] == "cancelled"
    assert "QThread: Destroyed while thread is still running" not in done.stderr
