from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import RunningServer, run_server

pytest_plugins = ["tests.support.service_fixtures"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """A tokenwire server with replay models: ``replay`` (instant), ``slow``, ``crawl``."""
    with run_server(tmp_path) as running:
        yield running


# A skipped test is a test that did not run: here it always means that something the suite needs
# (Chromium, PySide6, the built web app...) is missing, which `make test` installs. So a skip fails
# the run, with its reason, instead of passing quietly. (An xfail is a known bug, and passes.)
# With pytest-xdist, the controller sees every worker's reports through these same hooks.
_skipped: list[str] = []


def _note_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _note_skip(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _note_skip(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.section("a skip fails the run: install what the suite needs", red=True)
        for line in _skipped:
            terminalreporter.line(line, red=True)
