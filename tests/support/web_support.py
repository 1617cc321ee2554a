"""What the browser tests share: Debian's Chromium under Playwright, a long markdown answer, and a
loopback TCP proxy whose connections a test can cut to drop the network under a streaming page."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # Background tabs must keep painting: the multi-tab test streams into eight at once.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
APP_BUILT = (Path(__file__).parents[2] / "src/tokenwire/static/app/index.html").is_file()

needs_browser = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium is not installed (make test installs it)"
)

MARKDOWN_ANSWER = """# A streamed answer

Streaming works. 你好，世界！这是一个很长的中文句子，用来检查被拆开的字符。Emoji too: 🌍👩‍💻.

- first **point**
- second point with `inline code`
- third point

| language | year | typed |
|:---------|-----:|:-----:|
| Python   | 1991 | no    |
| Rust     | 2015 | yes   |

```python
def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)
```

> A quotation, with a [link](https://example.com/docs).

1. one
2. two

```js
const answer = 42;
console.log(answer);
```

The end. 完。
"""


@contextlib.contextmanager
def chromium(**context_args: Any) -> Iterator[Any]:
    """A fresh browser context in Debian's Chromium (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(**context_args)
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()
            browser.close()


class CuttableProxy:
    """Forwards a loopback port to the server; ``cut()`` drops every open connection at once."""

    def __init__(self, target_port: int, *, refuse_websockets: bool = False) -> None:
        self.target_port = target_port
        self.refuse_websockets = refuse_websockets
        self.refused = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.every: list[socket.socket] = []  # closed with the proxy
        self.resetting: set[socket.socket] = set()  # cut: their pipes close them with a reset
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            head = b""
            if self.refuse_websockets:  # like a proxy that does not pass WebSocket upgrades
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        if not (data := client.recv(65536)):
                            break
                        head += data
                if b"upgrade: websocket" in head.lower():
                    self.refused += 1
                    client.close()
                    continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            if head:
                upstream.sendall(head)
            with self.lock:
                self.sockets += [client, upstream]
                self.every += [client, upstream]
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with self.lock:
            reset = src in self.resetting
        for s in (src, dst):
            with contextlib.suppress(OSError):
                if reset:
                    s.close()  # with SO_LINGER 0: a reset
                else:
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> int:
        """Reset every connection open now; new ones are accepted again. Returns how many."""
        with self.lock:
            open_now, self.sockets = self.sockets, []
            self.resetting.update(open_now)
        for s in open_now:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: a reset, as when a network drops, not a polite close.
                s.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                # A socket closed while its pipe thread waits in recv() stays open until that
                # returns (the thread holds it), and then sends nothing at all: the reader would
                # only notice the silence, at its idle timeout. This wakes the thread instead,
                # which closes the socket.
                s.shutdown(socket.SHUT_RD)
        return len(open_now) // 2

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way
        self.listener.close()
        self.cut()
        with self.lock:
            every, self.every = self.every, []
        for s in every:
            s.close()
