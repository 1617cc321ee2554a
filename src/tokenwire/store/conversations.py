"""Conversations and their messages, on any ``Database``.

The user's message is stored before generation starts. The assistant's message is stored at the
same moment with status ``streaming`` and grows as the answer streams; it ends ``complete``,
``cancelled``, ``error`` or, when its process died mid-answer, ``interrupted``. Every query is
scoped by ``owner`` so one user never sees another's conversations.

Tool calls (docs/tools.md): an assistant message keeps the calls it made (``tool_calls``), and each
result is a ``tool`` message of its own with the ``tool_call_id`` it answers and ``is_error``. A
stream in which the server ran tools writes several messages, all with its ``stream_id``: the
assistant's message up to its calls, their results, then a new assistant message for what the
model says next. The user message that starts a turn keeps what the turn offered
(``offered_tools``), for the continuation that brings the results of the caller's own tools.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import orjson

from tokenwire.events import ToolResult, WholeToolCall
from tokenwire.store.database import Database, Params
from tokenwire.store.migrations import migrate
from tokenwire.store.producers import Producers, producers_for

MessageStatus = Literal["streaming", "complete", "cancelled", "error", "interrupted"]
TITLE_LENGTH = 80

_MESSAGE_COLUMNS = (
    "id, role, content, reasoning, status, model, stream_id, finish_reason, error_code,"
    " error_message, prompt_tokens, completion_tokens, created_at, updated_at, tool_calls,"
    " tool_call_id, is_error"
)
_MESSAGE_FIELDS = tuple(name.strip() for name in _MESSAGE_COLUMNS.split(","))
# A message after the last of its conversation, its position read in the same statement.
# Its parameters: id, role, content, status, model, stream_id, producer, tool_call_id, is_error,
# created_at, updated_at, then conversation_id twice.
_INSERT_LAST = (
    "INSERT INTO messages (id, role, content, status, model, stream_id, producer, tool_call_id,"
    " is_error, created_at, updated_at, conversation_id, position)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
    " (SELECT COALESCE(MAX(position), -1) + 1 FROM messages WHERE conversation_id = ?))"
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
    tool_calls: list[dict[str, str]] | None = None  # an assistant's: [{id, name, arguments}]
    tool_call_id: str | None = None  # a tool message's: the call it answers
    is_error: bool = False  # a tool message's: the tool failed

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> StoredMessage:
        values: dict[str, Any] = dict(zip(_MESSAGE_FIELDS, row, strict=True))
        calls = values.pop("tool_calls")
        values["is_error"] = bool(values["is_error"])
        return cls(tool_calls=orjson.loads(calls) if calls else None, **values)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TurnState:
    """Where a conversation's last turn stands: what its user message offered (``{"tools",
    "tool_choice"}`` or None), the model of its last answer, and the calls of that answer still
    waiting for a result (``{id, name, arguments}``; none unless it ended with ``tool_calls``)."""

    offered: dict[str, Any] | None
    model: str | None
    pending: tuple[dict[str, str], ...]


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

    async def conversation_of_stream(self, owner: str, stream_id: str) -> str | None:
        """The conversation of ``owner`` that holds the answer of ``stream_id``, if any."""
        row = await self.db.fetchone(
            "SELECT m.conversation_id FROM messages m JOIN conversations c"
            " ON c.id = m.conversation_id WHERE m.stream_id = ? AND c.owner = ? LIMIT 1",
            (stream_id, owner),
        )
        return None if row is None else str(row[0])

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
            (
                content,
                reasoning,
                "the server running this answer stopped",
                prompt_tokens,
                completion_tokens,
                time.time(),
                message_id,
            ),
        )
        return changed > 0

    async def interrupt_stream(
        self,
        stream_id: str,
        *,
        content: str,
        reasoning: str,
        tool_calls: Sequence[dict[str, str]],
        results: Sequence[ToolResult],
        usage: tuple[int, int] | None,
    ) -> bool:
        """Store what a stream whose process died was writing: its message still ``streaming``
        (the last, when the server ran tools in it) as ``interrupted`` with its text and calls,
        and the results of the tools that answered after them. False when nothing was
        streaming any more: its own process stored an end meanwhile."""
        row = await self.db.fetchone(
            "SELECT id, conversation_id FROM messages WHERE stream_id = ? AND role = 'assistant'"
            " AND status = 'streaming'",
            (stream_id,),
        )
        if row is None:
            return False
        message_id, conversation_id = row
        now = time.time()
        prompt_tokens, completion_tokens = usage or (None, None)
        calls = orjson.dumps(list(tool_calls)).decode() if tool_calls else None
        counts = await self.db.transaction(
            [
                (
                    "UPDATE messages SET content = ?, reasoning = ?, tool_calls = ?,"
                    " status = 'interrupted', error_code = 'interrupted', error_message = ?,"
                    " prompt_tokens = ?, completion_tokens = ?, updated_at = ?"
                    " WHERE id = ? AND status = 'streaming'",
                    (
                        content,
                        reasoning,
                        calls,
                        "the server running this answer stopped",
                        prompt_tokens,
                        completion_tokens,
                        now,
                        message_id,
                    ),
                ),
                *(self._tool_message(conversation_id, stream_id, r, now) for r in results),
            ]
        )
        return counts[0] > 0

    async def start_exchange(
        self,
        *,
        owner: str,
        conversation_id: str | None,
        user_text: str,
        model: str,
        stream_id: str,
        offered_tools: dict[str, Any] | None = None,
    ) -> Exchange:
        """Store the user's message and an empty streaming assistant message, in one transaction.

        ``offered_tools`` is what the turn offers the model (``{"tools", "tool_choice"}``), kept
        on the user's message for the turn's continuation. Raises ``LookupError`` when
        ``conversation_id`` names no conversation of ``owner``.
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
            " stream_id, producer, offered_tools, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        offered = orjson.dumps(offered_tools).decode() if offered_tools else None
        statements.append(
            (
                insert,
                [
                    user_id,
                    conversation_id,
                    position,
                    "user",
                    user_text,
                    "complete",
                    None,
                    None,
                    None,
                    offered,
                    now,
                    now,
                ],
            )
        )
        statements.append(
            (
                insert,
                [
                    assistant_id,
                    conversation_id,
                    position + 1,
                    "assistant",
                    "",
                    "streaming",
                    model,
                    stream_id,
                    self.producers.id,
                    None,
                    now,
                    now,
                ],
            )
        )
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
        tool_calls: Sequence[dict[str, str]] = (),
    ) -> None:
        await self.db.execute(
            *_answer_update(
                message_id,
                content=content,
                reasoning=reasoning,
                status=status,
                finish_reason=finish_reason,
                error=error,
                usage=usage,
                tool_calls=tool_calls,
            )
        )

    async def save_step(
        self,
        message_id: str,
        *,
        conversation_id: str,
        stream_id: str,
        content: str,
        reasoning: str,
        tool_calls: Sequence[dict[str, str]],
        results: Sequence[ToolResult],
        status: MessageStatus,
        finish_reason: str | None = None,
        error: tuple[str, str] | None = None,
        usage: tuple[int, int] | None = None,
        next_model: str | None = None,
    ) -> str | None:
        """End an assistant message that called tools, in one transaction: its text and calls,
        the results of the tools the server ran as ``tool`` messages after it, and, when the
        stream goes on (``next_model``), a new empty streaming assistant message after them, whose
        id is returned. The new message is written before the old one ends, so the conversation
        is never seen idle between the two."""
        now = time.time()
        statements = [self._tool_message(conversation_id, stream_id, r, now) for r in results]
        next_id = None
        if next_model is not None:
            next_id = new_id("msg")
            statements.append(
                self._new_answer(next_id, conversation_id, next_model, stream_id, now)
            )
        statements.append(
            _answer_update(
                message_id,
                content=content,
                reasoning=reasoning,
                status=status,
                finish_reason=finish_reason,
                error=error,
                usage=usage,
                tool_calls=tool_calls,
            )
        )
        await self.db.transaction(statements)
        return next_id

    async def continue_exchange(
        self,
        *,
        conversation_id: str,
        results: Sequence[ToolResult],
        model: str,
        stream_id: str,
    ) -> Exchange:
        """Store the results of the tools a caller ran, as ``tool`` messages, and an empty
        streaming assistant message after them, in one transaction. The caller has checked that
        the conversation exists and that these calls were waiting for them."""
        now = time.time()
        assistant_id = new_id("msg")
        statements: list[tuple[str, Params]] = [
            ("UPDATE conversations SET updated_at = ? WHERE id = ?", [now, conversation_id]),
            *(self._tool_message(conversation_id, stream_id, r, now) for r in results),
            self._new_answer(assistant_id, conversation_id, model, stream_id, now),
        ]
        await self.db.transaction(statements)
        return Exchange(conversation_id, "", assistant_id)

    def _tool_message(
        self, conversation_id: str, stream_id: str, result: ToolResult, now: float
    ) -> tuple[str, Params]:
        row = (new_id("msg"), "tool", result.content, "complete", None, stream_id, None)
        ending = (result.tool_call_id, int(result.is_error), now, now)
        return _INSERT_LAST, [*row, *ending, conversation_id, conversation_id]

    def _new_answer(
        self, message_id: str, conversation_id: str, model: str, stream_id: str, now: float
    ) -> tuple[str, Params]:
        row = (message_id, "assistant", "", "streaming", model, stream_id, self.producers.id)
        return _INSERT_LAST, [*row, None, 0, now, now, conversation_id, conversation_id]

    async def turn_state(self, owner: str, conversation_id: str) -> TurnState | None:
        """Where the conversation's last turn stands; None when there is no such conversation."""
        if await self.get_meta(owner, conversation_id) is None:
            return None
        rows = await self.db.fetchall(
            "SELECT role, status, model, finish_reason, tool_calls, tool_call_id, offered_tools"
            " FROM messages WHERE conversation_id = ? ORDER BY position",
            (conversation_id,),
        )
        offered: dict[str, Any] | None = None
        model: str | None = None
        pending: dict[str, dict[str, str]] = {}
        for role, status, row_model, finish_reason, calls, call_id, offered_tools in rows:
            if role == "user":
                offered = orjson.loads(offered_tools) if offered_tools else None
                model, pending = None, {}
            elif role == "assistant":
                model = row_model
                waiting = status == "complete" and finish_reason == "tool_calls" and calls
                pending = {c["id"]: c for c in orjson.loads(calls)} if waiting else {}
            elif role == "tool":
                pending.pop(call_id, None)
        return TurnState(offered, model, tuple(pending.values()))

    async def history(self, owner: str, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation as chat messages for a model, in OpenAI's shape: what was said,
        partial answers too, tool calls and their results."""
        rows = await self.db.fetchall(
            "SELECT m.role, m.content, m.tool_calls, m.tool_call_id FROM messages m"
            " JOIN conversations c ON c.id = m.conversation_id WHERE c.id = ? AND c.owner = ?"
            " ORDER BY m.position",
            (conversation_id, owner),
        )
        return chat_messages(rows)

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

    async def get_meta(self, owner: str, conversation_id: str) -> Conversation | None:
        """The conversation without its messages."""
        row = await self.db.fetchone(
            "SELECT id, title, created_at, updated_at FROM conversations"
            " WHERE id = ? AND owner = ?",
            (conversation_id, owner),
        )
        return None if row is None else Conversation(row[0], row[1], row[2], row[3])

    async def get(self, owner: str, conversation_id: str) -> Conversation | None:
        found = await self.get_meta(owner, conversation_id)
        if found is None:
            return None
        messages = await self.db.fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY position",
            (conversation_id,),
        )
        return Conversation(
            found.id,
            found.title,
            found.created_at,
            found.updated_at,
            messages=tuple(StoredMessage.from_row(m) for m in messages),
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


def _answer_update(
    message_id: str,
    *,
    content: str,
    reasoning: str,
    status: MessageStatus,
    finish_reason: str | None,
    error: tuple[str, str] | None,
    usage: tuple[int, int] | None,
    tool_calls: Sequence[dict[str, str]],
) -> tuple[str, Params]:
    error_code, error_message = error or (None, None)
    prompt_tokens, completion_tokens = usage or (None, None)
    calls = orjson.dumps(list(tool_calls)).decode() if tool_calls else None
    # Growing text never revives an answer that has ended (another process may have ended it).
    only_live = " AND status = 'streaming'" if status == "streaming" else ""
    return (
        "UPDATE messages SET content = ?, reasoning = ?, status = ?, finish_reason = ?,"
        " error_code = ?, error_message = ?, prompt_tokens = ?, completion_tokens = ?,"
        " tool_calls = ?, updated_at = ? WHERE id = ?" + only_live,
        (
            content,
            reasoning,
            status,
            finish_reason,
            error_code,
            error_message,
            prompt_tokens,
            completion_tokens,
            calls,
            time.time(),
            message_id,
        ),
    )


def chat_messages(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Stored rows ``(role, content, tool_calls, tool_call_id)``, in order, as a model's history in
    OpenAI's shape: an assistant's calls as ``[{"id", "type": "function", "function": {"name",
    "arguments"}}]`` (``content`` null when it said nothing), then a ``tool`` message per result.

    Every call sent has its result right after it, as the APIs require: a call that got no result
    (its turn ended another way, or the next message came before it) is left out, and so is an
    answer left with neither text nor calls.
    """
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(rows):
        role, content, calls, _ = rows[i]
        i += 1
        if role == "tool":  # its call was left out (or never stored): so is it
            continue
        if role != "assistant":
            if content:
                out.append({"role": role, "content": content})
            continue
        results = []
        while i < len(rows) and rows[i][0] == "tool":
            results.append(rows[i])
            i += 1
        answered = {row[3] for row in results}
        kept = [call for call in orjson.loads(calls) if call["id"] in answered] if calls else []
        if not kept:
            if content:
                out.append({"role": "assistant", "content": content})
            continue
        out.append(
            {
                "role": "assistant",
                "content": content or None,
                "tool_calls": [WholeToolCall(**call).to_openai() for call in kept],
            }
        )
        ids = {call["id"] for call in kept}
        out.extend(
            {"role": "tool", "tool_call_id": row[3], "content": row[1]}
            for row in results
            if row[3] in ids
        )
    return out


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"
