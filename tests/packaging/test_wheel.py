"""The installed wheel is the whole product: run from a throwaway virtualenv, in a directory away
from the checkout, it serves the chat app with the bundled model, chats in the terminal, opens the
desktop window and names its version (the build: tests/packaging/conftest.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest

import tokenwire
from tests.packaging.conftest import ROOT, Installed
from tests.support.scaleout import serve
from tests.support.web_support import chromium

# The first caller builds and installs (about two minutes on 2 cores, more under load).
pytestmark = pytest.mark.timeout(900)


def product(installed: Installed, *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [str(installed.venv / "bin/tokenwire"), *args],
        cwd=installed.elsewhere,
        env=installed.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def config(tmp_path: Path) -> Path:
    """No models named, so the bundled local model; the conversations in a file of this test's."""
    path = tmp_path / "tokenwire.toml"
    path.write_text(f'database_url = "sqlite:///{tmp_path / "tokenwire.db"}"\n', encoding="utf-8")
    return path


def test_both_artifacts_carry_the_built_web_app(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as sdist:
        in_sdist = {Path(*Path(n).parts[1:]).as_posix() for n in sdist.getnames()}
    with zipfile.ZipFile(installed.wheel) as wheel:
        in_wheel = set(wheel.namelist())
    assert "src/tokenwire/static/app/index.html" in in_sdist
    assert "tokenwire/static/app/index.html" in in_wheel
    scripts = [n for n in in_wheel if n.startswith("tokenwire/static/app/app-")]
    assert any(n.endswith(".js") for n in scripts) and any(n.endswith(".css") for n in scripts)
    assert "LICENSE" in in_sdist and "tokenwire-" in installed.wheel.name


def test_the_installed_package_is_imported_from_the_venv_and_names_its_version(
    installed: Installed,
) -> None:
    assert product(installed, "--version") == f"tokenwire, version {tokenwire.__version__}\n"
    found = subprocess.run(
        [str(installed.venv / "bin/python"), "-c", "import tokenwire; print(tokenwire.__file__)"],
        cwd=installed.elsewhere,
        env=installed.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(found).is_relative_to(installed.venv), found
    assert not Path(found).is_relative_to(ROOT), found


def test_serve_streams_the_local_models_answer_into_the_chat_app_in_chromium(
    installed: Installed, tmp_path: Path
) -> None:
    program = [str(installed.venv / "bin/tokenwire")]
    started = serve(
        config(tmp_path), "wheel", program=program, env=installed.env(), cwd=installed.elsewhere
    )
    with started as server, chromium() as context:
        health = httpx.get(f"{server.base}/healthz", timeout=10).json()
        assert health["version"] == tokenwire.__version__
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(server.base)
        page.wait_for_selector("#model option", state="attached")
        page.fill("#input", "Name three colours.")
        page.press("#input", "Enter")
        page.wait_for_function(
            "() => document.querySelector('article.assistant')?.dataset.state === 'done'",
            timeout=120_000,
        )
        shown = page.locator("article.assistant .markdown").text_content() or ""
        (listed,) = httpx.get(f"{server.base}/api/conversations", timeout=10).json()["data"]
        stored = httpx.get(f"{server.base}/api/conversations/{listed['id']}", timeout=10).json()
    assert problems == []
    assert shown.strip(), "the page showed no answer"
    answer = stored["messages"][-1]
    assert answer["role"] == "assistant" and answer["status"] == "complete", answer
    assert answer["content"].strip()


def test_chat_reaches_the_served_wheel_through_url(installed: Installed, tmp_path: Path) -> None:
    program = [str(installed.venv / "bin/tokenwire")]
    with serve(
        config(tmp_path), "wheel", program=program, env=installed.env(), cwd=installed.elsewhere
    ) as server:
        answer = product(installed, "chat", "--url", server.base, "Say hello.")
        listed = product(installed, "history", "--url", server.base)
    assert answer.strip()
    assert "Say hello." in listed


def test_desktop_window_shows_the_local_models_answer(installed: Installed, tmp_path: Path) -> None:
    # The repository's driver, copied away from the checkout: it imports only the installed
    # tokenwire and PySide6 (the desktop extra).
    driver = shutil.copy(ROOT / "tests/support/desktop_driver.py", tmp_path / "driver.py")
    done = subprocess.run(
        [str(installed.venv / "bin/python"), driver, "--config", str(config(tmp_path))],
        cwd=installed.elsewhere,
        env=installed.env(
            DISPLAY="",
            WAYLAND_DISPLAY="",
            QT_QPA_PLATFORM="offscreen",
            XDG_CONFIG_HOME=str(tmp_path / "config"),
            XDG_DATA_HOME=str(tmp_path / "data"),
            XDG_CACHE_HOME=str(tmp_path / "cache"),
            QTWEBENGINE_DISABLE_SANDBOX="1",  # no user namespaces in CI containers
        ),
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    report = json.loads(lines[-1])
    assert report.get("failure") is None, report
    assert report["state"] == "done" and report["answer"].strip(), report
