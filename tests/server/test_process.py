"""``tokenwire serve`` as a real process: configuration, and what survives its death."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.servers import ANSWER
from tests.support.services import free_port


def write_config(tmp_path: Path, grace: float = 0.5, tokens_per_second: float = 8) -> Path:
    config = tmp_path / "tokenwire.toml"
    config.write_text(
        f"""
database_url = "sqlite:///{tmp_path / "tw.db"}"
shutdown_grace_seconds = {grace}

[[models]]
id = "crawl"
provider = "replay"
text = "{ANSWER}"
tokens_per_second = {tokens_per_second}

[[models]]
id = "held"
provider = "python"
entry = "tests.support.model_functions:held"
""",
        encoding="utf-8",
    )
    return config


@contextmanager
def serve(config: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "tokenwire.cli",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "OPENAI_API_KEY": ""}
    log = config.with_suffix(".log")
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def start_answer(base: str, body: dict[str, str] | None = None) -> dict[str, str]:
    """Start a slow answer, read its start event, and return it once the growing answer has been
    stored with some text (the store's one-second flush)."""
    body = body or {"message": "hi"}
    with httpx.stream("POST", f"{base}/api/chat", json=body, timeout=10) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                start: dict[str, str] = httpx.Response(200, content=line[6:]).json()
                break
    while not stored_answer(base, start["conversation_id"])["content"]:
        time.sleep(0.05)
    return start


def stored_answer(base: str, conversation_id: str) -> dict[str, str]:
    conversation = httpx.get(f"{base}/api/conversations/{conversation_id}").json()
    answer: dict[str, str] = conversation["messages"][1]
    return answer


def test_sigkill_mid_answer_leaves_the_partial_text_marked_interrupted(tmp_path: Path) -> None:
    config, port = write_config(tmp_path), free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(config, port) as process:
        start = start_answer(base)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    with serve(config, port):
        answer = stored_answer(base, start["conversation_id"])
    assert answer["status"] == "interrupted"
    assert answer["content"] and ANSWER.startswith(answer["content"])
    assert answer["content"] != ANSWER


def test_sigterm_mid_answer_stores_it_as_interrupted(tmp_path: Path) -> None:
    config, port = write_config(tmp_path), free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(config, port) as process:
        start = start_answer(base)
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it caught
    with serve(config, port):
        answer = stored_answer(base, start["conversation_id"])
    assert (answer["status"], answer["error_code"]) == ("interrupted", "interrupted")
    assert answer["content"] and ANSWER.startswith(answer["content"])


def test_a_bad_config_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[models]]\nid = 'x'\nprovider = 'magic'\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "tokenwire.cli", "serve", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "provider must be one of" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_in_process_command_beside_a_running_server_leaves_its_answer_alone(
    tmp_path: Path,
) -> None:
    config, port = write_config(tmp_path), free_port()
    base = f"http://127.0.0.1:{port}"
    gate = tmp_path / "gate"  # the answer streams until this file exists
    with serve(config, port):
        start = start_answer(base, {"message": str(gate), "model": "held"})
        # `tokenwire history` runs the server's app in its own process, on the same database.
        listed = subprocess.run(
            [sys.executable, "-m", "tokenwire.cli", "history", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "OPENAI_API_KEY": ""},
        )
        assert listed.returncode == 0, listed.stderr
        assert start["conversation_id"] in listed.stdout
        assert stored_answer(base, start["conversation_id"])["status"] == "streaming"
        gate.touch()
        deadline = time.monotonic() + 60
        while (answer := stored_answer(base, start["conversation_id"]))["status"] == "streaming":
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert answer["status"] == "complete"
    assert re.fullmatch(r"(tick )+the end\.", answer["content"]), answer["content"]
