"""``/readyz`` of a real process follows Redis and PostgreSQL going away and coming back, while
``/healthz`` (liveness) stays 200 throughout; ``/metrics`` shows each dependency's last state."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.scaleout import serve, wait_for_status, write_config
from tests.support.services import PostgresServer, RedisServer


@pytest.fixture
def config(tmp_path: Path, postgres_url: str, redis_url: str) -> Path:
    return write_config(tmp_path / "tokenwire.toml", database_url=postgres_url, redis_url=redis_url)


async def test_readyz_is_ready_when_redis_and_postgresql_answer(config: Path) -> None:
    with serve(config, "ready") as process:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(f"{process.base}/readyz")
            assert response.status_code == 200
            assert response.json()["dependencies"] == {
                "redis": {"status": "ok"},
                "postgresql": {"status": "ok"},
            }
            metrics = (await http.get(f"{process.base}/metrics")).text
        assert 'tokenwire_dependency_up{dependency="redis"} 1' in metrics
        assert 'tokenwire_dependency_up{dependency="postgresql"} 1' in metrics
        assert "tokenwire_log_held_events 0" in metrics


async def test_readyz_is_503_while_redis_is_down_and_ready_again_after(
    config: Path, restart_redis: RedisServer
) -> None:
    with serve(config, "redis") as process:
        async with httpx.AsyncClient(timeout=30) as http:
            restart_redis.stop()
            response = await http.get(f"{process.base}/readyz")
            assert response.status_code == 503
            body = response.json()
            assert body["status"] == "not_ready"
            assert body["dependencies"]["redis"]["status"] == "unavailable"
            assert body["dependencies"]["postgresql"] == {"status": "ok"}
            assert (await http.get(f"{process.base}/healthz")).status_code == 200
            metrics = (await http.get(f"{process.base}/metrics")).text
            assert 'tokenwire_dependency_up{dependency="redis"} 0' in metrics
            restart_redis.start()
            ready = await wait_for_status(http, "GET", f"{process.base}/readyz", 200)
            assert ready.json()["dependencies"]["redis"] == {"status": "ok"}


async def test_readyz_is_503_while_postgresql_is_down_and_ready_again_after(
    config: Path, restart_postgres: PostgresServer
) -> None:
    with serve(config, "postgresql") as process:
        async with httpx.AsyncClient(timeout=30) as http:
            restart_postgres.stop()
            response = await http.get(f"{process.base}/readyz")
            assert response.status_code == 503
            body = response.json()
            assert body["dependencies"]["postgresql"]["status"] == "unavailable"
            assert body["dependencies"]["redis"] == {"status": "ok"}
            assert (await http.get(f"{process.base}/healthz")).status_code == 200
            restart_postgres.start()
            ready = await wait_for_status(http, "GET", f"{process.base}/readyz", 200)
            assert ready.json()["dependencies"]["postgresql"] == {"status": "ok"}
