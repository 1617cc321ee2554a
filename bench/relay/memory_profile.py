"""Where the memory of an idle stream goes: tracemalloc around N idle streams through tokenwire.

Starts the stub, runs tokenwire in this process with tracemalloc on, opens ``--streams`` idle
streams with the load generator and prints the allocation sites that grew, per stream.
Run: ``python -m bench.relay.memory_profile [--streams 500] [--path /v1/chat/completions]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import tempfile
import tracemalloc

STUB_PORT, RELAY_PORT = 9290, 8290


async def probe(streams: int, path: str, top: int) -> None:
    import uvicorn

    from tokenwire.config import ModelConfig, load_settings
    from tokenwire.server.app import create_app

    data = tempfile.mkdtemp(prefix="tokenwire-mem-")
    model = ModelConfig(
        id="bench",
        provider="openai",
        base_url=f"http://127.0.0.1:{STUB_PORT}/v1",
        first_token_timeout=300.0,
        idle_timeout=300.0,
    )
    settings = load_settings(env={}, models=(model,), database_url=f"sqlite:///{data}/b.db")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            port=RELAY_PORT,
            loop="none",
            log_level="warning",
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no event for it
        await asyncio.sleep(0.05)
    loadgen = [
        sys.executable,
        "-m",
        "bench.relay.loadgen",
        "--port",
        str(RELAY_PORT),
        "--path",
        path,
    ]
    warm = await asyncio.create_subprocess_exec(
        *loadgen, "--streams", "20", "--chunks", "5", stdout=subprocess.DEVNULL
    )
    await warm.wait()
    gc.collect()
    before = tracemalloc.take_snapshot()
    idle = await asyncio.create_subprocess_exec(
        *loadgen, "--streams", str(streams), "--idle", stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert idle.stdout is not None and idle.stdin is not None
    print(f"open: {(await idle.stdout.readline()).decode().strip()}")
    await asyncio.sleep(1.0)
    gc.collect()
    stats = tracemalloc.take_snapshot().compare_to(before, "lineno")
    print(f"Python allocations per idle stream: {sum(s.size_diff for s in stats) / streams:,.0f} B")
    print("| B per stream | allocated at |\n|---:|---|")
    for stat in stats[:top]:
        frame = stat.traceback[0]
        where = (
            frame.filename.split("site-packages/")[-1].split("/src/")[-1].split("python3.11/")[-1]
        )
        print(f"| {stat.size_diff / streams:,.0f} | `{where}:{frame.lineno}` |")
    idle.stdin.write(b"\n")
    await idle.stdin.drain()
    await idle.wait()
    server.should_exit = True
    await task


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    stub = subprocess.Popen([sys.executable, "-m", "bench.relay.stub", "--port", str(STUB_PORT)])
    try:
        tracemalloc.start(1)
        import uvloop

        uvloop.run(probe(args.streams, args.path, args.top))
    finally:
        stub.terminate()
        stub.wait()


if __name__ == "__main__":
    main()
