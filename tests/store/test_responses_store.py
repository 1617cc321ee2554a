"""Response records of /v1/responses on SQLite and PostgreSQL: the m005 migration, create, the
final Response stored when its stream ends, per-owner reads and delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenwire.store.connect import database_from_url
from tokenwire.store.migrations import migrate
from tokenwire.store.responses import ResponseStore


@pytest.fixture(params=["sqlite", "postgresql"])
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


async def test_a_record_lives_from_create_to_finish_to_delete(url: str) -> None:
    db = database_from_url(url)
    assert "m005_responses" in await migrate(db)
    store = ResponseStore(db)
    items = [{"type": "message", "role": "user", "content": "你好"}]
    await store.create("resp_1", "ann", "str_1", {"model": "m", "created_at": 1}, items)
    record = await store.get("ann", "resp_1")
    assert record is not None
    assert (record.stream_id, record.spec, record.context, record.response) == (
        "str_1",
        {"model": "m", "created_at": 1},
        items,
        None,
    )
    assert await store.get("bob", "resp_1") is None  # another owner's record is not found
    await store.finish("resp_1", {"id": "resp_1", "status": "completed"})
    record = await store.get("ann", "resp_1")
    assert record is not None and record.response == {"id": "resp_1", "status": "completed"}
    assert not await store.delete("bob", "resp_1")
    assert await store.delete("ann", "resp_1")
    assert await store.get("ann", "resp_1") is None
    await db.close()
