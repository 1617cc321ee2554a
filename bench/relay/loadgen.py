"""The load generator: many concurrent streaming requests, read with the least work possible.

Raw asyncio protocols on uvloop: no HTTP client library, no parsing beyond finding the
``ts:<16 digits>`` stamps that the stub put in every chunk (the relays carry the text through
unchanged whatever their framing, and chunk-size lines of HTTP chunked encoding never contain
``ts:``). A stream ends when the server closes the connection (every request says
``Connection: close``). Each stamp found gives one event and its latency, the receive time minus
the stamp; the receive time is taken once per read, as a real client would see it.

Prints one JSON object with the counts and the latency percentiles (microseconds).
Run: ``python -m bench.relay.loadgen --port 8000 --path /v1/chat/completions --streams 100``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field

STAMP = b"ts:"
STAMP_LEN = 3 + 16


def now_us() -> int:
    return time.monotonic_ns() // 1000


def request(host: str, port: int, path: str, prompt: str, accept: str) -> bytes:
    if path.startswith("/api/"):
        body = json.dumps({"message": prompt, "model": "bench"})
    else:
        body = json.dumps(
            {"model": "bench", "stream": True, "messages": [{"role": "user", "content": prompt}]}
        )
    raw = body.encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: {accept}\r\nAuthorization: Bearer sk-bench\r\n"
        f"Content-Length: {len(raw)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + raw


@dataclass
class Totals:
    events: int = 0
    bytes: int = 0
    latencies: list[int] = field(default_factory=list)
    ttft: list[int] = field(default_factory=list)
    complete: int = 0
    failed: int = 0
    status_errors: int = 0


class Stream(asyncio.Protocol):
    def __init__(self, totals: Totals, req: bytes, expect: int, keep_latency: bool) -> None:
        self.totals = totals
        self.req = req
        self.expect = expect
        self.keep_latency = keep_latency
        self.tail = b""
        self.events = 0
        self.sent_us = 0
        self.first = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.checked_status = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        self.sent_us = now_us()
        transport.write(self.req)

    def data_received(self, data: bytes) -> None:
        t = now_us()
        totals = self.totals
        totals.bytes += len(data)
        if not self.checked_status:
            self.checked_status = True
            if not data.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
                totals.status_errors += 1
                sys.stderr.write(data[:300].decode(errors="replace") + "\n")
        buf = self.tail + data if self.tail else data
        pos = buf.find(STAMP)
        end = 0
        found = 0
        lat = totals.latencies
        while pos != -1:
            end = pos + STAMP_LEN
            if end > len(buf):
                break
            if self.keep_latency:
                lat.append(t - int(buf[pos + 3 : end]))
            found += 1
            pos = buf.find(STAMP, end)
        else:
            pos = -1
        # Keep what may be the start of a stamp cut by this read.
        self.tail = buf[pos:] if pos != -1 else buf[-(STAMP_LEN - 1) :]
        if found:
            if self.events == 0:
                totals.ttft.append(t - self.sent_us)
                if not self.first.done():  # cancelled when the opening ran out of time
                    self.first.set_result(None)
            self.events += found
            totals.events += found

    def connection_lost(self, exc: Exception | None) -> None:
        if self.events >= self.expect:
            self.totals.complete += 1
        else:
            self.totals.failed += 1
        if not self.first.done():
            self.first.set_result(None)
        self.closed.set_result(None)


def percentile(values: list[int], p: float) -> float:
    if not values:
        return float("nan")
    values.sort()
    return float(values[min(len(values) - 1, int(len(values) * p))])


async def run(args: argparse.Namespace) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    totals = Totals()
    prompt = f"chunks={args.chunks} rate={args.rate} hold={int(args.idle)}"
    req = request(args.host, args.port, args.path, prompt, args.accept)
    connect = asyncio.Semaphore(1 if args.sequential else args.connect_concurrency)
    streams: list[Stream] = []

    async def one(delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        async with connect:
            stream = Stream(totals, req, 1 if args.idle else args.chunks, not args.idle)
            streams.append(stream)
            try:
                await loop.create_connection(lambda: stream, args.host, args.port)
            except OSError as exc:
                sys.stderr.write(f"connect failed: {exc}\n")
                totals.failed += 1
                return
            if args.idle:
                # Hold the connection slot until the stream is open (shielded: a cancelled
                # opening must not cancel the future that data_received resolves).
                await asyncio.shield(stream.first)
            elif args.sequential:
                await stream.closed  # one stream at a time: time to first token unloaded

    started = time.monotonic()
    cpu_started = time.process_time()  # the reader's own cost, without its start-up
    # Paced streams start spread over one period, as real readers would.
    spread = (1.0 / args.rate) if args.rate > 0 else 0.0
    opening = [asyncio.create_task(one(spread * i / args.streams)) for i in range(args.streams)]
    # Bounded: a relay that stops accepting must not hang the benchmark.
    _, stuck = await asyncio.wait(opening, timeout=args.deadline)
    for task in stuck:
        task.cancel()
    if args.idle:
        firsts = [s.first for s in streams if not s.first.done()]
        if firsts:
            await asyncio.wait(
                firsts, timeout=max(1.0, args.deadline - (time.monotonic() - started))
            )
        opened = sum(1 for s in streams if s.events)
        print(json.dumps({"ready": opened}), flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        for s in streams:
            if s.transport is not None:
                s.transport.close()
        return {"opened": opened}
    pending = [s.closed for s in streams]
    _, late = await asyncio.wait(pending, timeout=args.deadline) if pending else (set(), set())
    elapsed = time.monotonic() - started
    for s in streams:
        if not s.closed.done() and s.transport is not None:
            s.transport.abort()
    if late:
        await asyncio.wait(late, timeout=5)
    lat = totals.latencies
    return {
        "streams": args.streams,
        "events": totals.events,
        "expected": args.streams * args.chunks,
        "complete": totals.complete,
        "failed": totals.failed,
        "status_errors": totals.status_errors,
        "bytes": totals.bytes,
        "elapsed": elapsed,
        "cpu_seconds": time.process_time() - cpu_started,
        "timed_out": bool(late),
        "latency_p50_us": percentile(lat, 0.50),
        "latency_p99_us": percentile(lat, 0.99),
        "ttft_p50_us": percentile(totals.ttft, 0.50),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--accept", default="text/event-stream")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--idle", action="store_true", help="open, wait for stdin, close")
    parser.add_argument("--deadline", type=float, default=120.0)
    parser.add_argument("--connect-concurrency", type=int, default=200)
    parser.add_argument("--sequential", action="store_true", help="one stream after another")
    args = parser.parse_args()
    try:
        import uvloop

        result = uvloop.run(run(args))
    except ImportError:
        result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
