"""``tokenwire desktop``: check that a window can open, start the server if local, show the app."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from tokenwire.config import Settings
from tokenwire.desktop.availability import prepare_environment, problem
from tokenwire.desktop.embedded import EmbeddedServer, EmbeddedServerError

if TYPE_CHECKING:
    from tokenwire.desktop.window import DesktopWindow


def launch(
    settings: Settings | None,
    url: str | None,
    on_window: Callable[[DesktopWindow], None] | None = None,
) -> int:
    """Show the window until it closes; returns the exit status. ``settings``: when no ``url``."""
    prepare_environment(os.environ)
    reason = problem()
    if reason is not None:
        print(f"tokenwire desktop cannot run here: {reason}", file=sys.stderr)
        return 1
    from tokenwire.desktop.window import run_window

    # Ctrl-C or SIGTERM while the server starts: remembered, and the window closes once it opens.
    signals: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, _: signals.append(number))

    def stop_requested() -> bool:
        return bool(signals)

    if url is not None:
        return run_window(url.rstrip("/") + "/", on_window, stop_requested)
    assert settings is not None
    server = EmbeddedServer(settings)
    try:
        base = server.start()
    except EmbeddedServerError as exc:
        print(f"tokenwire desktop: {exc}", file=sys.stderr)
        return 1
    try:
        return run_window(base + "/", on_window, stop_requested, local=server)
    finally:
        server.stop()  # running answers finish and are stored first
