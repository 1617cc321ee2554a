"""OpenAI-compatible ``/v1/chat/completions`` bodies, both ways: streamed chunks, whole
completions, errors.

``ChunkEncoder`` turns our event sequence into ``chat.completion.chunk`` SSE frames that the
official SDKs parse: the role in the first chunk, text as ``delta.content``, reasoning as
``delta.reasoning_content`` (the DeepSeek/vLLM convention), a last chunk with ``finish_reason``,
the optional usage chunk of ``stream_options.include_usage``, and ``data: [DONE]``.

``ChunkDecoder`` reads what an OpenAI-compatible upstream streams back into payloads, and
``decode_completion`` a whole ``chat.completion``; what cannot go on as an answer is raised as an
``AnswerError``. No I/O: the OpenAI provider reads the body and keeps the deadlines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, assert_never

import orjson

from tokenwire.errors import TokenwireError
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
from tokenwire.wire.sse import SSEDecoder

__all__ = [
    "DONE",
    "AnswerError",
    "ChunkDecoder",
    "ChunkEncoder",
    "ChunkPayload",
    "IncompleteAnswer",
    "MalformedAnswer",
    "ReportedError",
    "completion",
    "decode_completion",
    "error_body",
]

DONE: Final = b"data: [DONE]\n\n"

# OpenAI has no "cancelled": a stream the user stopped simply stopped.
_FINISH_REASONS: Final = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "cancelled": "stop",
}


def _tool_call_delta(piece: ToolCall) -> dict[str, Any]:
    """A tool call's piece as OpenAI streams it: ``id``, ``type`` and ``name`` on its first."""
    if piece.id is None:
        return {"index": piece.index, "function": {"arguments": piece.arguments}}
    return {
        "index": piece.index,
        "id": piece.id,
        "type": "function",
        "function": {"name": piece.name or "", "arguments": piece.arguments},
    }


class ChunkEncoder:
    """Encodes one stream's events as OpenAI ``chat.completion.chunk`` SSE frames.

    Stateful: it remembers whether the role went out yet and the usage seen, and emits nothing
    after the terminal event.
    """

    __slots__ = (
        "_finished",
        "_head",
        "_include_usage",
        "_role_sent",
        "_tail",
        "_text_frame",
        "_usage",
    )

    def __init__(
        self, completion_id: str, model: str, created: int, include_usage: bool = False
    ) -> None:
        # Every chunk starts and ends the same way; encode those parts once so that a text
        # chunk costs one small orjson.dumps of its delta.
        head = orjson.dumps(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
            }
        )
        self._head = b"data: " + head[:-1]  # without its closing brace
        # With include_usage, OpenAI sends "usage": null on every chunk but the usage one.
        self._tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        # A text chunk after the first, nearly every chunk: one format of the JSON string of its
        # text (the same bytes as _chunk, without a dict and two dumps).
        self._text_frame = b"".join(
            (
                self._head.replace(b"%", b"%%"),
                b',"choices":[{"index":0,"delta":{"content":%s},"finish_reason":null,',
                b'"logprobs":null}]',
                self._tail,
            )
        )
        self._include_usage = include_usage
        self._role_sent = False
        self._usage: tuple[int, int] | None = None
        self._finished = False

    def encode(self, event: Event) -> bytes:
        """The frames for one event: zero or more ``data:`` blocks."""
        if self._finished:
            return b""
        payload = event.payload
        match payload:
            case Start():
                # The opening chunk: the role and no text yet, as OpenAI sends it.
                return self._chunk({"content": ""})
            case Delta(text=text):
                if self._role_sent:
                    return self._text_frame % orjson.dumps(text)
                return self._chunk({"content": text})
            case Reasoning(text=text):
                return self._chunk({"reasoning_content": text})
            case ToolCall():
                return self._chunk({"tool_calls": [_tool_call_delta(payload)]})
            case ToolResult():
                return b""  # a tool the server ran: OpenAI's chunks have no place for it
            case Usage(prompt_tokens=prompt, completion_tokens=answer):
                self._usage = (prompt, answer)
                return b""
            case Done(finish_reason=reason):
                return self._finish(reason)
            case Error(code=code, message=message):
                return self._fail(code, message)
            case _:
                assert_never(payload)

    def encode_events(self, events: Sequence[Event]) -> bytes:
        """The frames for a batch of events, as one bytes."""
        return b"".join([self.encode(event) for event in events])

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        if not self._role_sent:
            # Clients take the role from the first chunk that has one.
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        return b"".join(
            (
                self._head,
                b',"choices":[{"index":0,"delta":',
                orjson.dumps(delta),
                b',"finish_reason":',
                orjson.dumps(finish_reason),
                b',"logprobs":null}]',
                self._tail,
            )
        )

    def _finish(self, reason: str) -> bytes:
        self._finished = True
        frames = [self._chunk({}, _finish_reason(reason))]
        if self._include_usage and self._usage is not None:
            frames.append(self._usage_chunk(self._usage))
        frames.append(DONE)
        return b"".join(frames)

    def _usage_chunk(self, usage: tuple[int, int]) -> bytes:
        # Like OpenAI's stream_options.include_usage: no choices, the totals for the request.
        body = orjson.dumps(_usage(usage))
        return b"".join((self._head, b',"choices":[],"usage":', body, b"}\n\n"))

    def _fail(self, code: str, message: str) -> bytes:
        self._finished = True
        # OpenAI reports a failure mid-stream as an error object in a data line; the SDKs raise
        # it as an APIError. It is never the caller's fault once the stream has started.
        body = orjson.dumps(error_body(code, message, "server_error"))
        return b"".join((b"data: ", body, b"\n\n", DONE))


def completion(
    completion_id: str,
    model: str,
    created: int,
    content: str,
    reasoning: str,
    finish_reason: str,
    usage: tuple[int, int] | None,
) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` object; ``usage`` is (prompt, completion) tokens."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        message["reasoning_content"] = reasoning
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _finish_reason(finish_reason),
                "logprobs": None,
            }
        ],
    }
    # Left out when unknown: the SDK's ChatCompletion.usage is optional.
    if usage is not None:
        body["usage"] = _usage(usage)
    return body


def error_body(code: str, message: str, type_: str = "invalid_request_error") -> dict[str, Any]:
    """An error in OpenAI's shape, which its SDKs turn into typed exceptions."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _finish_reason(reason: str) -> str:
    try:
        return _FINISH_REASONS[reason]
    except KeyError:
        raise ValueError(f"unknown finish reason: {reason!r}") from None


def _usage(usage: tuple[int, int]) -> dict[str, int]:
    prompt, answer = usage
    return {"prompt_tokens": prompt, "completion_tokens": answer, "total_tokens": prompt + answer}


# --- decoding what an upstream sends -----------------------------------------------------------

# What a decoded answer is made of: the payloads a provider yields.
ChunkPayload = Delta | Reasoning | ToolCall | Usage | Done

_DONE_STOP: Final = Done("stop")
_DONE_LENGTH: Final = Done("length")
_loads: Final = orjson.loads  # one global lookup per chunk, not a global and an attribute


class AnswerError(TokenwireError, ValueError):
    """What the upstream sent ends the answer in failure.

    ``payloads`` holds what the same ``feed`` decoded before it: it was received, so it is part of
    the answer, and would otherwise be lost with the exception.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.payloads: list[ChunkPayload] = []


class MalformedAnswer(AnswerError):
    """Not what the API sends: ``what`` says how, ``data`` is the line (or body) as received. It
    may echo a secret back: redact it before showing it to anyone."""

    def __init__(self, what: str, data: str) -> None:
        super().__init__(what)
        self.what = what
        self.data = data


class ReportedError(AnswerError):
    """The upstream reported an error instead of (more of) the answer; ``error`` is what it sent:
    an error object in whichever shape the server uses, or its text."""

    def __init__(self, error: Any) -> None:
        super().__init__("the upstream reported an error")
        self.error = error


class IncompleteAnswer(AnswerError):
    """The body ended with neither ``[DONE]`` nor a finish reason: the answer may be cut short."""


class ChunkDecoder:
    """Decodes a streamed ``/chat/completions`` body into payloads: ``feed`` it raw bytes in any
    chunking, call ``end`` if the body ends before ``[DONE]``.

    The rules, each pinned by a test in tests/wire/test_openai.py:

    - ``choices[0].delta.content`` becomes ``Delta``; ``delta.reasoning_content`` (DeepSeek, Qwen)
      or ``delta.reasoning`` (newer Ollama and vLLM; ``reasoning_content`` wins when both are
      sent) becomes ``Reasoning``. Empty strings and ``null`` are skipped.
    - ``usage`` may come in the finish chunk, in a chunk of its own after it, or (some servers) on
      every chunk as a running total. The last one seen is given once, as ``Usage``, just before
      ``Done``.
    - ``finish_reason`` is remembered; ``Done`` comes when ``data: [DONE]`` arrives, with
      ``"length"`` for ``"length"`` and ``"stop"`` for anything else (``stop``, ``tool_calls``,
      ``content_filter``...). ``[DONE]`` without a finish reason is a normal ``Done("stop")``.
      Nothing after ``[DONE]`` is read (``ended``).
    - A body that ends without ``[DONE]`` (``end()``) is an ``IncompleteAnswer``, *unless* a
      finish reason was already seen: then the answer is complete by the upstream's own word, and
      several servers (some Ollama versions among them) omit ``[DONE]``, so it ends as ``Done``.
    - An ``error`` event, a chunk with an ``error`` member and vLLM's bare ``{"object": "error"}``
      are a ``ReportedError``; other named events (pings) are skipped. Anything else that is not
      a chunk (not JSON, not an object, no valid choice, text that is not a string, token counts
      that are not integers) is a ``MalformedAnswer``.

    ``started`` turns true with the first text, reasoning or finish reason (not with role-only
    chunks or comments): the answer has begun. This is the hot path of a relay: one pass over each
    read, no copies; a new kind of delta is one more ``delta.get`` and one more branch in ``feed``.
    """

    __slots__ = ("_sse", "ended", "finish_reason", "started", "usage")

    def __init__(self, sse: SSEDecoder | None = None) -> None:
        """``sse`` is the SSE parser the body is read with; a new ``SSEDecoder`` by default."""
        self._sse = (sse or SSEDecoder()).feed
        self.started = False  # text, reasoning or a finish reason seen
        self.finish_reason: str | None = None  # as the upstream sent it
        self.usage: Usage | None = None  # the last seen, given just before Done
        self.ended = False  # [DONE] seen

    def feed(self, data: bytes) -> list[ChunkPayload]:
        """The payloads of the next piece of the body, in order; often none (a role-only chunk,
        a comment, half a line). Raises ``AnswerError``, which ends the answer."""
        out: list[ChunkPayload] = []
        if self.ended:
            return out
        # Set by every piece of text: a local, stored once per read. The rest changes rarely.
        started = self.started
        try:
            for event in self._sse(data):
                line = event.data
                if event.event != "message":
                    if event.event == "error":
                        raise ReportedError(_loads_or_text(line))
                    continue  # pings and other named events are not chunks
                if line == "[DONE]":
                    if self.usage is not None:
                        out.append(self.usage)
                    out.append(_DONE_LENGTH if self.finish_reason == "length" else _DONE_STOP)
                    self.ended = True
                    break
                try:
                    obj = _loads(line)
                except orjson.JSONDecodeError:
                    raise MalformedAnswer("a data line is not JSON", line) from None
                if type(obj) is not dict:
                    raise MalformedAnswer("a chunk is not a JSON object", line)
                error = obj.get("error")
                if error is not None:
                    raise ReportedError(error)
                choices = obj.get("choices")
                raw_usage = obj.get("usage")
                if choices:
                    try:
                        choice = choices[0]
                        delta = choice.get("delta")
                        if delta:
                            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                            text = delta.get("content")
                        else:
                            reasoning = text = None
                        reason = choice.get("finish_reason")
                    except (AttributeError, IndexError, KeyError, TypeError):
                        raise MalformedAnswer("a chunk has no valid choice", line) from None
                    # One branch per kind of delta, in the order they are given.
                    if reasoning:
                        if type(reasoning) is not str:
                            raise MalformedAnswer("reasoning is not a string", line)
                        started = True
                        out.append(Reasoning(reasoning))
                    if text:
                        if type(text) is not str:
                            raise MalformedAnswer("content is not a string", line)
                        started = True
                        out.append(Delta(text))
                    if reason:
                        self.finish_reason = reason if type(reason) is str else "stop"
                        started = True
                elif choices is None and raw_usage is None:
                    if obj.get("object") == "error":  # vLLM's bare error object
                        raise ReportedError(obj)
                    raise MalformedAnswer("a chunk has neither choices nor usage", line)
                if raw_usage is not None:
                    self.usage = _decode_usage(raw_usage, line)
        except AnswerError as exc:
            exc.payloads = out
            raise
        finally:
            self.started = started
        return out

    def end(self) -> list[ChunkPayload]:
        """The body ended without ``[DONE]``: the last payloads (``Usage`` if any, ``Done``) when
        a finish reason came; else ``IncompleteAnswer``. Nothing after ``[DONE]``."""
        if self.ended:
            return []
        if self.finish_reason is None:
            raise IncompleteAnswer("the body ended without [DONE] or a finish reason")
        self.ended = True
        done = _DONE_LENGTH if self.finish_reason == "length" else _DONE_STOP
        return [done] if self.usage is None else [self.usage, done]


def decode_completion(body: bytes) -> list[ChunkPayload]:
    """A whole ``chat.completion`` (from a server that ignores ``"stream": true``) as the payloads
    of a stream: one ``Reasoning`` and one ``Delta`` if not empty, ``Usage`` if given, ``Done``.
    Raises ``AnswerError``."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedAnswer("the answer is not JSON", body.decode("utf-8", "replace")) from None
    if type(obj) is not dict:
        raise MalformedAnswer("the answer is not a JSON object", str(obj))
    if obj.get("error") is not None:
        raise ReportedError(obj["error"])
    try:
        choice = obj["choices"][0]
        message = choice["message"]
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        text = message.get("content")
        reason = choice.get("finish_reason")
    except (AttributeError, IndexError, KeyError, TypeError):
        raise MalformedAnswer(
            "the answer is not a chat completion", body.decode("utf-8", "replace")
        ) from None
    out: list[ChunkPayload] = []
    if reasoning:
        out.append(Reasoning(str(reasoning)))
    if text:
        out.append(Delta(str(text)))
    if obj.get("usage") is not None:
        out.append(_decode_usage(obj["usage"], ""))
    out.append(_DONE_LENGTH if reason == "length" else _DONE_STOP)
    return out


def _decode_usage(raw: Any, data: str) -> Usage:
    try:
        prompt = raw.get("prompt_tokens") or 0
        answer = raw.get("completion_tokens") or 0
    except AttributeError:
        raise MalformedAnswer("usage is not an object", data) from None
    if type(prompt) is not int or type(answer) is not int:
        raise MalformedAnswer("token counts are not integers", data)
    return Usage(prompt, answer)


def _loads_or_text(data: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data
