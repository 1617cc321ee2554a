"""The conversation store on SQLite and PostgreSQL: migrations, owners, statuses, crash recovery."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tokenwire.store.connect import database_from_url
from tokenwire.store.conversations import ConversationStore
from tokenwire.store.database import DatabaseUnavailable
from tokenwire.store.migrations import MIGRATIONS, migrate


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[ConversationStore]:
    """The same store code on SQLite and on a real PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = ConversationStore(database_from_url(url))
    await opened.open()
    yield opened
    await opened.close()


async def test_fresh_database_gets_every_migration_once(tmp_path: Path) -> None:
    db = database_from_url(str(tmp_path / "fresh.db"))
    assert await migrate(db) == [name for name, _ in MIGRATIONS]
    assert await migrate(db) == []  # already applied: nothing to do
    tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"conversations", "messages", "schema_migrations"} <= tables
    await db.close()


async def test_a_failing_migration_leaves_nothing_half_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = database_from_url(str(tmp_path / "broken.db"))
    broken = [*MIGRATIONS, ("m999_broken", "CREATE TABLE extra (x INTEGER); CREATE TABLE oops (")]
    monkeypatch.setattr("tokenwire.store.migrations.MIGRATIONS", broken)
    with pytest.raises(Exception):  # noqa: B017 - sqlite's own syntax error
        await migrate(db)
    tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "extra" not in tables
    applied = {r[0] for r in await db.fetchall("SELECT name FROM schema_migrations")}
    assert applied == {name for name, _ in MIGRATIONS}
    await db.close()


async def test_exchange_and_answer_statuses(store: ConversationStore) -> None:
    first = await store.start_exchange(
        owner="", conversation_id=None, user_text="Hello  there\n", model="m", stream_id="s1"
    )
    await store.update_answer(
        first.assistant_message_id,
        content="Hi!",
        reasoning="think",
        status="complete",
        finish_reason="stop",
        usage=(3, 2),
    )
    conversation = await store.get("", first.conversation_id)
    assert conversation is not None and conversation.title == "Hello there"
    user, answer = conversation.messages
    assert (user.role, user.content, user.status) == ("user", "Hello  there\n", "complete")
    assert (answer.content, answer.reasoning, answer.status) == ("Hi!", "think", "complete")
    assert (answer.prompt_tokens, answer.completion_tokens, answer.stream_id) == (3, 2, "s1")
    assert await store.history("", first.conversation_id) == [
        {"role": "user", "content": "Hello  there\n"},
        {"role": "assistant", "content": "Hi!"},
    ]


async def test_owners_do_not_see_each_other(store: ConversationStore) -> None:
    mine = await store.start_exchange(
        owner="ann", conversation_id=None, user_text="a", model="m", stream_id="s"
    )
    assert await store.get("bob", mine.conversation_id) is None
    assert await store.list("bob") == []
    assert not await store.delete("bob", mine.conversation_id)
    with pytest.raises(LookupError):
        await store.start_exchange(
            owner="bob",
            conversation_id=mine.conversation_id,
            user_text="b",
            model="m",
            stream_id="t",
        )
    assert [c.id for c in await store.list("ann")] == [mine.conversation_id]


# Another process writing an answer: it prints the conversation's id, then streams until killed.
WRITER = """
import asyncio, sys
from tokenwire.store.conversations import ConversationStore
from tokenwire.store.connect import database_from_url

async def main():
    store = ConversationStore(database_from_url(sys.argv[1]))
    await store.open()
    exchange = await store.start_exchange(
        owner="", conversation_id=None, user_text="q", model="m", stream_id="s")
    await store.update_answer(
        exchange.assistant_message_id, content="partial", reasoning="", status="streaming")
    print(exchange.conversation_id, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


@contextlib.contextmanager
def writer_process(url: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A process writing an answer, with the id of the conversation it is in."""
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            conversation_id = process.stdout.readline().strip()
            assert conversation_id, "the writer did not start its answer"
            yield process, conversation_id
        finally:
            process.kill()


async def answer_status(store: ConversationStore, conversation_id: str) -> tuple[str, str]:
    conversation = await store.get("", conversation_id)
    assert conversation is not None
    answer = conversation.messages[1]
    return answer.status, answer.content


async def eventually_interrupted(store: ConversationStore, conversation_id: str) -> None:
    """A killed process's lock is free once the kernel (or PostgreSQL) has seen it die."""
    deadline = time.monotonic() + 10
    while await store.is_streaming(conversation_id):
        assert time.monotonic() < deadline, "the dead writer's answer stayed streaming"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_only_answers_whose_process_died_become_interrupted(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'shared.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    with writer_process(url) as (writer, conversation_id):
        # A second process opening the same database (tokenwire chat beside tokenwire serve).
        beside = ConversationStore(database_from_url(url))
        assert await beside.open() == 0
        assert await answer_status(beside, conversation_id) == ("streaming", "partial")
        assert await beside.is_streaming(conversation_id), "a live answer keeps its turn"
        writer.kill()
        writer.wait(10)
        await eventually_interrupted(beside, conversation_id)
        assert await answer_status(beside, conversation_id) == ("interrupted", "partial")
        await beside.close()


async def test_a_process_opening_the_store_after_a_crash_marks_its_answers_interrupted(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    with writer_process(url) as (writer, conversation_id):
        writer.kill()
        writer.wait(10)
    after = ConversationStore(database_from_url(url))
    assert await after.open() == 1
    assert await answer_status(after, conversation_id) == ("interrupted", "partial")
    # The dead process's lock file went with it; only this process's own is left.
    assert os.listdir(tmp_path / "crash.db-producers") == [after.producers.id]
    await after.close()
    assert os.listdir(tmp_path / "crash.db-producers") == []


async def test_answers_from_before_producers_were_recorded_count_as_dead(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    before = ConversationStore(database_from_url(url))
    await before.open()
    exchange = await before.start_exchange(
        owner="", conversation_id=None, user_text="q", model="m", stream_id="s"
    )
    await before.db.execute("UPDATE messages SET producer = NULL")
    await before.close()
    after = ConversationStore(database_from_url(url))
    assert await after.open() == 1
    assert (await answer_status(after, exchange.conversation_id))[0] == "interrupted"
    await after.close()


async def test_delete_removes_messages(store: ConversationStore) -> None:
    exchange = await store.start_exchange(
        owner="", conversation_id=None, user_text="q", model="m", stream_id="s"
    )
    assert await store.delete("", exchange.conversation_id)
    assert await store.db.fetchall("SELECT id FROM messages") == []


def test_unsupported_database_urls_are_clear_errors() -> None:
    with pytest.raises(DatabaseUnavailable, match="mysql"):
        database_from_url("mysql://localhost/db")
