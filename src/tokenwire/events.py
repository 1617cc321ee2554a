"""The event model, protocol v1: the one source of truth for every transport.

A provider yields *payloads* (``Delta``, ``Reasoning``, ``ToolCall``, ``Usage``, ``Done``,
``Error``, and ``Logprobs`` when a ``/v1`` client asked for them); the hub also writes
``ToolResult`` when it runs a tool itself. The hub
numbers them into ``Event``s and appends them to a stream log. An ``Event`` encodes its JSON once,
when it is made, so SSE, NDJSON and WebSocket writers to any number of readers share one encoding.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson

PROTOCOL_VERSION: Final = 1

EventType = Literal[
    "start", "delta", "reasoning", "tool_call", "tool_result", "logprobs", "usage", "done", "error"
]
FinishReason = Literal["stop", "length", "tool_calls", "cancelled"]
TERMINAL_TYPES: Final = frozenset({"done", "error"})


@dataclass(frozen=True, slots=True)
class Start:
    stream_id: str
    conversation_id: str
    message_id: str
    model: str
    type: Literal["start"] = field(default="start", init=False)


@dataclass(frozen=True, slots=True)
class Delta:
    text: str
    type: Literal["delta"] = field(default="delta", init=False)


@dataclass(frozen=True, slots=True)
class Reasoning:
    text: str
    type: Literal["reasoning"] = field(default="reasoning", init=False)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A piece of a tool call: ``id`` and ``name`` on a call's first piece only, then the next
    piece of its JSON ``arguments``. Parallel calls are told apart by ``index``."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    type: Literal["tool_call"] = field(default="tool_call", init=False)


def new_tool_call_id() -> str:
    """An id for a tool call whose model gave it none, in OpenAI's shape (``call_`` and 24
    characters): a result must name its call."""
    return "call_" + uuid.uuid4().hex[:24]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool the server ran answered; ``is_error`` when it raised or timed out."""

    tool_call_id: str
    content: str
    is_error: bool = False
    type: Literal["tool_result"] = field(default="tool_result", init=False)


@dataclass(frozen=True, slots=True)
class Logprobs:
    """The log probabilities of the ``Delta`` that comes next: OpenAI's
    ``choices[0].logprobs.content`` entries (``token``, ``logprob``, ``bytes``,
    ``top_logprobs``) as the upstream sent them.

    Only in a stream whose ``/v1/chat/completions`` client asked for ``logprobs``: a kind of its
    own, so that a ``Delta`` stays one string and its fast paths never look for them.
    """

    content: list[dict[str, Any]]
    type: Literal["logprobs"] = field(default="logprobs", init=False)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    type: Literal["usage"] = field(default="usage", init=False)


@dataclass(frozen=True, slots=True)
class Done:
    finish_reason: FinishReason = "stop"
    type: Literal["done"] = field(default="done", init=False)


@dataclass(frozen=True, slots=True)
class Error:
    code: str
    message: str
    retryable: bool = False
    type: Literal["error"] = field(default="error", init=False)


Payload = Start | Delta | Reasoning | ToolCall | ToolResult | Logprobs | Usage | Done | Error
_PAYLOAD_TYPES: Final[dict[str, type[Payload]]] = {
    "start": Start,
    "delta": Delta,
    "reasoning": Reasoning,
    "tool_call": ToolCall,
    "tool_result": ToolResult,
    "logprobs": Logprobs,
    "usage": Usage,
    "done": Done,
    "error": Error,
}

_FIELDS: Final[dict[type[Payload], tuple[str, ...]]] = {
    kind: tuple(name for name in kind.__slots__ if name != "type")
    for kind in _PAYLOAD_TYPES.values()
}
# Fields a payload leaves out of its JSON when they are None (a tool call's later pieces).
_OMITTED_WHEN_NONE: Final[dict[type[Payload], frozenset[str]]] = {
    ToolCall: frozenset({"id", "name"}),
}


@dataclass(frozen=True, slots=True)
class Event:
    """One numbered event of a stream, with its JSON encoded once."""

    seq: int
    payload: Payload
    json: bytes

    @classmethod
    def make(cls, seq: int, payload: Payload) -> Event:
        kind = type(payload)
        if kind is Delta or kind is Reasoning:
            # Nearly every event: the same bytes as the generic path, without building a dict.
            text = orjson.dumps(payload.text)  # type: ignore[union-attr]
            return cls(seq, payload, _TEXT_JSON[kind] % (seq, text))
        return cls(seq, payload, tight(orjson.dumps(_as_dict(seq, payload))))

    @property
    def type(self) -> EventType:
        return self.payload.type

    @property
    def is_terminal(self) -> bool:
        return self.payload.type in TERMINAL_TYPES

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self.seq, self.payload)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Event:
        """Rebuild an event from its JSON object; raises ``ValueError`` when it is not one."""
        try:
            kind = _PAYLOAD_TYPES[obj["type"]]
            seq = obj["seq"]
            # Only the payload's own fields: transports may add keys (WebSocket adds stream_id),
            # and a reader ignores fields that a later protocol version adds.
            optional = _OMITTED_WHEN_NONE.get(kind, frozenset())
            values: dict[str, Any] = {
                name: obj.get(name) if name in optional else obj[name] for name in _FIELDS[kind]
            }
            payload = kind(**values)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a protocol v1 event: {obj!r:.200}") from exc
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError(f"event seq must be a positive integer: {seq!r}")
        return cls.make(seq, payload)

    @classmethod
    def from_json(cls, data: bytes | str) -> Event:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"event is not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise ValueError("event is not a JSON object")
        return cls.from_dict(obj)


_TEXT_JSON: Final[dict[type[Payload], bytes]] = {
    Delta: b'{"type":"delta","seq":%d,"text":%s}',
    Reasoning: b'{"type":"reasoning","seq":%d,"text":%s}',
}


def tight(data: bytes) -> bytes:
    """A copy of orjson's output that takes only its size: orjson leaves a small document in a
    4 KiB allocation, which a stream log holding the event (or a request held for a whole
    stream) would keep for as long as the stream lives."""
    return bytes(memoryview(data))


def _as_dict(seq: int, payload: Payload) -> dict[str, Any]:
    out: dict[str, Any] = {"type": payload.type, "seq": seq}
    optional = _OMITTED_WHEN_NONE.get(type(payload))
    for name in _FIELDS[type(payload)]:
        value = getattr(payload, name)
        if value is None and optional is not None and name in optional:
            continue
        out[name] = value
    return out


@dataclass(slots=True)
class WholeToolCall:
    """A tool call with its pieces joined: what is stored and sent upstream again."""

    id: str
    name: str
    arguments: str = ""

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    def to_openai(self) -> dict[str, Any]:
        """As OpenAI's chat messages carry it, in an assistant's ``tool_calls``."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


class Answer:
    """What a stream's payloads add up to: text, reasoning, tool calls, usage and how it ended.

    The one fold shared by the generation that stores an answer, the non-streaming OpenAI reply
    and the Python client. Text pieces are joined only when read, and the join is kept, so reading
    while streaming costs only what arrived since the last read. A tool call's pieces join by
    ``index``; a piece with an ``id`` starts a new call, so a later model turn that numbers its
    calls from 0 again never merges into an earlier call.
    """

    __slots__ = ("_open", "_reasoning", "_text", "final", "tool_calls", "tool_results", "usage")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self.tool_calls: list[WholeToolCall] = []
        self.tool_results: list[ToolResult] = []
        self._open: dict[int, WholeToolCall] = {}
        self.usage: Usage | None = None
        self.final: Done | Error | None = None

    def add(self, payload: Payload) -> None:
        match payload:
            case Delta(text=text):
                self._text.append(text)
            case Reasoning(text=text):
                self._reasoning.append(text)
            case ToolCall():
                self._add_call_piece(payload)
            case ToolResult():
                self.tool_results.append(payload)
            case Usage():
                self.usage = payload
            case Done() | Error():
                self.final = payload

    @property
    def text(self) -> str:
        return _joined(self._text)

    @property
    def reasoning(self) -> str:
        return _joined(self._reasoning)

    def _add_call_piece(self, piece: ToolCall) -> None:
        call = self._open.get(piece.index)
        if call is None or piece.id is not None:
            call = WholeToolCall(piece.id or "", piece.name or "")
            self._open[piece.index] = call
            self.tool_calls.append(call)
        elif piece.name and not call.name:
            call.name = piece.name
        call.arguments += piece.arguments

    @property
    def usage_counts(self) -> tuple[int, int] | None:
        return (
            None if self.usage is None else (self.usage.prompt_tokens, self.usage.completion_tokens)
        )


def _joined(parts: list[str]) -> str:
    if len(parts) > 1:
        parts[:] = ["".join(parts)]
    return parts[0] if parts else ""
