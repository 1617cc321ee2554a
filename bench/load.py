"""Load: many concurrent streams against ``tokenwire serve`` in its own process, some readers slow.

    PYTHONPATH=src .venv/bin/python bench/load.py            # 1,000 streams a phase
    PYTHONPATH=src .venv/bin/python bench/load.py --quick    # 100 streams a phase

The server runs a paced ``replay`` model (every answer the same text, one token every 50 ms), on
SQLite, as a user would start it. The same run has two phases, each starting all its streams at
once over SSE:

- ``fast``: every reader reads as fast as it can;
- ``mixed``: the same, except that 10% of the readers read 16 bytes a second and 10% stop reading
  after the response head (small socket buffers, so the server really has to hold their data).

Reported per phase: errors (a non-200, a dropped connection, a wrong text, a stream without its
``done``; the target is 0), the server's resident memory over time, the most generations running at
once, the time to the first event, and the fast readers' latency: how late each ``delta`` arrives
compared with the replay schedule, relative to the earliest event of its stream (so the cost of
starting the stream is not counted twice). The ``mixed``/``fast`` ratio says whether slow readers
delay anyone else. Afterwards, every slow and stopped reader's answer must be stored whole: the
generation went on without them.

The client is raw asyncio sockets with the project's SSE decoder, so that it costs the shared CPU
as little as possible; it raises its file-descriptor limit (and so the server's) as needed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import orjson

from tokenwire.wire.sse import SSEDecoder

Kind = Literal["fast", "slow", "stalled"]
TOKENS_PER_SECOND = 20.0
TEXT = " ".join(f"word{i % 10}" for i in range(100))  # 100 tokens: 5 s an answer at 20/s
SLOW_BYTES_PER_READ = 16
STREAM_DEADLINE = 180.0


@dataclass
class Result:
    kind: Kind
    ok: bool = False
    error: str = ""
    conversation_id: str = ""
    first_event: float | None = None  # seconds from the request to the start event
    lateness: list[float] = field(default_factory=list)  # seconds, one per delta


@dataclass
class Phase:
    name: str
    results: list[Result]
    seconds: float
    rss_mb: list[float]
    peak_generations: int
    unstored: int  # slow or stopped readers whose answer is not stored whole


# --- the server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    config = workdir / "tokenwire.toml"
    config.write_text(
        # Every stream comes from this one address: no cap on open readers per address.
        "max_readers_per_ip = 0\n"
        f'[[models]]\nid = "paced"\nprovider = "replay"\ntext = "{TEXT}"\n'
        f"tokens_per_second = {TOKENS_PER_SECOND}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "TOKENWIRE_DATABASE_URL": f"sqlite:///{workdir / 'load.db'}"}
    env.pop("OPENAI_API_KEY", None)
    command = [
        sys.executable,
        "-m",
        "tokenwire.cli",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


async def wait_until_up(base_url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        for _ in range(300):
            if process.poll() is not None:
                raise SystemExit("the server exited at start")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- one reader -----------------------------------------------------------------------------------


async def connect(port: int, kind: Kind) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket()
    sock.setblocking(False)
    if kind != "fast":  # a small window, so unread data stays on the server's side
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await asyncio.open_connection(sock=sock, limit=2048 if kind != "fast" else 65536)


async def chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The pieces of a chunked HTTP/1.1 body."""
    while size := int((await reader.readline()).split(b";")[0], 16):
        yield (await reader.readexactly(size + 2))[:-2]


async def read_fast(reader: asyncio.StreamReader, result: Result, asked: float) -> None:
    loop = asyncio.get_running_loop()
    decoder, text, late = SSEDecoder(), [], []
    async for chunk in chunks(reader):
        now = loop.time()
        for message in decoder.feed(chunk):
            event = orjson.loads(message.data)
            if event["type"] == "start":
                result.first_event = now - asked
            elif event["type"] == "delta":
                text.append(event["text"])
                late.append(now - (event["seq"] - 2) / TOKENS_PER_SECOND)
            elif event["type"] == "done":
                earliest = min(late, default=now)
                result.lateness = [t - earliest for t in late]
                result.ok = "".join(text) == TEXT or _fail(result, "wrong text")
                return
            else:
                _fail(result, f"ended with {event}")
                return
    _fail(result, "the body ended before done")


def _fail(result: Result, error: str) -> bool:
    result.error = result.error or error
    return False


async def read_slowly(reader: asyncio.StreamReader, stop: asyncio.Event, kind: Kind) -> None:
    while not stop.is_set():
        if kind == "slow" and not await reader.read(SLOW_BYTES_PER_READ):
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def one_stream(port: int, kind: Kind, index: int, stop: asyncio.Event) -> Result:
    result = Result(kind)
    body = orjson.dumps({"message": f"load {index}", "model": "paced"})
    request = (
        f"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    writer = None
    try:
        async with asyncio.timeout(STREAM_DEADLINE):
            asked = asyncio.get_running_loop().time()
            reader, writer = await connect(port, kind)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1]
            if status != b"200":
                _fail(result, f"status {status.decode()}")
                return result
            for line in head.decode("latin-1").split("\r\n"):
                if line.lower().startswith("x-conversation-id:"):
                    result.conversation_id = line.split(":", 1)[1].strip()
            if kind == "fast":
                await read_fast(reader, result, asked)
            else:
                await read_slowly(reader, stop, kind)
                result.ok = True
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        _fail(result, f"{type(exc).__name__}: {exc}")
    except TimeoutError:
        _fail(result, "timed out")
    finally:
        if writer is not None:
            writer.transport.abort()
    return result


# --- a phase --------------------------------------------------------------------------------------


def kinds(streams: int, mixed: bool) -> list[Kind]:
    """Every tenth reader slow and every tenth stopped (spread out), when ``mixed``."""
    if not mixed:
        return ["fast"] * streams
    return ["slow" if i % 10 == 3 else "stalled" if i % 10 == 7 else "fast" for i in range(streams)]


async def watch(
    base_url: str, pid: int, rss: list[float], peak: list[int], stop: asyncio.Event
) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        while not stop.is_set():
            rss.append(rss_mb(pid))
            with contextlib.suppress(httpx.TransportError):
                peak[0] = max(peak[0], (await http.get("/healthz")).json()["generations"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


async def idle(base_url: str) -> None:
    """Until the server runs no generation (it has no event to wait on: poll)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for _ in range(int(STREAM_DEADLINE / 0.2)):
            if not (await http.get("/healthz")).json()["generations"]:
                return
            await asyncio.sleep(0.2)


async def stored_whole(base_url: str, results: list[Result]) -> int:
    """How many of these answers are not stored whole and complete."""
    missing = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for result in results:
            if not result.conversation_id:
                continue
            data = (await http.get(f"/api/conversations/{result.conversation_id}")).json()
            answer = data["messages"][-1]
            missing += (answer["status"], answer["content"]) != ("complete", TEXT)
    return missing


async def run_phase(name: str, base_url: str, port: int, pid: int, streams: int) -> Phase:
    stop_readers, stop_watch = asyncio.Event(), asyncio.Event()
    rss: list[float] = [rss_mb(pid)]
    peak = [0]
    watcher = asyncio.create_task(watch(base_url, pid, rss, peak, stop_watch))
    started = time.monotonic()
    tasks = [
        asyncio.create_task(one_stream(port, kind, i, stop_readers))
        for i, kind in enumerate(kinds(streams, mixed=name == "mixed"))
    ]
    fast = [t for t, k in zip(tasks, kinds(streams, name == "mixed"), strict=True) if k == "fast"]
    await asyncio.wait(fast)
    await idle(base_url)  # the generations of the slow and stopped readers finish too
    stop_readers.set()
    results = list(await asyncio.gather(*tasks))
    seconds = time.monotonic() - started
    stop_watch.set()
    await watcher
    rss.append(rss_mb(pid))
    unstored = await stored_whole(base_url, [r for r in results if r.kind != "fast"])
    return Phase(name, results, seconds, rss, peak[0], unstored)


# --- the report -----------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report(phases: list[Phase]) -> str:
    rows = [
        "| phase | streams (fast/slow/stopped) | errors | peak generations"
        " | RSS MB start → peak → end | first event p50 / p99 ms"
        " | fast-reader lateness p50 / p99 / max ms | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for phase in phases:
        count = {k: sum(r.kind == k for r in phase.results) for k in ("fast", "slow", "stalled")}
        errors = sum(not r.ok for r in phase.results) + phase.unstored
        late = [x for r in phase.results for x in r.lateness]
        first = [r.first_event for r in phase.results if r.first_event is not None]
        rss = phase.rss_mb
        rows.append(
            f"| {phase.name} | {count['fast']}/{count['slow']}/{count['stalled']} | {errors} | "
            f"{phase.peak_generations} | {rss[0]:.0f} → {max(rss):.0f} → {rss[-1]:.0f} | "
            f"{ms(percentile(first, 50))} / {ms(percentile(first, 99))} | "
            f"{ms(percentile(late, 50))} / {ms(percentile(late, 99))} / {ms(max(late, default=0))} "
            f"| {phase.seconds:.1f} |"
        )
    if len(phases) == 2:
        p99 = [percentile([x for r in p.results for x in r.lateness], 99) for p in phases]
        rows.append(
            f"\nFast readers' p99 lateness, mixed / fast: {p99[1] / max(p99[0], 1e-3):.2f}×"
        )
    for phase in phases:
        for error in sorted({r.error for r in phase.results if r.error})[:5]:
            rows.append(f"- {phase.name} error: {error}")
        if phase.unstored:
            rows.append(f"- {phase.name}: {phase.unstored} slow reader answer(s) not stored whole")
    return "\n".join(rows)


def raise_fd_limit(streams: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * streams + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < 2 * streams + 64:
        raise SystemExit(f"need {2 * streams + 64} file descriptors, the hard limit is {hard}")


async def main(streams: int) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="tokenwire-load-") as workdir:
        process = start_server(Path(workdir), port)
        try:
            await wait_until_up(base_url, process)
            phases = [
                await run_phase(name, base_url, port, process.pid, streams)
                for name in ("fast", "mixed")
            ]
        finally:
            process.terminate()
            process.wait(30)
    print(
        f"{streams} concurrent streams a phase, {len(TEXT.split())} tokens at "
        f"{TOKENS_PER_SECOND:g}/s each, on {os.cpu_count()} CPU(s)\n"
    )
    print(report(phases))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 streams a phase, not 1,000")
    parser.add_argument("--streams", type=int, help="streams a phase (overrides --quick)")
    args = parser.parse_args()
    count = args.streams or (100 if args.quick else 1000)
    raise_fd_limit(count)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(count))
    else:
        uvloop.run(main(count))
