"""A real terminal for tests: a command run in a tmux pane, whose screen the test reads.

tmux emulates the terminal, so what ``screen()`` returns is what a person would see, scrollback
included, not the raw bytes the program wrote.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


def tokenwire_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tokenwire.cli", *args]


def base_env(tmp_path: Path) -> dict[str, str]:
    """The test's environment, with tokenwire's data directory and prompt history in tmp_path."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "OPENAI_API_KEY": "",
        "TERM": "xterm-256color",
        "COLORTERM": "",
        "NO_COLOR": "",
    }


class Pane:
    def __init__(
        self, tmp_path: Path, command: list[str], *, width: int = 100, height: int = 30
    ) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed: run scripts/setup-services")
        self._socket = f"tw-{uuid.uuid4().hex[:12]}"
        config = tmp_path / "tmux.conf"
        config.write_text(f"set -g history-limit 100000\nset -g default-size {width}x{height}\n")
        # The shell records the exit status and keeps the pane open for reading. (tmux's own
        # remain-on-exit sometimes leaves the dead command unreaped, its status unknown.) It
        # traps Ctrl-C so as to outlive it; the command, not inheriting a trap, gets it as usual.
        self._status = tmp_path / f"exit-status-{self._socket}"
        script = f'trap : INT; "$@"; echo $? > {self._status}; exec sleep 3600'
        wrapped = ["exec", "sh", "-c", script, "sh", *command]
        env = base_env(tmp_path)
        self._env = {k: v for k, v in env.items() if k not in ("LINES", "COLUMNS")}
        env_args = [
            arg
            for key in ("PYTHONPATH", "XDG_DATA_HOME", "OPENAI_API_KEY", "TERM")
            for arg in ("-e", f"{key}={env[key]}")
        ]
        self._tmux(
            "-f",
            str(config),
            "new-session",
            "-d",
            "-x",
            str(width),
            "-y",
            str(height),
            *env_args,
            "-s",
            "t",
            shlex.join(wrapped),
        )

    def _tmux(self, *args: str) -> str:
        # The server's environment is the first client's; C-level LINES and COLUMNS that some
        # library set in this process (not in os.environ) must not reach the command.
        result = subprocess.run(
            ["tmux", "-L", self._socket, *args],
            capture_output=True,
            text=True,
            check=True,
            env=self._env,
        )
        return result.stdout

    def screen(self, *, history: bool = False, colours: bool = False) -> str:
        """The visible screen, or with ``history`` the scrollback too; wrapped lines kept apart."""
        args = ["capture-pane", "-p", "-t", "t"]
        if history:
            args += ["-S", "-"]
        if colours:
            args.append("-e")
        return self._tmux(*args)

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "t", "-l", text)

    def wait_for(
        self,
        condition: str | Callable[[str], bool],
        *,
        timeout: float = 60.0,
        history: bool = False,
    ) -> str:
        check = condition if callable(condition) else (lambda s: condition in s)
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(history=history)
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {condition!r}; screen:\n{screen}")
            time.sleep(0.1)

    def exit_status(self, timeout: float = 60.0) -> int:
        """Wait for the command to end; its exit status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self._status.read_text() if self._status.exists() else ""
            if status.endswith("\n"):
                return int(status)
            if time.monotonic() > deadline:
                raise AssertionError(f"the command did not end; screen:\n{self.screen()}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self._socket, "kill-server"], capture_output=True)
