"""The Qt binding, chosen by ``QT_API``: ``pyside6`` (the default), ``pyqt6`` or ``pyqt5``.

The worker and the window import Qt only from here, under one set of names, so the same code runs
on each binding: the bindings differ in what they call a signal (``Signal``/``pyqtSignal``) and a
slot, and PyQt5 runs an event loop with ``exec_`` where the others say ``exec``.
"""

from __future__ import annotations

import os
from typing import Any

API = os.environ.get("QT_API", "pyside6").lower()

if API == "pyside6":
    from PySide6 import QtCore, QtGui, QtWidgets
    from PySide6.QtCore import Signal, Slot

    VERSION = f"PySide6 {QtCore.qVersion()}"
elif API == "pyqt6":
    from PyQt6 import QtCore, QtGui, QtWidgets  # type: ignore[no-redef]
    from PyQt6.QtCore import pyqtSignal as Signal  # type: ignore[assignment]
    from PyQt6.QtCore import pyqtSlot as Slot  # type: ignore[assignment]

    VERSION = f"PyQt6 {QtCore.PYQT_VERSION_STR}"
elif API == "pyqt5":
    from PyQt5 import QtCore, QtGui, QtWidgets  # type: ignore[no-redef]
    from PyQt5.QtCore import pyqtSignal as Signal  # type: ignore[assignment]
    from PyQt5.QtCore import pyqtSlot as Slot  # type: ignore[assignment]

    VERSION = f"PyQt5 {QtCore.PYQT_VERSION_STR}"
else:
    raise ImportError(f"QT_API={API!r}: use pyside6, pyqt6 or pyqt5")


def run_event_loop(app: Any) -> int:
    """``app.exec()``, which PyQt5 spells ``exec_``."""
    run = getattr(app, "exec", None) or app.exec_
    return int(run())


__all__ = ["API", "VERSION", "QtCore", "QtGui", "QtWidgets", "Signal", "Slot", "run_event_loop"]
