"""One version, ``tokenwire.__version__``: what ``/healthz``, ``tokenwire --version`` and the
installed package's metadata all name."""

from __future__ import annotations

import importlib.metadata

import httpx
from click.testing import CliRunner

import tokenwire
from tests.support.servers import RunningServer
from tokenwire.cli import main


def test_healthz_names_the_version(server: RunningServer) -> None:
    health = httpx.get(f"{server.base_url}/healthz", timeout=10).json()
    assert health["version"] == tokenwire.__version__
    assert health["status"] == "ok"


def test_version_option_prints_the_package_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"tokenwire, version {tokenwire.__version__}\n"


def test_package_metadata_takes_its_version_from_the_module() -> None:
    assert importlib.metadata.version("tokenwire") == tokenwire.__version__
