"""Where ``tokenwire chat`` and ``tokenwire history`` get their answers: a remote server, or the
server's own app run in this process from the same configuration as ``tokenwire serve``.

Both are spoken to through the same ``AsyncClient``, so the terminal has one code path, and a
stream from a remote server resumes by itself after a dropped connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from tokenwire.client import AsyncClient
from tokenwire.config import load_settings
from tokenwire.terminal.inprocess import StreamingASGITransport, running_app

IN_PROCESS_URL = "http://tokenwire.in-process"


@contextlib.asynccontextmanager
async def open_client(
    *, url: str | None, token: str | None, config_file: str | None
) -> AsyncIterator[AsyncClient]:
    """A client for ``url``, or for an app built from the configuration when ``url`` is None.

    Raises ``ConfigError`` when the configuration cannot be used.
    """
    if url:
        async with AsyncClient(url, token=token) as client:
            yield client
        return
    from tokenwire.server.app import create_app  # only the in-process mode needs the server

    app = create_app(load_settings(config_file))
    async with (
        running_app(app),
        AsyncClient(IN_PROCESS_URL, token=token, transport=StreamingASGITransport(app)) as client,
    ):
        yield client
