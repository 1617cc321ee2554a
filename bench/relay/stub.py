"""The upstream for the relay benchmark: an OpenAI-compatible chat endpoint on raw asyncio.

Every chunk is a real ``chat.completion.chunk`` of about 250 bytes on the wire whose text starts
with ``ts:<16 digits>``, the system-wide monotonic clock in microseconds at the moment it was
written, so a reader anywhere on the machine computes the latency added on the way.

What a request gets is read from its last message, ``chunks=N rate=R hold=H``: N content chunks,
R per second per stream (0: as fast as the socket takes them), and with ``hold=1`` only the
first chunk, then nothing until the client leaves (an idle stream). Paced streams are written by
one ticker for all of them, so 1,000 paced streams cost 1,000 writes per tick, not 1,000 timers.

Run: ``python -m bench.relay.stub --port 9100``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Callable

_PARAMS = re.compile(rb"chunks=(\d+) rate=([\d.]+) hold=(\d)")
_FILLER = "lorem ipsum dolor sit amet consectetur "  # the text after the stamp
_HEAD = (
    b'data: {"id":"chatcmpl-bench0000000000000000000","object":"chat.completion.chunk",'
    b'"created":1760000000,"model":"bench",'
    b'"choices":[{"index":0,"delta":{"content":"'
)
_TAIL = b'"},"logprobs":null,"finish_reason":null}]}\n\n'
_TEXT_BYTES = 250 - len(_HEAD) - len(_TAIL) - len("ts:0000000000000000 ")
_END = (
    b'data: {"id":"chatcmpl-bench0000000000000000000","object":"chat.completion.chunk",'
    b'"created":1760000000,"model":"bench","choices":[{"index":0,"delta":{},'
    b'"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"chatcmpl-bench0000000000000000000","object":"chat.completion.chunk",'
    b'"created":1760000000,"model":"bench","choices":[],'
    b'"usage":{"prompt_tokens":10,"completion_tokens":1,"total_tokens":11}}\n\n'
    b"data: [DONE]\n\n"
)
_RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-store\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
TICK = 0.002  # seconds between two ticks of the pacer


def _now_us() -> int:
    return time.monotonic_ns() // 1000


def _text(n: int) -> bytes:
    words = (_FILLER * (n // len(_FILLER) + 2))[:n]
    return words.encode()


assert _TEXT_BYTES >= 20, "the envelope leaves no room for text"
_PAD = _text(_TEXT_BYTES)


def event(stamp_us: int) -> bytes:
    """One SSE chunk of about 250 bytes, stamped with ``stamp_us``."""
    return b"%sts:%016d %s%s" % (_HEAD, stamp_us, _PAD, _TAIL)


def chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(body), body)


class Pacer:
    """Writes one chunk to each paced stream every 1/rate seconds, from one ticker task."""

    def __init__(self) -> None:
        # Streams are spread over the ticks of one period, so the writes are even in time.
        self._slots: dict[int, list[_Paced]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, paced: _Paced) -> None:
        slots = max(1, round(paced.period / TICK))
        slot = (id(paced) >> 4) % slots
        self._slots.setdefault(slots, [])
        paced.slot, paced.slots = slot, slots
        self._slots[slots].append(paced)
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = 0
        while True:
            tick += 1
            delay = start + tick * TICK - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            # One stamp per tick: the writes of one tick happen within microseconds of each other.
            data = chunked(event(_now_us()))
            for slots, streams in self._slots.items():
                phase = tick % slots
                keep = []
                for paced in streams:
                    try:
                        if paced.slot == phase and not paced.step(data):
                            continue
                    except Exception:  # a reader that left: its transport refuses writes
                        if not paced.done.done():
                            paced.done.set_result(None)
                        continue
                    keep.append(paced)
                streams[:] = keep


class _Paced:
    __slots__ = ("done", "left", "period", "slot", "slots", "write")

    def __init__(self, write: Callable[[bytes], None], chunks: int, rate: float) -> None:
        self.write = write
        self.left = chunks
        self.period = 1.0 / rate
        self.slot = self.slots = 0
        self.done = asyncio.get_running_loop().create_future()

    def step(self, data: bytes) -> bool:
        """Write the next chunk, ``data``; False when the stream is over."""
        if self.done.done():
            return False
        if self.left == 0:
            self.write(chunked(_END) + b"0\r\n\r\n")
            self.done.set_result(None)
            return False
        self.left -= 1
        self.write(data)
        return True


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """The request head (lowercased) and body; None when the client has gone."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    head = head.lower()
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return head, body


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes, pacer: Pacer
) -> None:
    found = _PARAMS.findall(body)
    chunks, rate, hold = (
        (int(found[-1][0]), float(found[-1][1]), found[-1][2] == b"1")
        if found
        else (20, 0.0, False)
    )
    writer.write(_RESPONSE_HEAD + chunked(b": ok\n\n" + event(_now_us())))
    if hold:
        await reader.read()  # until the client leaves
        return
    left = chunks - 1
    if rate > 0:
        paced = _Paced(writer.write, left, rate)
        pacer.add(paced)
        await paced.done
    else:
        while left > 0:
            batch = min(left, 16)
            writer.write(b"".join(chunked(event(_now_us())) for _ in range(batch)))
            left -= batch
            await writer.drain()
        writer.write(chunked(_END) + b"0\r\n\r\n")
    await writer.drain()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pacer: Pacer) -> None:
    try:
        while (request := await _read_request(reader)) is not None:
            head, body = request
            if head.startswith(b"get"):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                continue
            await _answer(reader, writer, body, pacer)
            if b"connection: close" in head:
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int) -> None:
    pacer = Pacer()
    server = await asyncio.start_server(
        lambda r, w: _serve(r, w, pacer), host, port, backlog=4096, limit=1 << 20
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args.host, args.port))
    except ImportError:
        asyncio.run(main(args.host, args.port))
