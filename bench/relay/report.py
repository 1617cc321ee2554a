"""Turn ``results.json`` into the Relay tables of ``docs/benchmarks.md`` and the plots.

Only the text between ``<!-- relay:results:begin -->`` and ``<!-- relay:results:end -->`` is
rewritten, so the prose around it (and other engineers' sections) stay as they are.
Run: ``python -m bench.relay.report``.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

from bench.relay import venvs

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
IMAGES = ROOT / "docs" / "images"
BEGIN, END = "<!-- relay:results:begin -->", "<!-- relay:results:end -->"
REFERENCE = "tokenwire-v1"  # ratios are to this contender


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _ratio(value: Any, reference: Any) -> str:
    if not value or not reference:
        return "–"
    ratio = value / reference
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.2g}×"


def _paced(c: dict[str, Any], n: int) -> dict[str, Any]:
    return c.get(f"paced_{n}") or {}


def tables(results: dict[str, Any]) -> str:
    contenders = [c for c in results["contenders"] if "error" not in c]
    ref = next((c for c in contenders if c["name"] == REFERENCE), contenders[0])
    plan = results["plan"]
    out = [
        f"Run of {results['started']}{' (--quick)' if results.get('quick') else ''}: "
        f"{plan['unpaced_streams']} streams × {plan['unpaced_chunks']} unpaced chunks "
        f"(LiteLLM: a fifth of the chunks), paced runs of {plan['paced_seconds']:g} s at 50 "
        f"chunks/s per stream, {plan['idle_streams']:,} idle streams. Relay pinned to core 0; "
        "stub and load generator on core 1. Ratios are to tokenwire `/v1/chat/completions`.",
        "",
        "### CPU per relayed event, unpaced",
        "",
        "| relay | CPU µs/event | × tokenwire | events/s | reader µs/event | complete |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for c in contenders:
        out.append(
            f"| {c['label']} | {_num(c['cpu_us_per_event'])} | "
            f"{_ratio(c['cpu_us_per_event'], ref['cpu_us_per_event'])} | "
            f"{_num(c['events_per_second'])} | {_num(c['loadgen_us_per_event'])} | "
            f"{'yes' if c['complete'] else 'NO'} |"
        )
    out += [
        "",
        "### Latency added per event, paced at 50 chunks/s per stream",
        "",
        "Latency is receive time minus the stub's send stamp; *added* is that minus the same "
        "figure for the stub read directly in the same run. CPU share is of the one core.",
        "",
        "| relay | streams | p50 ms | p99 ms | added p99 ms | × tokenwire | CPU µs/event "
        "| CPU share | delivered |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    direct = next((c for c in contenders if c["name"] == "direct"), None)
    for n in plan["paced_counts"]:
        base = _paced(direct, n).get("latency_p99_us", 0.0) if direct else 0.0
        ref_added = _paced(ref, n).get("latency_p99_us", 0.0) - base
        for c in contenders:
            p = _paced(c, n)
            if not p:
                continue
            added = p["latency_p99_us"] - base if c is not direct else None
            cpu = p.get("cpu_share")
            per_event = cpu * p["elapsed"] / p["events"] * 1e6 if cpu and p["events"] else None
            out.append(
                f"| {c['label']} | {n:,} | {_num(p['latency_p50_us'] / 1000)} | "
                f"{_num(p['latency_p99_us'] / 1000)} | "
                f"{_num(added / 1000) if added is not None else '–'} | "
                f"{_ratio(added, ref_added) if added is not None else '–'} | {_num(per_event)} | "
                f"{_num(cpu, 2) if cpu is not None else '–'} | "
                f"{p['events'] / p['expected']:.0%} |"
            )
    out += [
        "",
        "### Time to first token and memory per idle stream",
        "",
        "| relay | TTFT ms (one stream at a time) | added ms | idle streams open "
        "| KB per idle stream | × tokenwire |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    base_ttft = direct["ttft_p50_us"] if direct else 0.0
    ref_idle = (ref.get("idle") or {}).get("bytes_per_stream")
    for c in contenders:
        idle = c.get("idle") or {}
        per = idle.get("bytes_per_stream")
        out.append(
            f"| {c['label']} | {_num(c['ttft_p50_us'] / 1000, 2)} | "
            f"{_num((c['ttft_p50_us'] - base_ttft) / 1000, 2) if c is not direct else '–'} | "
            f"{_num(idle.get('opened'))} | {_num(per / 1024 if per else None)} | "
            f"{_ratio(per, ref_idle)} |"
        )
    bytes_rows = [
        ("tokenwire SSE (`/api/chat`)", _get(contenders, "tokenwire-api", "bytes_per_event")),
        (
            "tokenwire NDJSON (`/api/chat`)",
            _get(contenders, "tokenwire-api", "ndjson_bytes_per_event"),
        ),
        ("tokenwire OpenAI chunks (`/v1`)", _get(contenders, "tokenwire-v1", "bytes_per_event")),
        ("stub (upstream)", _get(contenders, "direct", "bytes_per_event")),
    ]
    out += ["", "### Bytes on the wire per event", "", "| stream | bytes/event |", "|---|---:|"]
    out += [f"| {name} | {_num(v)} |" for name, v in bytes_rows if v]
    comp = results.get("compression")
    if comp:
        out += [
            "",
            "### Compression, flushed after every event",
            "",
            "Word-sized deltas of a real text; gzip for SSE and NDJSON, permessage-deflate for "
            "WebSocket; HTTP chunk and WebSocket frame headers included. The time is CPU per "
            "event in the compressor, which is also the latency it adds to that event.",
            "",
            "| transport | plain bytes/event | compressed | saved | µs added per event |",
            "|---|---:|---:|---:|---:|",
        ]
        out += [
            f"| {name} | {_num(r['plain_bytes_per_event'])} | "
            f"{_num(r['compressed_bytes_per_event'])} | {r['saved']:.0%} | "
            f"{_num(r['us_per_event'])} |"
            for name, r in comp.items()
        ]
    failed = [c for c in results["contenders"] if "error" in c]
    if failed:
        out += ["", "Failed to run: " + ", ".join(f"{c['name']} ({c['error']})" for c in failed)]
    out += ["", "![CPU per event](images/relay-cpu.png) ![p99 latency](images/relay-latency.png)"]
    return "\n".join(out)


def _get(contenders: list[dict[str, Any]], name: str, key: str) -> Any:
    return next((c.get(key) for c in contenders if c["name"] == name), None)


def write_doc(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        doc = head + block + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n## Relay\n\n" + block + "\n"
    DOC.write_text(doc)


def main() -> None:
    results = json.loads((HERE / "results.json").read_text())
    write_doc(tables(results))
    IMAGES.mkdir(parents=True, exist_ok=True)
    python = venvs.ensure("relay")
    subprocess.run(
        [str(python), "-m", "bench.relay.plot", str(HERE / "results.json"), str(IMAGES)],
        cwd=ROOT,
        check=True,
    )
    print(f"[bench] wrote {DOC.relative_to(ROOT)} and plots in {IMAGES.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
