"""Counters and histograms for ``/metrics``, in Prometheus' text format.

Small on purpose: a handful of series, updated with a dict lookup and an add, so the hot path pays
next to nothing. Gauges are read from the live objects at scrape time instead of being kept in step.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels, extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Counter:
    def __init__(self, name: str, help: str) -> None:
        self.name, self.help = name, help
        self.values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items())) if labels else ()  # unlabelled: the hot path
        self.values[key] = self.values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        if not self.values:
            yield f"{self.name} 0"
        for key, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(key)} {_number(value)}"


class Gauge:
    def __init__(self, name: str, help: str, read: Callable[[], float]) -> None:
        self.name, self.help, self.read = name, help, read

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        yield f"{self.name} {_number(self.read())}"


class LabelledGauge:
    """A gauge with one value per label set, set when the value is learnt (a health check)."""

    def __init__(self, name: str, help: str) -> None:
        self.name, self.help = name, help
        self.values: dict[Labels, float] = {}

    def set(self, value: float, **labels: str) -> None:
        self.values[tuple(sorted(labels.items()))] = value

    def value(self, **labels: str) -> float | None:
        return self.values.get(tuple(sorted(labels.items())))

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for key, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(key)} {_number(value)}"


class Histogram:
    def __init__(self, name: str, help: str, buckets: tuple[float, ...]) -> None:
        self.name, self.help, self.buckets = name, help, buckets
        self.series: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        found = self.series.get(key)
        if found is None:
            found = self.series[key] = ([0] * (len(self.buckets) + 1), [0.0])
        counts, total = found
        counts[bisect.bisect_left(self.buckets, value)] += 1
        total[0] += value

    def count(self, **labels: str) -> int:
        found = self.series.get(tuple(sorted(labels.items())))
        return sum(found[0]) if found else 0

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for key, (counts, total) in sorted(self.series.items()):
            running = 0
            for bound, count in zip((*self.buckets, float("inf")), counts, strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else _number(bound)
                bucket = _labels(key, 'le="' + le + '"')
                yield f"{self.name}_bucket{bucket} {running}"
            yield f"{self.name}_sum{_labels(key)} {_number(total[0])}"
            yield f"{self.name}_count{_labels(key)} {running}"


class Metrics:
    """Every series tokenwire exports. One instance per app, so apps in one process stay apart."""

    def __init__(self) -> None:
        self.events_relayed = Counter(
            "tokenwire_events_relayed_total", "Events written to readers, every transport."
        )
        self.streams_started = Counter(
            "tokenwire_streams_started_total", "Generations started, by model."
        )
        self.streams_ended = Counter(
            "tokenwire_streams_ended_total", "Generations ended, by model and outcome."
        )
        self.errors = Counter("tokenwire_errors_total", "Streams that ended in an error, by code.")
        self.upstream_retries = Counter(
            "tokenwire_upstream_retries_total", "Retries of a model before its first token."
        )
        self.fallbacks = Counter(
            "tokenwire_fallbacks_total",
            "Answers handed to a fallback model, by model and fallback.",
        )
        self.rejected = Counter(
            "tokenwire_requests_rejected_total", "Requests refused by a limit, by code."
        )
        self.dropped_readers = Counter(
            "tokenwire_readers_dropped_total", "Readers dropped because they stopped reading."
        )
        self.time_to_first_token = Histogram(
            "tokenwire_time_to_first_token_seconds",
            "From the start of a generation to its first token, by model.",
            LATENCY_BUCKETS,
        )
        self.stream_duration = Histogram(
            "tokenwire_stream_duration_seconds",
            "From the start of a generation to its terminal event, by model.",
            DURATION_BUCKETS,
        )
        self.health_checks = Counter(
            "tokenwire_health_checks_total", "Answers of /healthz and /readyz, by path and status."
        )
        self.dependency_up = LabelledGauge(
            "tokenwire_dependency_up",
            "1 when a dependency was ready at the last /readyz, else 0; by dependency.",
        )
        self.open_readers = 0
        self.gauges: list[Gauge] = [
            Gauge("tokenwire_open_readers", "Connections reading a stream.", self._open_readers)
        ]

    def _open_readers(self) -> float:
        return self.open_readers

    def add_gauge(self, name: str, help: str, read: Callable[[], float]) -> None:
        self.gauges.append(Gauge(name, help, read))

    def render(self) -> str:
        lines: list[str] = []
        for gauge in self.gauges:
            lines.extend(gauge.render())
        for series in (
            self.events_relayed,
            self.streams_started,
            self.streams_ended,
            self.errors,
            self.upstream_retries,
            self.fallbacks,
            self.rejected,
            self.dropped_readers,
            self.time_to_first_token,
            self.stream_duration,
            self.health_checks,
            self.dependency_up,
        ):
            lines.extend(series.render())
        return "\n".join(lines) + "\n"
