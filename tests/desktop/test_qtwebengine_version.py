"""The desktop extra's QtWebEngine is one without the start-up crash of 6.10.1.

QtWebEngine 6.10.1 races in its GPU-info logging while the page process starts and now and then
dies with SIGSEGV (QTBUG-142497, QTBUG-142720; fixed in 6.10.2). That was the rare `make test`
crash of tests/desktop/test_window.py, so the version is a checked fact, not a comment.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
FIXED_IN = (6, 10, 2)


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3])


def test_the_installed_pyside6_has_the_qtwebengine_start_up_fix() -> None:
    installed = importlib.metadata.version("PySide6-Addons")  # QtWebEngine ships in the add-ons
    assert version_tuple(installed) >= FIXED_IN, (
        f"PySide6-Addons {installed} carries QtWebEngine's start-up crash; the desktop extra pins "
        f"a version from {'.'.join(map(str, FIXED_IN))} on"
    )


def test_the_desktop_extra_pins_a_fixed_version() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (pin,) = [
        dep for dep in pyproject["project"]["optional-dependencies"]["desktop"] if "PySide6" in dep
    ]
    name, _, version = pin.partition("==")
    assert name == "PySide6" and version_tuple(version) >= FIXED_IN, pin
