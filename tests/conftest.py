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
