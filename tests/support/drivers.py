"""Running a driver script (tests/support/*_driver.py) in a process of its own, and reading the
JSON report it prints last. Qt in the pytest process is fragile, and a process is also what a user
starts; the desktop window, its bridge and examples/qt_worker are driven this way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]


def qt_offscreen_env(**extra: str) -> dict[str, str]:
    """This environment without a display, Qt offscreen, tokenwire and the tests importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(
        QT_QPA_PLATFORM="offscreen", PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    )
    env.update(extra)
    return env


def run_driver(
    driver: str, *args: str, env: dict[str, str], timeout: float = 150
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """Run ``tests/support/<driver>`` with ``args``; its last JSON line, and the finished process.
    A driver that fails or prints no report fails the test with its output."""
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", str(ROOT / "tests/support" / driver), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    report: dict[str, Any] = json.loads(lines[-1])
    return report, done
