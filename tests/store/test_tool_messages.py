"""Tool calls and results in the store, on SQLite and PostgreSQL: the m004 migration (fresh and as
an upgrade), an assistant's calls, ``tool`` messages, the turn's offered tools, and the history a
model is sent in OpenAI's shape."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from tokenwire.events import ToolResult
from tokenwire.store.connect import database_from_url
from tokenwire.store.conversations import ConversationStore, chat_messages
from tokenwire.store.database import Database
from tokenwire.store.migrations import MIGRATIONS, migrate

LOOKUP = {"type": "function", "function": {"name": "lookup"}}
CALL_A = {"id": "call_a", "name": "lookup", "arguments": '{"q": "a"}'}
CALL_B = {"id": "call_b", "name": "pick", "arguments": "{}"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def store(url: str) -> AsyncIterator[ConversationStore]:
    opened = ConversationStore(database_from_url(url))
    await opened.open()
    yield opened
    await opened.close()


async def columns(db: Database) -> set[str]:
    if db.dialect == "sqlite":
        return {row[1] for row in await db.fetchall("PRAGMA table_info(messages)")}
    rows = await db.fetchall(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'messages'"
    )
    return {row[0] for row in rows}


async def test_a_fresh_database_gets_the_tool_columns(url: str) -> None:
    db = database_from_url(url)
    assert "m004_tool_calls" in await migrate(db)
    assert {"tool_calls", "tool_call_id", "is_error", "offered_tools"} <= await columns(db)
    await db.close()


async def test_m004_upgrades_a_database_with_conversations_in_it(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = database_from_url(url)
    monkeypatch.setattr("tokenwire.store.migrations.MIGRATIONS", MIGRATIONS[:3])
    await migrate(db)
    assert "tool_calls" not in await columns(db)
    now = time.time()
    await db.transaction(
        [
            (
                "INSERT INTO conversations (id, owner, title, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                ("conv_old", "", "old", now, now),
            ),
            *(
                (
                    "INSERT INTO messages (id, conversation_id, position, role, content, status,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (f"msg_{i}", "conv_old", i, role, text, "complete", now, now),
                )
                for i, (role, text) in enumerate([("user", "q"), ("assistant", "a")])
            ),
        ]
    )
    monkeypatch.setattr("tokenwire.store.migrations.MIGRATIONS", MIGRATIONS[:4])
    assert await migrate(db) == ["m004_tool_calls"]
    store = ConversationStore(db)
    await store.open()
    old = await store.get("", "conv_old")
    assert old is not None
    assert [
        (m.role, m.content, m.tool_calls, m.tool_call_id, m.is_error) for m in old.messages
    ] == [
        ("user", "q", None, None, False),
        ("assistant", "a", None, None, False),
    ]
    # The old conversation goes on, with tools.
    exchange = await store.start_exchange(
        owner="",
        conversation_id="conv_old",
        user_text="more",
        model="m",
        stream_id="s",
        offered_tools={"tools": [LOOKUP], "tool_choice": None},
    )
    await store.update_answer(
        exchange.assistant_message_id,
        content="",
        reasoning="",
        status="complete",
        finish_reason="tool_calls",
        tool_calls=[CALL_A],
    )
    assert [m["role"] for m in await store.history("", "conv_old")] == [
        "user",
        "assistant",
        "user",
    ]  # the call has no result yet: left out
    await store.close()


async def test_calls_results_and_the_turns_state(store: ConversationStore) -> None:
    exchange = await store.start_exchange(
        owner="",
        conversation_id=None,
        user_text="look",
        model="m",
        stream_id="s1",
        offered_tools={"tools": [LOOKUP], "tool_choice": "required"},
    )
    conversation_id = exchange.conversation_id
    await store.update_answer(
        exchange.assistant_message_id,
        content="Looking.",
        reasoning="",
        status="complete",
        finish_reason="tool_calls",
        tool_calls=[CALL_A, CALL_B],
    )
    turn = await store.turn_state("", conversation_id)
    assert turn is not None
    assert turn.offered == {"tools": [LOOKUP], "tool_choice": "required"}
    assert (turn.model, turn.pending) == ("m", (CALL_A, CALL_B))
    assert await store.turn_state("someone else", conversation_id) is None

    continued = await store.continue_exchange(
        conversation_id=conversation_id,
        results=[ToolResult("call_b", "red"), ToolResult("call_a", "no such word", True)],
        model="m",
        stream_id="s2",
    )
    turn = await store.turn_state("", conversation_id)
    assert turn is not None and turn.pending == ()
    assert await store.is_streaming(conversation_id)
    found = await store.get("", conversation_id)
    assert found is not None
    roles = [(m.role, m.tool_call_id, m.is_error, m.stream_id, m.status) for m in found.messages]
    assert roles == [
        ("user", None, False, None, "complete"),
        ("assistant", None, False, "s1", "complete"),
        ("tool", "call_b", False, "s2", "complete"),
        ("tool", "call_a", True, "s2", "complete"),
        ("assistant", None, False, "s2", "streaming"),
    ]
    assert found.messages[-1].id == continued.assistant_message_id
    assert found.messages[1].to_json()["tool_calls"] == [CALL_A, CALL_B]
    assert await store.history("", conversation_id) == [
        {"role": "user", "content": "look"},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "a"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "pick", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_b", "content": "red"},
        {"role": "tool", "tool_call_id": "call_a", "content": "no such word"},
    ]


async def test_a_step_of_the_server_loop_is_stored_in_one_go(store: ConversationStore) -> None:
    exchange = await store.start_exchange(
        owner="", conversation_id=None, user_text="q", model="m", stream_id="s"
    )
    next_id = await store.save_step(
        exchange.assistant_message_id,
        conversation_id=exchange.conversation_id,
        stream_id="s",
        content="",
        reasoning="thinking",
        tool_calls=[CALL_A],
        results=[ToolResult("call_a", "found")],
        status="complete",
        finish_reason="tool_calls",
        usage=(10, 2),
        next_model="m",
    )
    assert next_id is not None
    found = await store.get("", exchange.conversation_id)
    assert found is not None
    assert [(m.id, m.role, m.status, m.stream_id) for m in found.messages[1:]] == [
        (exchange.assistant_message_id, "assistant", "complete", "s"),
        (found.messages[2].id, "tool", "complete", "s"),
        (next_id, "assistant", "streaming", "s"),
    ]
    step = found.messages[1]
    assert (step.reasoning, step.prompt_tokens, step.tool_calls) == ("thinking", 10, [CALL_A])
    # Its process dies in the next step: what that step streamed is stored as interrupted, with
    # the results of its tools that had answered.
    assert await store.interrupt_stream(
        "s",
        content="partial",
        reasoning="",
        tool_calls=[CALL_B],
        results=[ToolResult("call_b", "blue")],
        usage=None,
    )
    assert not await store.interrupt_stream(
        "s", content="x", reasoning="", tool_calls=[], results=[], usage=None
    )
    found = await store.get("", exchange.conversation_id)
    assert found is not None
    last, result = found.messages[3:]
    assert (last.id, last.status, last.content, last.tool_calls) == (
        next_id,
        "interrupted",
        "partial",
        [CALL_B],
    )
    assert (result.role, result.tool_call_id, result.content) == ("tool", "call_b", "blue")


def rows(
    *messages: tuple[str, str, list[dict[str, str]] | None, str | None],
) -> list[tuple[str, str, str | None, str | None]]:
    return [(r, c, orjson.dumps(t).decode() if t else None, i) for r, c, t, i in messages]


def test_the_history_never_sends_a_call_without_its_result_or_a_result_without_its_call() -> None:
    history = chat_messages(
        rows(
            ("user", "one", None, None),
            ("assistant", "", [CALL_A, CALL_B], None),  # only call_a got a result
            ("tool", "A", None, "call_a"),
            ("assistant", "", [CALL_A], None),  # none did: left out entirely
            ("user", "two", None, None),
            ("tool", "stray", None, "call_z"),  # no call before it
            ("assistant", "text", [CALL_B], None),  # text kept, its call dropped
        )
    )
    assert history == [
        {"role": "user", "content": "one"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "a"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "A"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "text"},
    ]
