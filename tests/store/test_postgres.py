"""PostgreSQL as the shared store: placeholders, migrations racing, turns racing, outages."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.services import PostgresServer
from tokenwire.store.connect import database_from_url
from tokenwire.store.conversations import ConversationStore
from tokenwire.store.database import Conflict, DatabaseUnavailable
from tokenwire.store.migrations import MIGRATIONS, migrate
from tokenwire.store.postgres import PostgresDatabase, to_pyformat
from tokenwire.store.producers import AdvisoryLockProducers


def test_placeholders_become_pyformat_outside_quotes() -> None:
    assert to_pyformat("SELECT ? WHERE a = '?' AND b LIKE 'x%' AND c = ?") == (
        "SELECT %s WHERE a = '?' AND b LIKE 'x%%' AND c = %s"
    )


async def test_processes_starting_together_apply_each_migration_once(postgres_url: str) -> None:
    dbs = [database_from_url(postgres_url) for _ in range(4)]
    results = await asyncio.gather(*(migrate(db) for db in dbs))
    assert sorted(name for names in results for name in names) == sorted(
        name for name, _ in MIGRATIONS
    )
    rows = await dbs[0].fetchall("SELECT name FROM schema_migrations")
    assert sorted(r[0] for r in rows) == sorted(name for name, _ in MIGRATIONS)
    for db in dbs:
        await db.close()


async def test_two_turns_at_one_position_conflict(postgres_url: str) -> None:
    stores = [ConversationStore(database_from_url(postgres_url)) for _ in range(2)]
    for store in stores:
        await store.open(recover=False)
    first = await stores[0].start_exchange(
        owner="", conversation_id=None, user_text="q", model="m", stream_id="s1"
    )

    # Process B read the next position just before process A wrote its turn there.
    async def stale_position(owner: str, conversation_id: str) -> int:
        return 2

    stores[1]._next_position = stale_position  # type: ignore[method-assign]
    await stores[0].start_exchange(
        owner="", conversation_id=first.conversation_id, user_text="a", model="m", stream_id="s2"
    )
    with pytest.raises(Conflict):
        await stores[1].start_exchange(
            owner="",
            conversation_id=first.conversation_id,
            user_text="b",
            model="m",
            stream_id="s3",
        )
    conversation = await stores[0].get("", first.conversation_id)
    assert conversation is not None
    assert [m.content for m in conversation.messages] == ["q", "", "a", ""]  # B left nothing
    for store in stores:
        await store.close()


async def test_an_interrupted_answer_is_stored_only_while_streaming(postgres_url: str) -> None:
    store = ConversationStore(database_from_url(postgres_url))
    await store.open()
    exchange = await store.start_exchange(
        owner="", conversation_id=None, user_text="q", model="m", stream_id="s"
    )
    assert await store.streaming_since(time.time() + 1) == [(exchange.assistant_message_id, "s")]
    assert await store.interrupt_answer(
        exchange.assistant_message_id, content="par", reasoning="", usage=None
    )
    assert not await store.interrupt_answer(  # ended already: left alone
        exchange.assistant_message_id, content="other", reasoning="", usage=None
    )
    conversation = await store.get("", exchange.conversation_id)
    assert conversation is not None
    answer = conversation.messages[1]
    assert (answer.status, answer.content, answer.error_code) == (
        "interrupted",
        "par",
        "interrupted",
    )
    await store.close()


async def test_a_stopped_server_is_a_quick_clear_error_and_recovery_is_automatic(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    db = PostgresDatabase(postgres_url, timeout=2.0)
    producers = AdvisoryLockProducers(db)
    producers.keepalive_seconds = 0.2
    store = ConversationStore(db, producers)
    await store.open()
    assert await store.list("") == []
    assert await producers.alive([producers.id]) == {producers.id}
    postgres_server.stop()
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="postgresql"):
            await store.list("")
        assert time.monotonic() - started < 10
    finally:
        postgres_server.start()
    deadline = time.monotonic() + 30
    while True:  # the pool replaces its broken connections by itself
        try:
            assert await store.list("") == []
            break
        except DatabaseUnavailable:
            assert time.monotonic() < deadline, "the store did not recover"
            await asyncio.sleep(0.2)
    # This process's answers count as live again: its producer lock was taken anew.
    while await producers.alive([producers.id]) != {producers.id}:
        assert time.monotonic() < deadline, "the producer lock was not taken again"
        await asyncio.sleep(0.2)
    await store.close()
    other = PostgresDatabase(postgres_url)
    assert await AdvisoryLockProducers(other).alive([producers.id]) == set()  # released
    await other.close()
