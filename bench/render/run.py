"""Render benchmark in headless Chromium: our incremental renderer against the naive way.

    PYTHONPATH=src .venv/bin/python bench/render/run.py

Streams a ~100 KB markdown answer (prose, lists, tables, a dozen code blocks, Chinese) in 1–4
character events into (a) the incremental renderer, (b) the naive way (``marked.parse`` of the whole
text into ``innerHTML`` plus ``hljs.highlightAll()`` on every event) and (c) one render of the final
text; reports scripting time, the longest frame and long tasks. The naive way is quadratic, so it
runs on the first 8 KB, next to (a) on the same 8 KB for a like-for-like ratio.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
PAGE = b"""<!doctype html><meta charset="utf-8"><title>render bench</title>
<style>body{font:16px/1.5 sans-serif;max-width:46rem;margin:1rem auto}pre{overflow:auto}
#out>*{content-visibility:auto;contain-intrinsic-size:auto 3em}</style>
<div id="out"></div><script type="module" src="/render-bench.js"></script>"""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(PAGE)
        else:
            super().do_GET()

    def log_message(self, *args: Any) -> None:
        pass


def _serve(directory: Path) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_Handler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _busy_seconds(cdp: Any) -> float:
    """Main-thread time of every kind (script, style, layout, paint) so far."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return float(metrics["TaskDuration"])


def measure(page: Any, cdp: Any, mode: str, size: int) -> dict[str, Any]:
    before = _busy_seconds(cdp)
    result: dict[str, Any] = page.evaluate(f"window.runBench('{mode}', {size})")
    result["busyMs"] = (_busy_seconds(cdp) - before) * 1000
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="answer size in bytes")
    parser.add_argument("--naive-size", type=int, default=8_000, help="size for the naive run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of (a) and (c); the median run is reported"
    )
    args = parser.parse_args()
    subprocess.run(["node", "build.mjs", "--bench"], cwd=WEB, check=True)
    server = _serve(WEB / "dist" / "bench")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    runs = [
        ("c", "oneshot", args.size),
        ("a", "incremental", args.size),
        ("a", "incremental", args.naive_size),
        ("b", "naive", args.naive_size),
    ]
    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        page.wait_for_function("() => typeof window.runBench === 'function'")
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        measure(page, cdp, "incremental", 5_000)  # warm up the JIT and the fonts
        for label, mode, size in runs:
            # The naive run is slow and far from the others: once is enough for its ratio.
            repeats = 1 if mode == "naive" else args.repeat
            tries = sorted(
                (measure(page, cdp, mode, size) for _ in range(repeats)),
                key=lambda r: float(r["scriptMs"]),
            )
            result = tries[len(tries) // 2]
            result["label"] = label
            results.append(result)
            print(f"  ran ({label}) {mode} on {result['bytes']} bytes x{repeats}", flush=True)
        browser.close()
    server.shutdown()
    _report(results)


def _report(results: list[dict[str, Any]]) -> None:
    print()
    print(
        "| run | bytes | events | scripting ms | longest call ms | main thread busy ms "
        "| wall ms | longest frame ms | long tasks |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in results:
        print(
            f"| ({r['label']}) {r['mode']} | {r['bytes']} | {r['events']} | {r['scriptMs']:.0f} "
            f"| {r['longestCallMs']:.1f} | {r['busyMs']:.0f} | {r['wallMs']:.0f} "
            f"| {r['longestFrameMs']:.0f} | {r['longTasks']} |"
        )
    one, full, small, naive = results
    print()
    print(
        f"(a)/(c) scripting on {full['bytes']} bytes: {full['scriptMs'] / one['scriptMs']:.2f}x"
        " (target: within 2x)"
    )
    print(f"(a) longest frame: {full['longestFrameMs']:.0f} ms (target: none over 50 ms)")
    print(
        f"(b)/(a) scripting on {naive['bytes']} bytes: {naive['scriptMs'] / small['scriptMs']:.1f}x"
    )


if __name__ == "__main__":
    main()
