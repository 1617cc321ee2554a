"""``/healthz`` is liveness, ``/readyz`` readiness per dependency; both counted in ``/metrics``.

The embedded server (memory log, SQLite) depends on no other service, so it is ready as soon as it
serves; its models' upstreams are reported as the generations last saw them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.helpers import assert_complete_stream, post_chat
from tests.support.servers import RunningServer, replay, run_server
from tests.support.upstream_stub import refused_base_url
from tokenwire import __version__
from tokenwire.config import ModelConfig


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    gone = ModelConfig(
        id="gone", provider="openai", base_url=refused_base_url(), retry_deadline=0, max_retries=0
    )
    with run_server(tmp_path, (replay("replay"), gone)) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        yield http


async def test_healthz_is_liveness_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "generations": 0, "version": __version__}


async def test_readyz_of_an_embedded_server_is_ready_with_no_dependencies(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "ready"
    assert body["dependencies"] == {}
    assert body["draining"] is False
    assert body["models"] == {
        "replay": {"status": "unknown", "last_seen": None},
        "gone": {"status": "unknown", "last_seen": None},
    }


async def test_readyz_reports_each_models_upstream_as_last_seen(client: httpx.AsyncClient) -> None:
    _, answered = await post_chat(client, {"message": "hi", "model": "replay"})
    assert_complete_stream(answered)
    _, failed = await post_chat(client, {"message": "hi", "model": "gone"})
    assert_complete_stream(failed)
    error = failed[-1].to_dict()
    assert error["type"] == "error" and error["retryable"] is True
    models = (await client.get("/readyz")).json()["models"]
    assert models["replay"]["status"] == "up"
    assert models["gone"]["status"] == "failing"
    assert models["gone"]["code"] == error["code"]
    assert models["gone"]["last_seen"] >= models["replay"]["last_seen"]
    # A failing upstream is reported, not a reason to leave the rotation: the others share it.
    assert (await client.get("/readyz")).status_code == 200


async def test_a_draining_server_is_alive_and_not_ready(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    server.hub.draining = True  # what shutting down sets first
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert response.json()["draining"] is True
    assert (await client.get("/healthz")).status_code == 200


async def test_health_checks_are_counted_in_metrics(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/healthz", "/readyz"):
        await client.get(path)
    metrics = (await client.get("/metrics")).text
    assert 'tokenwire_health_checks_total{path="/healthz",status="200"} 2' in metrics
    assert 'tokenwire_health_checks_total{path="/readyz",status="200"} 1' in metrics


def test_readyz_needs_no_token_when_the_api_does(tmp_path: Path) -> None:
    with run_server(tmp_path, (replay("replay"),), auth_required=True) as running:
        assert httpx.get(f"{running.base_url}/api/models").status_code == 401
        assert httpx.get(f"{running.base_url}/readyz").status_code == 200
        assert httpx.get(f"{running.base_url}/healthz").status_code == 200
