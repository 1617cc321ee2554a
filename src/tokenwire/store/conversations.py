"""Conversations and their messages, on any ``Database``.

The user's message is stored before generation starts. The assistant's message is stored at the
same moment with status ``streaming`` and grows as the answer streams; it ends ``complete``,
``cancelled``, ``error`` or, when its process died mid-answer, ``interrupted``. Every query is
scoped by ``owner`` so one user never sees another's conversations.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Literal

from tokenwire.store.database import Database
from tokenwire.store.migrations import migrate
from tokenwire.store.producers import Producers, producers_for

MessageStatus = Literal["streaming", "complete", "cancelled", "error", "interrupted"]
TITLE_LENGTH = 80

_MESSAGE_COLUMNS = (
    "id, role, content, reasoning, status, model, stream_id, finish_reason, error_code,"
    " error_message, prompt_tokens, completion_tokens, created_at, updated_at"
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: str
    role: str
    content: str
    reasoning: str
    status: MessageStatus
    model: str | None
    stream_id: str | None
    finish_reason: str | None
    error_code: str | None
    error_message: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: float
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    title: str
    created_at: float
    updated_at: float
    messages: tuple[StoredMessage, ...] = ()

    def to_json(self, *, with_messages: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if with_messages:
            out["messages"] = [m.to_json() for m in self.messages]
        return out


@dataclass(frozen=True, slots=True)
class Exchange:
    """The rows one chat turn created: the user's message and the assistant's, still streaming."""

    conversation_id: str
    user_message_id: str
    assistant_message_id: str


class ConversationStore:
    def __init__(self, db: Database, producers: Producers | None = None) -> None:
        self.db = db
        self.producers = producers or producers_for(db)
        self._recovers = False

    async def open(self, *, recover: bool = True) -> int:
        """Apply migrations and mark the answers whose process died as ``interrupted``.

        ``recover=False`` when the stream log is shared (Redis): its producer leases decide which
        answers lost their process, and end them with their text.
        """
        await migrate(self.db)
        await self.producers.start()
        self._recovers = recover
        return await self.recover() if recover else 0

    async def close(self) -> None:
        try:
            await self.db.close()
        finally:
            await self.producers.close()  # last: until here, what this process writes is live

    async def recover(self, conversation_id: str | None = None) -> int:
        """Mark as ``interrupted`` the answers still ``streaming`` whose process is gone; the
        answers that other live processes are writing are left alone."""
        where = "status = 'streaming'"
        params: list[Any] = []
        if conversation_id is not None:
            where += " AND conversation_id = ?"
            params.append(conversation_id)
        rows = await self.db.fetchall(
            f"SELECT DISTINCT producer FROM messages WHERE {where}", params
        )
        producers = [row[0] for row in rows if row[0] is not None]
        alive = await self.producers.alive(producers) if producers else set()
        dead = [producer for producer in producers if producer not in alive]
        if len(rows) == len(producers) and not dead:
            return 0
        gone = "producer IS NULL"  # written before producers were recorded
        if dead:
            gone += f" OR producer IN ({', '.join('?' for _ in dead)})"
        return await self.db.execute(
            f"UPDATE messages SET status = 'interrupted', updated_at = ? WHERE {where}"
            f" AND ({gone})",
            [time.time(), *params, *dead],
        )

    async def mark_interrupted(self, stream_ids: list[str]) -> int:
        """Mark these streams' answers ``interrupted``, if they are still ``streaming``."""
        if not stream_ids:
            return 0
        return await self.db.execute(
            "UPDATE messages SET status = 'interrupted', updated_at = ? WHERE status = 'streaming'"
            f" AND stream_id IN ({', '.join('?' for _ in stream_ids)})",
            [time.time(), *stream_ids],
        )

    async def streaming_since(self, before: float) -> list[tuple[str, str]]:
        """(message id, stream id) of the answers still ``streaming`` that began before then."""
        rows = await self.db.fetchall(
            "SELECT id, stream_id FROM messages WHERE status = 'streaming' AND created_at < ?",
            (before,),
        )
        return [(row[0], row[1] or "") for row in rows]

    async def streaming_streams(self, conversation_id: str) -> list[str]:
        """The stream ids of the answers still ``streaming`` in a conversation."""
        rows = await self.db.fetchall(
            "SELECT stream_id FROM messages WHERE conversation_id = ? AND status = 'streaming'",
            (conversation_id,),
        )
        return [row[0] for row in rows if row[0]]

    async def interrupt_answer(
        self, message_id: str, *, content: str, reasoning: str, usage: tuple[int, int] | None
    ) -> bool:
        """Store an answer whose process died, unless its own process stored an end meanwhile."""
        prompt_tokens, completion_tokens = usage or (None, None)
        changed = await self.db.execute(
            "UPDATE messages SET content = ?, reasoning = ?, status = 'interrupted',"
            " error_code = 'interrupted', error_message = ?, prompt_tokens = ?,"
            " completion_tokens = ?, updated_at = ? WHERE id = ? AND status = 'streaming'",
            (content, reasoning, "the server running this answer stopped", prompt_tokens,
             completion_tokens, time.time(), message_id),
        )  # fmt: skip
        return changed > 0

    async def start_exchange(
        self,
        *,
        owner: str,
        conversation_id: str | None,
        user_text: str,
        model: str,
        stream_id: str,
    ) -> Exchange:
        """Store the user's message and an empty streaming assistant message, in one transaction.

        Raises ``LookupError`` when ``conversation_id`` names no conversation of ``owner``.
        """
        now = time.time()
        statements: list[tuple[str, list[Any]]] = []
        if conversation_id is None:
            conversation_id = new_id("conv")
            position = 0
            statements.append(
                (
                    "INSERT INTO conversations (id, owner, title, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [conversation_id, owner, _title(user_text), now, now],
                )
            )
        else:
            position = await self._next_position(owner, conversation_id)
            statements.append(
                ("UPDATE conversations SET updated_at = ? WHERE id = ?", [now, conversation_id])
            )
        user_id, assistant_id = new_id("msg"), new_id("msg")
        insert = (
            "INSERT INTO messages (id, conversation_id, position, role, content, status, model,"
            " stream_id, producer, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        statements.append(
            (insert, [user_id, conversation_id, position, "user", user_text, "complete", None,
                      None, None, now, now])
        )  # fmt: skip
        statements.append(
            (insert, [assistant_id, conversation_id, position + 1, "assistant", "", "streaming",
                      model, stream_id, self.producers.id, now, now])
        )  # fmt: skip
        await self.db.transaction(statements)
        return Exchange(conversation_id, user_id, assistant_id)

    async def _next_position(self, owner: str, conversation_id: str) -> int:
        row = await self.db.fetchone(
            "SELECT c.id, MAX(m.position) FROM conversations c"
            " LEFT JOIN messages m ON m.conversation_id = c.id"
            " WHERE c.id = ? AND c.owner = ? GROUP BY c.id",
            (conversation_id, owner),
        )
        if row is None:
            raise LookupError(conversation_id)
        return 0 if row[1] is None else int(row[1]) + 1

    async def update_answer(
        self,
        message_id: str,
        *,
        content: str,
        reasoning: str,
        status: MessageStatus,
        finish_reason: str | None = None,
        error: tuple[str, str] | None = None,
        usage: tuple[int, int] | None = None,
    ) -> None:
        error_code, error_message = error or (None, None)
        prompt_tokens, completion_tokens = usage or (None, None)
        # Growing text never revives an answer that has ended (another process may have ended it).
        only_live = " AND status = 'streaming'" if status == "streaming" else ""
        await self.db.execute(
            "UPDATE messages SET content = ?, reasoning = ?, status = ?, finish_reason = ?,"
            " error_code = ?, error_message = ?, prompt_tokens = ?, completion_tokens = ?,"
            " updated_at = ? WHERE id = ?" + only_live,
            (content, reasoning, status, finish_reason, error_code, error_message,
             prompt_tokens, completion_tokens, time.time(), message_id),
        )  # fmt: skip

    async def history(self, owner: str, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation as chat messages for a model: what was said, partial answers too."""
        rows = await self.db.fetchall(
            "SELECT m.role, m.content FROM messages m JOIN conversations c"
            " ON c.id = m.conversation_id WHERE c.id = ? AND c.owner = ? AND m.content <> ''"
            " ORDER BY m.position",
            (conversation_id, owner),
        )
        return [{"role": role, "content": content} for role, content in rows]

    async def is_streaming(self, conversation_id: str) -> bool:
        """Whether an answer is still being written in the conversation. Answers whose process
        died are marked ``interrupted`` first, so a crash never leaves a conversation busy."""
        if self._recovers:
            await self.recover(conversation_id)
        row = await self.db.fetchone(
            "SELECT 1 FROM messages WHERE conversation_id = ? AND status = 'streaming' LIMIT 1",
            (conversation_id,),
        )
        return row is not None

    async def get(self, owner: str, conversation_id: str) -> Conversation | None:
        row = await self.db.fetchone(
            "SELECT id, title, created_at, updated_at FROM conversations"
            " WHERE id = ? AND owner = ?",
            (conversation_id, owner),
        )
        if row is None:
            return None
        messages = await self.db.fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY position",
            (conversation_id,),
        )
        return Conversation(
            row[0], row[1], row[2], row[3], messages=tuple(StoredMessage(*m) for m in messages)
        )

    async def list(self, owner: str, *, limit: int = 50, offset: int = 0) -> list[Conversation]:
        rows = await self.db.fetchall(
            "SELECT id, title, created_at, updated_at FROM conversations WHERE owner = ?"
            " ORDER BY updated_at DESC, id LIMIT ? OFFSET ?",
            (owner, limit, offset),
        )
        return [Conversation(row[0], row[1], row[2], row[3]) for row in rows]

    async def delete(self, owner: str, conversation_id: str) -> bool:
        counts = await self.db.transaction(
            [
                (
                    "DELETE FROM messages WHERE conversation_id IN"
                    " (SELECT id FROM conversations WHERE id = ? AND owner = ?)",
                    (conversation_id, owner),
                ),
                (
                    "DELETE FROM conversations WHERE id = ? AND owner = ?",
                    (conversation_id, owner),
                ),
            ]
        )
        return counts[1] > 0


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"
