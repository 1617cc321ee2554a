"""Fixtures that stop the shared Redis or PostgreSQL in a test and make sure it runs again after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import PostgresServer, RedisServer


@pytest.fixture
def restart_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    yield redis_server
    if redis_server.process is None:
        redis_server.start()


@pytest.fixture
def restart_postgres(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    yield postgres_server
    if postgres_server.process is None:
        postgres_server.start()
