"""The relay benchmark, in one command: ``python -m bench.relay [--quick] [--only NAME ...]``.

Starts the stub upstream, then each contender in turn pinned to core 0 (the stub and the load
generator share core 1), and measures with the same load generator:

- CPU microseconds per relayed event and events per second, unpaced streams;
- time to first token, one stream at a time;
- latency added per event, p50 and p99, at 100 and at 1,000 streams paced at 50 events a second;
- resident memory per open idle stream.

Writes ``bench/relay/results.json``; ``python -m bench.relay.report`` turns it into the Relay
section of ``docs/benchmarks.md`` and the plots under ``docs/images/`` (run by this command too).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.relay import procs, venvs

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).parent / "results.json"
STUB_PORT = 9100
RELAY_CORE, LOAD_CORE = 0, 1


@dataclass
class Contender:
    name: str
    label: str
    path: str  # the streaming endpoint
    venv: str | None  # None: the project's own interpreter
    module: str | None  # the server module; None with no venv: the stub itself
    scale: float = 1.0  # share of the unpaced load: a slow relay gets fewer events, same streams
    port: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


CONTENDERS = [
    Contender("direct", "stub, read directly (the limit)", "/v1/chat/completions", None, None),
    Contender(
        "tokenwire-api",
        "tokenwire POST /api/chat",
        "/api/chat",
        None,
        "bench.relay.contenders.tokenwire_server",
    ),
    Contender(
        "tokenwire-v1",
        "tokenwire /v1/chat/completions",
        "/v1/chat/completions",
        None,
        "bench.relay.contenders.tokenwire_server",
    ),
    Contender(
        "fastapi",
        "FastAPI StreamingResponse + httpx",
        "/v1/chat/completions",
        "relay",
        "bench.relay.contenders.fastapi_relay",
    ),
    Contender(
        "sse-starlette",
        "FastAPI + sse-starlette + httpx",
        "/v1/chat/completions",
        "relay",
        "bench.relay.contenders.sse_starlette_relay",
    ),
    Contender("litellm", "LiteLLM proxy", "/v1/chat/completions", "litellm", None, scale=0.2),
]


@dataclass
class Plan:
    unpaced_streams: int
    unpaced_chunks: int
    paced_seconds: float
    paced_counts: tuple[int, ...]
    idle_streams: int
    ttft_requests: int


FULL = Plan(100, 1000, 8.0, (100, 1000), 10_000, 20)
QUICK = Plan(50, 400, 3.0, (100, 1000), 1_000, 10)


def loadgen(
    port: int, path: str, *, extra: list[str], deadline: float, accept: str = "text/event-stream"
) -> dict[str, Any]:
    """Run the load generator once on core 1; its result plus its own CPU time per event."""
    argv = [
        "taskset",
        "-c",
        str(LOAD_CORE),
        sys.executable,
        "-m",
        "bench.relay.loadgen",
        "--port",
        str(port),
        "--path",
        path,
        "--accept",
        accept,
        "--deadline",
        str(deadline),
        *extra,
    ]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, env=_env(None))
    out, _ = proc.communicate()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def _env(venv: str | None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT)] if venv else [str(ROOT / "src"), str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["LITELLM_LOG"] = "ERROR"
    return env


def start_relay(c: Contender, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    upstream = f"http://127.0.0.1:{STUB_PORT}"
    log = workdir / f"{c.name}.log"
    if c.name == "litellm":
        python = venvs.ensure("litellm")
        config = workdir / "litellm.yaml"
        template = (Path(__file__).parent / "contenders" / "litellm.yaml").read_text()
        config.write_text(template.replace("127.0.0.1:9100", f"127.0.0.1:{STUB_PORT}"))
        argv = [
            str(python.parent / "litellm"),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ]
    else:
        python = venvs.ensure(c.venv) if c.venv else Path(sys.executable)
        assert c.module is not None
        argv = [str(python), "-m", c.module, "--port", str(port), "--upstream", upstream]
    proc = procs.start(argv, RELAY_CORE, env=_env(c.venv), log=log)
    procs.wait_port(port, 180.0, proc)
    return proc


def measure(c: Contender, plan: Plan, pid: int | None) -> dict[str, Any]:
    port = c.port
    out: dict[str, Any] = {"name": c.name, "label": c.label}
    cpu = (lambda: procs.cpu_seconds(pid)) if pid else (lambda: 0.0)

    def run(extra: list[str], deadline: float, accept: str = "text/event-stream") -> dict[str, Any]:
        return loadgen(port, c.path, extra=extra, deadline=deadline, accept=accept)

    run(["--streams", "4", "--chunks", "20"], 120)  # warm-up: imports, connection pools
    r = run(["--streams", str(plan.ttft_requests), "--chunks", "1", "--sequential"], 120)
    out["ttft_p50_us"] = r["ttft_p50_us"]

    chunks = max(20, int(plan.unpaced_chunks * c.scale))
    c0 = cpu()
    r = run(["--streams", str(plan.unpaced_streams), "--chunks", str(chunks)], 300)
    c1 = cpu()
    out["unpaced"] = r
    events = max(1, r["events"])
    out["cpu_us_per_event"] = (c1 - c0) / events * 1e6 if pid else None
    out["loadgen_us_per_event"] = r["cpu_seconds"] / events * 1e6
    out["events_per_second"] = r["events"] / r["elapsed"]
    out["bytes_per_event"] = r["bytes"] / events
    out["complete"] = r["complete"] == r["streams"]

    if c.name == "tokenwire-api":
        nd = run(["--streams", "10", "--chunks", "1000"], 120, accept="application/x-ndjson")
        out["ndjson_bytes_per_event"] = nd["bytes"] / max(1, nd["events"])

    for n in plan.paced_counts:
        chunks = int(50 * plan.paced_seconds)
        c0 = cpu()
        # A relay that needs more than twice the time is saturated: what it delivered by then
        # is reported, not waited for.
        r = run(
            ["--streams", str(n), "--chunks", str(chunks), "--rate", "50"],
            plan.paced_seconds * 2 + 20,
        )
        r["cpu_share"] = (cpu() - c0) / r["elapsed"] if pid else None
        out[f"paced_{n}"] = r
    if pid:  # last: closing thousands of streams keeps a relay busy for a while
        out["idle"] = idle(c, plan, pid)
    return out


def idle(c: Contender, plan: Plan, pid: int) -> dict[str, Any]:
    """Open ``idle_streams`` streams that get one chunk and then nothing; memory per stream."""
    time.sleep(1.0)
    before = procs.rss_bytes(pid)
    argv = [
        "taskset",
        "-c",
        str(LOAD_CORE),
        sys.executable,
        "-m",
        "bench.relay.loadgen",
        "--port",
        str(c.port),
        "--path",
        c.path,
        "--streams",
        str(plan.idle_streams),
        "--idle",
        "--deadline",
        "120",
    ]
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_env(None)
    )
    assert proc.stdout is not None and proc.stdin is not None
    ready = json.loads(proc.stdout.readline())
    time.sleep(2.0)  # let the relay settle (buffers, lazily allocated state)
    after = procs.rss_bytes(pid)
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    proc.communicate(timeout=120)
    opened = ready["ready"]
    return {
        "opened": opened,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_stream": (after - before) / opened if opened else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="The relay benchmark.")
    parser.add_argument("--quick", action="store_true", help="smaller loads, about 5 minutes")
    parser.add_argument("--only", nargs="*", help="contender names to run")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 17
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (max(soft, min(want, hard) if hard > 0 else want), hard)
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    stub = procs.start(
        [sys.executable, "-m", "bench.relay.stub", "--port", str(STUB_PORT)],
        LOAD_CORE,
        env=_env(None),
        log=workdir / "stub.log",
    )
    results: dict[str, Any] = {
        "plan": plan.__dict__,
        "quick": args.quick,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "contenders": [],
    }
    try:
        procs.wait_port(STUB_PORT, 30, stub)
        for i, c in enumerate(CONTENDERS):
            if args.only and c.name not in args.only:
                continue
            print(f"[bench] {c.name}", flush=True)
            relay = None
            try:
                if c.module or c.venv:
                    c.port = 8100 + i
                    relay = start_relay(c, c.port, workdir)
                else:
                    c.port = STUB_PORT
                results["contenders"].append(measure(c, plan, relay.pid if relay else None))
            except Exception as exc:  # one contender failing must not lose the others
                print(f"[bench] {c.name} failed: {exc!r}; logs in {workdir}", flush=True)
                results["contenders"].append({"name": c.name, "label": c.label, "error": repr(exc)})
            finally:
                if relay is not None:
                    procs.stop(relay)
            print(json.dumps(results["contenders"][-1]), flush=True)
    finally:
        procs.stop(stub)
    from bench.relay import compression

    results["compression"] = compression.measure()
    if args.only and RESULTS.exists():  # merge a partial run into the last full one
        old = json.loads(RESULTS.read_text())
        fresh = {c["name"]: c for c in results["contenders"]}
        old["contenders"] = [fresh.pop(c["name"], c) for c in old["contenders"]]
        old["contenders"] += fresh.values()
        old["compression"] = results["compression"]
        results = old
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"[bench] results in {RESULTS}", flush=True)
    if not args.no_report:
        from bench.relay import report

        report.main()


if __name__ == "__main__":
    main()
