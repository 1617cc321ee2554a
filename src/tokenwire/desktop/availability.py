"""Whether QtWebEngine can open a window here, decided before Qt can abort the process.

Qt ends the process (``qFatal``, a core dump) when it finds no usable display or platform plugin,
so those are checked first, and a missing library shows up as an ImportError of the PySide6
module that links it. Each problem becomes one line for the user.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

INSTALL_HINT = "install it with: pip install 'tokenwire[desktop]'"


def prepare_environment(env: MutableMapping[str, str]) -> None:
    """Settings QtWebEngine needs before it loads."""
    # Chromium's sandbox refuses to run as root; a user who runs as root has chosen that already.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    # The offscreen platform has no GPU; without this, Chromium logs GPU failures on every start.
    if env.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        flags = env.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--disable-gpu" not in flags:
            env["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} --disable-gpu".strip()


def problem(env: Mapping[str, str] | None = None) -> str | None:
    """Why the desktop window cannot open here, or None when it can."""
    env = os.environ if env is None else env
    try:
        import PySide6.QtCore  # noqa: F401
    except ImportError as exc:
        return f"PySide6 is not installed or does not load ({exc}); {INSTALL_HINT}"
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip()
    available = _platform_plugins(env)
    if platform:
        if available and platform not in available:
            names = ", ".join(sorted(available))
            return f"QT_QPA_PLATFORM={platform} is not a Qt platform here (available: {names})"
    elif sys.platform.startswith("linux") and not (
        env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")
    ):
        return (
            "no display (neither DISPLAY nor WAYLAND_DISPLAY is set); "
            "set QT_QPA_PLATFORM=offscreen to run without one"
        )
    try:
        from PySide6 import QtWebChannel, QtWebEngineCore, QtWebEngineWidgets  # noqa: F401
    except ImportError as exc:
        return f"QtWebEngine does not load ({exc}); {INSTALL_HINT}"
    return None


def _platform_plugins(env: Mapping[str, str]) -> set[str]:
    """Names of the platform plugins Qt would find (libqoffscreen.so -> offscreen)."""
    from PySide6.QtCore import QLibraryInfo

    dirs = [Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))]
    dirs += [Path(p) for p in env.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
    names: set[str] = set()
    for folder in dirs:
        for lib in (folder / "platforms").glob("*q*.*"):
            stem = lib.name.split(".")[0]
            name = stem.removeprefix("lib").removeprefix("q")
            names.add(name)
            if name.startswith("wayland"):  # libqwayland-egl.so and friends all answer to wayland
                names.add("wayland")
    return names
