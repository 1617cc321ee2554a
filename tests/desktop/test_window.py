"""``tokenwire desktop``: the real window (QtWebEngine, offscreen) on the real server.

Each window runs in a process of its own (tests/support/desktop_driver.py): Qt in the pytest
process is fragile, and a process is also what a user starts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.drivers import qt_offscreen_env, run_driver
from tests.support.servers import ANSWER, run_server

ROOT = Path(__file__).parents[2]
APP_BUILT = (ROOT / "src/tokenwire/static/app/index.html").is_file()
HAS_PYSIDE = importlib.util.find_spec("PySide6") is not None
TEXT = "Hello from the **desktop** window. 你好，世界！"
SHOWN = "Hello from the desktop window. 你好，世界！"
LONG = " ".join(f"word{i}" for i in range(200))

needs_pyside = pytest.mark.skipif(
    not HAS_PYSIDE, reason="PySide6 is not installed (the `desktop` extra)"
)
needs_app = pytest.mark.skipif(
    not APP_BUILT, reason="the web app is not built: run scripts/build-web"
)
pytestmark = pytest.mark.timeout(240)


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return qt_offscreen_env(
        XDG_CONFIG_HOME=str(tmp_path / "config"),  # the remembered window size goes here
        XDG_DATA_HOME=str(tmp_path / "data"),  # the browser profile: cookies, storage
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        # Chromium's sandbox needs user namespaces, which CI containers often lack.
        QTWEBENGINE_DISABLE_SANDBOX="1",
        **extra,
    )


def write_config(
    tmp_path: Path, text: str = TEXT, tokens_per_second: float = 200, grace: float = 10
) -> Path:
    config = tmp_path / "tokenwire.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "tokenwire.db"}"\n'
        f"shutdown_grace_seconds = {grace}\n"
        "[[models]]\n"
        'id = "replay"\nprovider = "replay"\n'
        f"text = {json.dumps(text, ensure_ascii=False)}\ntokens_per_second = {tokens_per_second}\n",
        encoding="utf-8",
    )
    return config


def drive(tmp_path: Path, *args: str) -> dict[str, Any]:
    report, done = run_driver("desktop_driver.py", *args, env=env_for(tmp_path), timeout=180)
    assert "failure" not in report, f"{report}\n{done.stderr}"
    assert report["application_left"] is False  # destroyed before the interpreter's exit
    return report


def stored(tmp_path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(tmp_path / "tokenwire.db") as db:
        rows = db.execute("SELECT role, status, content FROM messages ORDER BY position").fetchall()
    return [(str(r), str(s), str(c)) for r, s, c in rows]


@needs_pyside
@needs_app
def test_window_streams_an_answer_from_the_local_server_and_stores_it(tmp_path: Path) -> None:
    shot = tmp_path / "desktop.png"
    config = write_config(tmp_path)
    report = drive(
        tmp_path, "--config", str(config), "--prompt", "Hi there", "--screenshot", str(shot)
    )
    assert report["state"] == "done"
    assert report["answer"].strip() == SHOWN
    assert report["hash"].startswith("#/c/conv_")
    assert report["after_new_chat"] == "empty"  # the native menu's New chat reached the page
    # The answer came from the in-process hub over QWebChannel: no socket, no stream request.
    assert report["transport"] == "qwebchannel"
    assert report["network_streams"] == 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stored(tmp_path) == [("user", "complete", "Hi there"), ("assistant", "complete", TEXT)]


@needs_pyside
@needs_app
def test_stop_over_the_bridge_cancels_the_answer_and_keeps_what_was_shown(tmp_path: Path) -> None:
    config = write_config(tmp_path, LONG, tokens_per_second=20)
    report = drive(tmp_path, "--config", str(config), "--stop-while-streaming")
    assert report["state"] == "cancelled"
    assert report["transport"] == "qwebchannel"
    role, status, content = stored(tmp_path)[-1]
    assert (role, status) == ("assistant", "cancelled")
    assert 0 < len(content) < len(LONG) and LONG.startswith(content)
    assert " ".join(report["answer"].split()) == " ".join(content.split())


@needs_pyside
@needs_app
def test_a_reload_mid_answer_resumes_it_over_the_new_pages_bridge(tmp_path: Path) -> None:
    config = write_config(tmp_path, LONG, tokens_per_second=40)
    report = drive(tmp_path, "--config", str(config), "--reload-while-streaming")
    assert report["state"] == "done"
    assert report["network_streams"] == "reloaded"  # the counter went with the old page
    assert report["transport"] == "qwebchannel"
    assert " ".join(report["answer"].split()) == LONG, report
    assert stored(tmp_path)[-1] == ("assistant", "complete", LONG)


@needs_pyside
@needs_app
def test_window_size_is_remembered(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    first = drive(tmp_path, "--config", str(config), "--resize", "640x480")
    assert first["size_at_start"] == [1100, 800]
    second = drive(tmp_path, "--config", str(config))
    assert second["size_at_start"] == [640, 480]


@needs_pyside
@needs_app
def test_quitting_while_an_answer_streams_lets_it_finish_and_be_stored(tmp_path: Path) -> None:
    # About eight seconds of answer, and a grace long enough for it on a loaded machine.
    config = write_config(tmp_path, LONG, tokens_per_second=25, grace=120)
    report = drive(tmp_path, "--config", str(config), "--quit-while-streaming")
    assert report["exit_code"] == 0
    assert 0 < len(report["shown_before_quit"]) < len(LONG)  # it was quit mid-answer
    assert stored(tmp_path)[-1] == ("assistant", "complete", LONG)


@needs_pyside
@needs_app
def test_a_crashed_page_process_is_replaced_and_the_conversation_shown_again(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    report = drive(tmp_path, "--config", str(config), "--kill-renderer")
    assert report["reloaded"] == [True]
    assert report["after_reload"].strip() == SHOWN


@needs_pyside
@needs_app
def test_the_sign_in_is_kept_for_the_next_window(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    command = [sys.executable, "-m", "tokenwire.cli", "token", "create", "alice"]
    created = subprocess.run(
        [*command, "--config", str(config)],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = created.stdout.strip()  # the token alone; the note goes to stderr
    first = drive(tmp_path, "--config", str(config), "--token", token, "--prompt", "one")
    assert first["state"] == "done"
    second = drive(tmp_path, "--config", str(config), "--prompt", "two")  # no sign-in form now
    assert second["state"] == "done"
    assert [row[2] for row in stored(tmp_path) if row[0] == "user"] == ["one", "two"]
    # The bridge acted for the signed-in user: the answers are alice's.
    assert first["transport"] == second["transport"] == "qwebchannel"
    with sqlite3.connect(tmp_path / "tokenwire.db") as db:
        owners = {row[0] for row in db.execute("SELECT owner FROM conversations")}
    assert owners == {"alice"}


@needs_pyside
@needs_app
def test_url_shows_a_remote_servers_app(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        report = drive(tmp_path, "--url", server.base_url, "--prompt", "remote?")
    assert report["state"] == "done"
    assert " ".join(report["answer"].split()) == " ".join(ANSWER.split())
    assert report["transport"] == "websocket"  # a remote server's app: no bridge
    assert stored(tmp_path)[-1] == ("assistant", "complete", ANSWER)


def cannot_run(tmp_path: Path, env: dict[str, str]) -> str:
    config = write_config(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "tokenwire.cli", "desktop", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokenwire desktop cannot run here: "), lines
    return lines[0]


def test_without_pyside_it_says_how_to_install_it(tmp_path: Path) -> None:
    # A PySide6 that fails to import the way a missing system library makes it fail.
    fake = tmp_path / "fake" / "PySide6"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        'raise ImportError("libnss3.so: cannot open shared object file")\n', encoding="utf-8"
    )
    env = env_for(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(fake.parent), env["PYTHONPATH"]])
    line = cannot_run(tmp_path, env)
    assert "libnss3.so" in line and "pip install 'tokenwire[desktop]'" in line


@needs_pyside
def test_without_a_display_it_says_so(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    del env["QT_QPA_PLATFORM"]
    if not sys.platform.startswith("linux"):
        pytest.skip("only Linux needs DISPLAY or WAYLAND_DISPLAY")
    assert "QT_QPA_PLATFORM=offscreen" in cannot_run(tmp_path, env)


@needs_pyside
def test_an_unknown_qt_platform_is_named(tmp_path: Path) -> None:
    line = cannot_run(tmp_path, env_for(tmp_path, QT_QPA_PLATFORM="nosuchplatform"))
    assert "QT_QPA_PLATFORM=nosuchplatform" in line and "offscreen" in line


def test_a_url_that_is_not_http_is_refused_before_any_window(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tokenwire.cli", "desktop", "--url", "localhost:8000"],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--url" in done.stderr and "http://" in done.stderr and "Traceback" not in done.stderr


@needs_pyside
@needs_app
def test_sigterm_closes_the_window_and_exits_cleanly(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    window = subprocess.Popen(
        [sys.executable, "-m", "tokenwire.cli", "desktop", "--config", str(config)],
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ini = tmp_path / "config" / "tokenwire" / "desktop.ini"
        db = tmp_path / "tokenwire.db"
        deadline = time.monotonic() + 120
        while not db.exists() and window.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # the embedded server creates the database as it starts
        assert window.poll() is None, window.communicate()
        window.send_signal(signal.SIGTERM)
        _, err = window.communicate(timeout=60)
    finally:
        window.kill()
    assert window.returncode == 0, err
    assert "Traceback" not in err
    assert ini.exists()  # it closed as a window does, saving its geometry
