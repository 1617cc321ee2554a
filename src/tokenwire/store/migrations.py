"""Schema changes as named steps, applied in order; the names applied are kept in a table.

Add a step by appending to ``MIGRATIONS``; never edit one that has shipped. Each step and the record
that it ran commit in one transaction. The SQL sticks to what SQLite and PostgreSQL both accept
(``DOUBLE PRECISION`` is a REAL in SQLite).
"""

from __future__ import annotations

import time

from tokenwire.store.database import Conflict, Database

# Several processes may start at once: on PostgreSQL they take turns on this advisory lock; on
# SQLite, BEGIN IMMEDIATE already does that. Each step records its name first, so a process that
# lost the race fails on that record, rolls back, and moves on.
_LOCK_KEY = 7_466_873_571

M001_INITIAL = """
        CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX conversations_owner_updated ON conversations (owner, updated_at);
        CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            reasoning TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            model TEXT,
            stream_id TEXT,
            finish_reason TEXT,
            error_code TEXT,
            error_message TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            UNIQUE (conversation_id, position)
        );
        CREATE INDEX messages_status ON messages (status)
"""

M002_API_TOKENS = """
        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            user_name TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            created_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX api_tokens_user ON api_tokens (user_name)
"""

# Which process writes an answer (store/producers.py), so that another process opening the same
# database can tell a live answer from one whose process died.
M003_MESSAGE_PRODUCER = "ALTER TABLE messages ADD COLUMN producer TEXT"

# Tool calls (docs/tools.md): an assistant message's calls, as the JSON list [{id, name,
# arguments}]; a tool message's call id and whether the tool failed; and, on the user message that
# starts a turn, what that turn offered ({"tools": [...], "tool_choice": ...}), so that the turn's
# continuation offers the same again.
M004_TOOL_CALLS = """
        ALTER TABLE messages ADD COLUMN tool_calls TEXT;
        ALTER TABLE messages ADD COLUMN tool_call_id TEXT;
        ALTER TABLE messages ADD COLUMN is_error INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN offered_tools TEXT
"""

# Responses of the /v1/responses API (docs/protocol.md): the stream that answers, what the
# Response echoes of its request (spec), the input items of the whole previous_response_id chain
# (context), and the final Response once its stream has ended (response, null until then).
M005_RESPONSES = """
        CREATE TABLE responses (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL DEFAULT '',
            stream_id TEXT NOT NULL,
            spec TEXT NOT NULL,
            context TEXT NOT NULL,
            response TEXT,
            created_at DOUBLE PRECISION NOT NULL
        )
"""

MIGRATIONS: list[tuple[str, str]] = [
    ("m001_initial", M001_INITIAL),
    ("m002_api_tokens", M002_API_TOKENS),
    ("m003_message_producer", M003_MESSAGE_PRODUCER),
    ("m004_tool_calls", M004_TOOL_CALLS),
    ("m005_responses", M005_RESPONSES),
]


async def migrate(db: Database) -> list[str]:
    """Apply the steps not yet applied; returns their names."""
    lock: list[tuple[str, tuple[object, ...]]] = (
        [("SELECT pg_advisory_xact_lock(?)", (_LOCK_KEY,))] if db.dialect == "postgresql" else []
    )
    create = (
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
    )
    await db.transaction([*lock, (create, ())])
    applied = {row[0] for row in await db.fetchall("SELECT name FROM schema_migrations")}
    done: list[str] = []
    for name, script in MIGRATIONS:
        if name in applied:
            continue
        statements = [
            *lock,
            ("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", (name, time.time())),
            *((sql, ()) for sql in script.split(";") if sql.strip()),
        ]
        try:
            await db.transaction(statements)
        except Conflict:
            continue  # another process applied it meanwhile
        done.append(name)
    return done
