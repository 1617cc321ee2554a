"""``/metrics`` in Prometheus' text format: what it counts, and that the format parses."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support.helpers import post_chat
from tests.support.servers import run_server
from tokenwire.metrics import Histogram, Metrics

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.e+inf]+$', re.IGNORECASE)


def parse(text: str) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert line.startswith(("# HELP ", "# TYPE ")), line
            continue
        assert SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return samples


async def test_metrics_count_streams_events_and_latency(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            for _ in range(2):
                _, events = await post_chat(client, {"message": "hi"})
            async with client.stream("POST", "/api/chat", json={"message": "hi", "model": "crawl"}):
                response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse(response.text)
    assert samples['tokenwire_streams_started_total{model="replay"}'] == 2
    assert samples['tokenwire_streams_ended_total{model="replay",outcome="complete"}'] == 2
    assert samples["tokenwire_events_relayed_total"] >= 2 * len(events)
    assert samples['tokenwire_time_to_first_token_seconds_count{model="replay"}'] == 2
    assert samples['tokenwire_stream_duration_seconds_count{model="replay"}'] == 2
    assert samples["tokenwire_active_streams"] == 1  # the crawl answer, still running
    assert samples["tokenwire_open_readers"] == 1


def test_histograms_are_cumulative() -> None:
    histogram = Histogram("h", "help", (0.1, 1.0))
    for value in (0.0625, 0.09375, 0.5, 3.0):
        histogram.observe(value, model="m")
    lines = list(histogram.render())
    assert 'h_bucket{model="m",le="0.1"} 2' in lines
    assert 'h_bucket{model="m",le="1"} 3' in lines
    assert 'h_bucket{model="m",le="+Inf"} 4' in lines
    assert 'h_count{model="m"} 4' in lines
    assert 'h_sum{model="m"} 3.65625' in lines


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    metrics.errors.inc(code='odd"code\\with\nnewline')
    assert 'code="odd\\"code\\\\with\\nnewline"' in metrics.render()
