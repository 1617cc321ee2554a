"""Graceful shutdown of ``tokenwire serve``: on SIGTERM, answers in flight get a grace period to
finish; those still running after it end with a retryable ``interrupted`` error that their readers
receive, and nothing is left stored as ``streaming``."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from tests.server.test_process import free_port, serve, write_config
from tests.support.servers import ANSWER


def read_answer(base: str, on_event: Callable[[int], None]) -> list[dict[str, object]]:
    """One answer's events, calling ``on_event`` with the count after each."""
    events: list[dict[str, object]] = []
    with httpx.stream("POST", f"{base}/api/chat", json={"message": "hi"}, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(orjson.loads(line[6:]))
                on_event(len(events))
    return events


def read_while_signalled(base: str, process: subprocess.Popen[bytes]) -> list[dict[str, object]]:
    """Read one answer; send SIGTERM once its first tokens have arrived."""
    return read_answer(base, lambda n: process.send_signal(signal.SIGTERM) if n == 3 else None)


def stored_answers(config: Path, port: int) -> list[dict[str, object]]:
    base = f"http://127.0.0.1:{port}"
    with serve(config, port):
        listed = httpx.get(f"{base}/api/conversations").json()["data"]
        return [
            httpx.get(f"{base}/api/conversations/{c['id']}").json()["messages"][1] for c in listed
        ]


def test_answers_that_finish_within_the_grace_period_complete(tmp_path: Path) -> None:
    config, port = write_config(tmp_path, grace=60, tokens_per_second=40), free_port()
    with serve(config, port) as process:
        events = read_while_signalled(f"http://127.0.0.1:{port}", process)
        assert process.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises what it caught
    assert events[-1]["type"] == "done"
    assert "".join(str(e["text"]) for e in events if e["type"] == "delta") == ANSWER
    [answer] = stored_answers(config, port)
    assert (answer["status"], answer["content"]) == ("complete", ANSWER)


def test_answers_past_the_grace_period_end_interrupted_for_their_readers(tmp_path: Path) -> None:
    config, port = write_config(tmp_path, grace=0.5, tokens_per_second=4), free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(config, port) as process:
        # A second reader of another answer, on its own connection, must be told as well.
        other: list[list[dict[str, object]]] = []
        started = threading.Event()
        thread = threading.Thread(
            target=lambda: other.append(read_answer(base, lambda n: started.set()))
        )
        thread.start()
        assert started.wait(30)
        events = read_while_signalled(base, process)
        thread.join(30)
        assert process.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises what it caught
    for stream in (events, other[0]):
        final = stream[-1]
        assert (final["type"], final["code"], final["retryable"]) == ("error", "interrupted", True)
        assert [e["type"] for e in stream].count("error") == 1
    answers = stored_answers(config, port)
    assert len(answers) == 2
    for answer in answers:
        assert answer["status"] == "interrupted"
        assert ANSWER.startswith(str(answer["content"])) and answer["content"] != ANSWER
