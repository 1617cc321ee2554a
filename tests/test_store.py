"""The conversation store on SQLite and PostgreSQL: migrations, owners, statuses, crash recovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tokenwire.store.conversations import ConversationStore
from tokenwire.store.database import DatabaseUnavailable, database_from_url
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
        first.assistant_message_id, content="Hi!", reasoning="think", status="complete",
        finish_reason="stop", usage=(3, 2),
    )  # fmt: skip
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
            owner="bob", conversation_id=mine.conversation_id, user_text="b", model="m",
            stream_id="t",
        )  # fmt: skip
    assert [c.id for c in await store.list("ann")] == [mine.conversation_id]


async def test_answers_left_streaming_by_a_crash_become_interrupted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    before = ConversationStore(database_from_url(url))
    await before.open()
    exchange = await before.start_exchange(
        owner="", conversation_id=None, user_text="q", model="m", stream_id="s"
    )
    await before.update_answer(
        exchange.assistant_message_id, content="partial", reasoning="", status="streaming"
    )
    await before.db.close()  # the process "dies" here
    after = ConversationStore(database_from_url(url))
    assert await after.open() == 1
    conversation = await after.get("", exchange.conversation_id)
    assert conversation is not None
    answer = conversation.messages[1]
    assert (answer.status, answer.content) == ("interrupted", "partial")
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
