"""The OpenAI Responses API as an encoding of protocol v1 events: pure, no I/O.

``ResponseEncoder`` turns one stream's events, in order, into ``response.*`` events and keeps the
``Response`` object they add up to (``snapshot``). The encoding is deterministic: the same v1
events give the same Responses events, ids and ``sequence_number``s on any process, so a reader
that resumes with ``starting_after=N`` re-encodes the stream log from its start and skips what it
already had. ``sequence_number`` is tokenwire's own numbering, from 0, gapless.

Mapping (documented in docs/protocol.md, "Responses API"):

- ``start`` -> ``response.created``, ``response.in_progress``;
- ``reasoning`` -> a ``reasoning`` output item and ``response.reasoning_text.delta``;
- ``delta`` -> a ``message`` output item with one ``output_text`` part and
  ``response.output_text.delta``;
- ``tool_call`` -> a ``function_call`` output item and ``response.function_call_arguments.delta``;
- ``tool_result`` (a tool the server ran) closes the open items; the text after it is a new item;
- ``usage`` -> the response's ``usage``; ``logprobs`` are not carried;
- ``done`` -> ``response.completed``; ``length`` -> ``response.incomplete`` (``max_output_tokens``);
  ``cancelled`` -> ``response.incomplete`` whose response has status ``cancelled``;
- ``error`` -> ``response.failed`` with the response's ``error``.

An item is closed (its ``*.done`` events, then ``response.output_item.done``) when an item of
another kind starts or the stream ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from tokenwire.events import (
    Delta,
    Done,
    Error,
    Event,
    Reasoning,
    Start,
    ToolCall,
    ToolResult,
    Usage,
)

__all__ = ["ResponseEncoder", "ResponseSpec", "item_id"]

# tokenwire's error codes that have an OpenAI counterpart; every other one is a server_error.
_ERROR_CODES: Final = {
    "rate_limited": "rate_limit_exceeded",
    "upstream_rate_limited": "rate_limit_exceeded",
}


@dataclass(frozen=True, slots=True)
class ResponseSpec:
    """What a ``Response`` object echoes of its request."""

    id: str
    model: str
    created_at: int
    instructions: str | None = None
    background: bool = False
    store: bool = True
    previous_response_id: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = "auto"
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    text: dict[str, Any] = field(default_factory=lambda: {"format": {"type": "text"}})
    metadata: dict[str, str] = field(default_factory=dict)


def item_id(response_id: str, prefix: str, output_index: int) -> str:
    """An output item's id, made from its response's id and place: the same on every process."""
    return f"{prefix}_{response_id.removeprefix('resp_')}_{output_index}"


class _Item:
    __slots__ = ("call_id", "id", "index", "kind", "name", "parts", "tool_index")

    def __init__(self, kind: str, item_id_: str, index: int) -> None:
        self.kind = kind  # "message" | "reasoning" | "function_call"
        self.id = item_id_
        self.index = index
        self.parts: list[str] = []
        self.call_id = ""
        self.name = ""
        self.tool_index = -1

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def to_json(self, status: str) -> dict[str, Any]:
        if self.kind == "message":
            content = [] if status == "in_progress" else [_text_part(self.text)]
            return {
                "id": self.id,
                "type": "message",
                "role": "assistant",
                "status": status,
                "content": content,
            }
        if self.kind == "reasoning":
            content = [] if status == "in_progress" else [_reasoning_part(self.text)]
            return {
                "id": self.id,
                "type": "reasoning",
                "summary": [],
                "content": content,
                "status": status,
            }
        return {
            "id": self.id,
            "type": "function_call",
            "call_id": self.call_id,
            "name": self.name,
            "arguments": "" if status == "in_progress" else self.text,
            "status": status,
        }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _reasoning_part(text: str) -> dict[str, Any]:
    return {"type": "reasoning_text", "text": text}


class ResponseEncoder:
    """Encodes one stream's v1 events as Responses events; ``snapshot`` is the ``Response``."""

    def __init__(self, spec: ResponseSpec) -> None:
        self.spec = spec
        self.sequence_number = 0  # the next event's
        self.status = "in_progress"
        self._items: list[_Item] = []
        self._open: list[_Item] = []
        self._usage: Usage | None = None
        self._error: dict[str, str] | None = None
        self._incomplete_reason: str | None = None
        self.finished = False

    # -- the Response object -------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The ``Response`` as it stands after the events encoded so far."""
        spec = self.spec
        open_ids = {item.id for item in self._open}
        output = [
            item.to_json("in_progress" if item.id in open_ids else self._item_status())
            for item in self._items
        ]
        return {
            "id": spec.id,
            "object": "response",
            "created_at": spec.created_at,
            "status": self.status,
            "background": spec.background,
            "store": spec.store,
            "model": spec.model,
            "instructions": spec.instructions,
            "previous_response_id": spec.previous_response_id,
            "output": output,
            "output_text": "".join(i.text for i in self._items if i.kind == "message"),
            "error": self._error,
            "incomplete_details": (
                None if self._incomplete_reason is None else {"reason": self._incomplete_reason}
            ),
            "tools": spec.tools,
            "tool_choice": spec.tool_choice,
            "parallel_tool_calls": True,
            "temperature": spec.temperature,
            "top_p": spec.top_p,
            "max_output_tokens": spec.max_output_tokens,
            "text": spec.text,
            "metadata": spec.metadata,
            "usage": self._usage_json(),
        }

    def _usage_json(self) -> dict[str, Any] | None:
        if self._usage is None:
            return None
        prompt, completion = self._usage.prompt_tokens, self._usage.completion_tokens
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        }

    def _item_status(self) -> str:
        return "completed" if self.status == "completed" else "incomplete"

    # -- encoding ------------------------------------------------------------------------

    def encode(self, event: Event) -> list[dict[str, Any]]:
        """The Responses events of one v1 event (none for some), numbered."""
        out: list[dict[str, Any]] = []
        payload = event.payload
        match payload:
            case Start():
                out.append(self._whole("response.created"))
                out.append(self._whole("response.in_progress"))
            case Delta(text=text):
                item = self._current("message", out)
                item.parts.append(text)
                out.append(
                    self._event(
                        "response.output_text.delta", item, content_index=0, delta=text, logprobs=[]
                    )
                )
            case Reasoning(text=text):
                item = self._current("reasoning", out)
                item.parts.append(text)
                out.append(
                    self._event("response.reasoning_text.delta", item, content_index=0, delta=text)
                )
            case ToolCall():
                self._tool_call(payload, out)
            case ToolResult():
                self._close_all(out, "completed")
            case Usage():
                self._usage = payload
            case Done(finish_reason=reason):
                self._finish(reason, out)
            case Error():
                self._fail(payload, out)
            case _:
                pass  # logprobs: not carried
        return out

    def _number(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj["sequence_number"] = self.sequence_number
        self.sequence_number += 1
        return obj

    def _whole(self, kind: str) -> dict[str, Any]:
        return self._number({"type": kind, "response": self.snapshot()})

    def _event(self, kind: str, item: _Item, **fields: Any) -> dict[str, Any]:
        return self._number(
            {"type": kind, "item_id": item.id, "output_index": item.index, **fields}
        )

    def _open_item(self, kind: str, prefix: str, out: list[dict[str, Any]]) -> _Item:
        index = len(self._items)
        item = _Item(kind, item_id(self.spec.id, prefix, index), index)
        self._items.append(item)
        self._open.append(item)
        out.append(
            self._number(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": item.to_json("in_progress"),
                }
            )
        )
        if kind == "message":
            out.append(
                self._event(
                    "response.content_part.added", item, content_index=0, part=_text_part("")
                )
            )
        return item

    def _current(self, kind: str, out: list[dict[str, Any]]) -> _Item:
        if len(self._open) == 1 and self._open[0].kind == kind:
            return self._open[0]
        self._close_all(out, "completed")
        return self._open_item(kind, "msg" if kind == "message" else "rs", out)

    def _tool_call(self, piece: ToolCall, out: list[dict[str, Any]]) -> None:
        call = next(
            (i for i in self._open if i.kind == "function_call" and i.tool_index == piece.index),
            None,
        )
        if call is None or piece.id is not None:
            # A call's first piece: what is open of another kind (or the same index) ends.
            for item in list(self._open):
                if item.kind != "function_call" or item.tool_index == piece.index:
                    self._close(item, out, "completed")
            call = _Item(
                "function_call", item_id(self.spec.id, "fc", len(self._items)), len(self._items)
            )
            call.call_id = piece.id or ""
            call.name = piece.name or ""
            call.tool_index = piece.index
            self._items.append(call)
            self._open.append(call)
            out.append(
                self._number(
                    {
                        "type": "response.output_item.added",
                        "output_index": call.index,
                        "item": call.to_json("in_progress"),
                    }
                )
            )
        if piece.arguments:
            call.parts.append(piece.arguments)
            out.append(
                self._event("response.function_call_arguments.delta", call, delta=piece.arguments)
            )

    def _close(self, item: _Item, out: list[dict[str, Any]], status: str) -> None:
        self._open.remove(item)
        text = item.text
        if item.kind == "message":
            out.append(
                self._event(
                    "response.output_text.done", item, content_index=0, text=text, logprobs=[]
                )
            )
            out.append(
                self._event(
                    "response.content_part.done", item, content_index=0, part=_text_part(text)
                )
            )
        elif item.kind == "reasoning":
            out.append(
                self._event("response.reasoning_text.done", item, content_index=0, text=text)
            )
        else:
            out.append(
                self._event(
                    "response.function_call_arguments.done", item, name=item.name, arguments=text
                )
            )
        out.append(
            self._number(
                {
                    "type": "response.output_item.done",
                    "output_index": item.index,
                    "item": item.to_json(status),
                }
            )
        )

    def _close_all(self, out: list[dict[str, Any]], status: str) -> None:
        for item in list(self._open):
            self._close(item, out, status)

    def _finish(self, reason: str, out: list[dict[str, Any]]) -> None:
        if reason in ("stop", "tool_calls"):
            self.status, kind = "completed", "response.completed"
        elif reason == "length":
            self.status, kind = "incomplete", "response.incomplete"
            self._incomplete_reason = "max_output_tokens"
        else:  # cancelled: status "cancelled", which the SDK's ResponseStatus has
            self.status, kind = "cancelled", "response.incomplete"
        self._close_all(out, self._item_status())
        self.finished = True
        out.append(self._whole(kind))

    def _fail(self, error: Error, out: list[dict[str, Any]]) -> None:
        self.status = "failed"
        self._error = {
            "code": _ERROR_CODES.get(error.code, "server_error"),
            "message": f"{error.code}: {error.message}",
        }
        self._close_all(out, "incomplete")
        self.finished = True
        out.append(self._whole("response.failed"))
