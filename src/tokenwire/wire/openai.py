"""OpenAI-compatible ``/v1/chat/completions`` bodies, both ways: streamed chunks, whole
completions, errors.

``ChunkEncoder`` turns our event sequence into ``chat.completion.chunk`` SSE frames that the
official SDKs parse: the role in the first chunk, text as ``delta.content``, reasoning as
``delta.reasoning_content`` (the DeepSeek/vLLM convention), tool calls as ``delta.tool_calls``
(OpenAI's pieces: ``index``, ``id``, ``type`` and ``function.name`` on a call's first), log
probabilities as ``choices[0].logprobs`` of the text chunk they belong to, a last chunk with
``finish_reason``, the optional usage chunk of ``stream_options.include_usage``, and
``data: [DONE]``.

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
    Logprobs,
    Reasoning,
    Start,
    ToolCall,
    ToolResult,
    Usage,
    WholeToolCall,
    new_tool_call_id,
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
        "_logprobs",
        "_plain",
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
        self._logprobs: list[dict[str, Any]] | None = None  # for the next text chunk
        # A text chunk can be _text_frame: the role went out and no log probabilities wait.
        self._plain = False
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
                if self._plain:
                    return self._text_frame % orjson.dumps(text)
                return self._chunk({"content": text})
            case Reasoning(text=text):
                return self._chunk({"reasoning_content": text})
            case ToolCall():
                return self._chunk({"tool_calls": [_tool_call_delta(payload)]})
            case ToolResult():
                return b""  # a tool the server ran: OpenAI's chunks have no place for it
            case Logprobs(content=content):
                # Sent with the text they are for, which comes next, as OpenAI sends them.
                self._logprobs = content if self._logprobs is None else self._logprobs + content
                self._plain = False
                return b""
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
        logprobs = b"null"
        if self._logprobs is not None:
            logprobs = orjson.dumps({"content": self._logprobs, "refusal": None})
            self._logprobs = None
        self._plain = True
        return b"".join(
            (
                self._head,
                b',"choices":[{"index":0,"delta":',
                orjson.dumps(delta),
                b',"finish_reason":',
                orjson.dumps(finish_reason),
                b',"logprobs":',
                logprobs,
                b"}]",
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
    *,
    tool_calls: Sequence[WholeToolCall] = (),
    logprobs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` object; ``usage`` is (prompt, completion) tokens.

    With ``tool_calls``, the message carries them in OpenAI's shape, and its ``content`` is
    ``null`` when there is no text, as OpenAI sends it. ``logprobs`` (the entries of every text
    piece, joined) is given as ``choices[0].logprobs.content`` when not None.
    """
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content if content or not tool_calls else None,
    }
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = [call.to_openai() for call in tool_calls]
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
                "logprobs": None if logprobs is None else {"content": logprobs, "refusal": None},
            }
        ],
    }
    # Left out when unknown: the SDK's ChatCompletion.usage is optional.
    if usage is not None:
        body["usage"] = _usage(usage)
    return body


def error_body(
    code: str, message: str, type_: str = "invalid_request_error", *, param: str | None = None
) -> dict[str, Any]:
    """An error in OpenAI's shape, which its SDKs turn into typed exceptions; ``param`` names
    the request parameter at fault."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


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
ChunkPayload = Delta | Reasoning | ToolCall | Logprobs | Usage | Done

_DONE_STOP: Final = Done("stop")
_DONE_LENGTH: Final = Done("length")
_DONE_TOOL_CALLS: Final = Done("tool_calls")
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


class _Call:
    """One tool call being decoded: its ``index`` in our stream, its ``id`` and ``name`` as they
    became known, and the argument pieces held back until its name came (``opened``)."""

    __slots__ = ("held", "id", "index", "name", "opened")

    def __init__(self, index: int, call_id: str | None, name: str | None) -> None:
        self.index = index
        self.id = call_id
        self.name = name
        self.opened = False
        self.held: list[str] = []

    def first_piece(self, arguments: str) -> ToolCall:
        self.opened = True
        if self.held:
            arguments = "".join(self.held) + arguments
            self.held.clear()
        if self.id is None:
            self.id = new_tool_call_id()
        return ToolCall(self.index, self.id, self.name or "", arguments)


class _ToolCalls:
    """The tool calls of one answer, decoded from ``delta.tool_calls`` pieces by their ``index``.

    Made only when an answer has tool calls, so a plain text answer never pays for it.
    """

    __slots__ = ("_by_index", "_last", "_taken", "calls")

    def __init__(self) -> None:
        self._by_index: dict[int, _Call] = {}  # the upstream's index -> the call it names now
        self._taken: set[int] = set()  # our indexes already given to a call
        self._last: _Call | None = None
        self.calls: list[_Call] = []

    def _new(self, wanted: int | None, call_id: str | None, name: str | None) -> _Call:
        index = wanted if wanted is not None and wanted not in self._taken else len(self._taken)
        while index in self._taken:
            index += 1
        self._taken.add(index)
        call = _Call(index, call_id, name)
        self.calls.append(call)
        return call

    def feed(self, items: Any, line: str, out: list[ChunkPayload]) -> None:
        if type(items) is not list:
            raise MalformedAnswer("tool_calls is not a list", line)
        for item in items:
            if type(item) is not dict:
                raise MalformedAnswer("a tool call is not an object", line)
            function = item.get("function") or {}
            index = item.get("index")
            call_id = item.get("id") or None  # "" on later pieces (DashScope) is no id
            if type(function) is not dict:
                raise MalformedAnswer("a tool call's function is not an object", line)
            name = function.get("name") or None
            arguments = function.get("arguments")
            if index is not None and (type(index) is not int or index < 0):
                raise MalformedAnswer("a tool call's index is not a number", line)
            if (call_id is not None and type(call_id) is not str) or (
                name is not None and type(name) is not str
            ):
                raise MalformedAnswer("a tool call's id or name is not a string", line)
            if arguments is None:
                arguments = ""
            elif type(arguments) is dict:  # an object rather than its JSON text (some servers)
                arguments = orjson.dumps(arguments).decode()
            elif type(arguments) is not str:
                raise MalformedAnswer("a tool call's arguments are not a string", line)

            call = self._by_index.get(index) if index is not None else self._last
            if call is None or (
                # Another call under an index already used (servers that number every call 0):
                # a new id with a name is a new call, never more of the last one.
                call_id is not None and name is not None and call.id not in (None, call_id)
            ):
                call = self._new(index, call_id, name)
                if index is not None:
                    self._by_index[index] = call
            else:  # more of a call: an id or a name sent again (vLLM, DashScope) changes nothing
                if call.id is None:
                    call.id = call_id
                if call.name is None:
                    call.name = name
            self._last = call
            if call.opened:
                if arguments:
                    out.append(ToolCall(call.index, arguments=arguments))
            elif call.name is None:
                call.held.append(arguments)  # its name has not come yet: nothing to show
            else:
                out.append(call.first_piece(arguments))

    def unnamed(self) -> list[ToolCall]:
        """The calls whose name never came, with what arrived of them: nothing is dropped."""
        return [call.first_piece("") for call in self.calls if not call.opened]


class ChunkDecoder:
    """Decodes a streamed ``/chat/completions`` body into payloads: ``feed`` it raw bytes in any
    chunking, call ``end`` if the body ends before ``[DONE]``.

    The rules, each pinned by a test in tests/wire/test_openai.py:

    - ``choices[0].delta.content`` becomes ``Delta``; ``delta.reasoning_content`` (DeepSeek, Qwen)
      or ``delta.reasoning`` (newer Ollama and vLLM; ``reasoning_content`` wins when both are
      sent) becomes ``Reasoning``. Empty strings and ``null`` are skipped.
    - ``delta.tool_calls`` pieces become ``ToolCall`` pieces, by their ``index``: a call's first
      piece carries its ``id`` and ``name`` (and what came of its arguments so far), later pieces
      only the next part of its ``arguments``. Parallel calls keep their own index however their
      pieces interleave, and no argument piece is dropped. An ``id`` or ``name`` sent again on a
      later piece (vLLM, DashScope) is not a new call; a *different* ``id`` with a name under an
      index already used is (servers that number every call 0), and gets the next free index. A
      piece without an ``index`` goes on with the last call unless it brings a new ``id``.
      Arguments sent as an object are its JSON text. A call with no ``id`` gets one
      (``call_…``); one whose name has not come yet is held back until it does (and given with
      an empty name at the end if it never does).
    - ``choices[0].logprobs.content``, only when the decoder was made with ``logprobs=True``,
      becomes ``Logprobs`` just before the ``Delta`` of the same chunk (entries with no text
      to go with them are not given).
    - ``usage`` may come in the finish chunk, in a chunk of its own after it, inside the finish
      chunk's choice (Kimi), or (some servers) on every chunk as a running total. The last one
      seen is given once, as ``Usage``, just before ``Done``.
    - ``finish_reason`` is remembered; ``Done`` comes when ``data: [DONE]`` arrives, with
      ``"length"`` for ``"length"``, ``"tool_calls"`` for ``"tool_calls"`` and for any other
      reason of an answer that called tools (Ollama and OpenAI itself say ``"stop"`` after a
      forced call), and ``"stop"`` for anything else (``stop``, ``content_filter``...).
      ``[DONE]`` without a finish reason is a normal end. Nothing after ``[DONE]`` is read
      (``ended``).
    - A body that ends without ``[DONE]`` (``end()``) is an ``IncompleteAnswer``, *unless* a
      finish reason was already seen: then the answer is complete by the upstream's own word, and
      several servers (some Ollama versions among them) omit ``[DONE]``, so it ends as ``Done``.
    - An ``error`` event, a chunk with an ``error`` member and vLLM's bare ``{"object": "error"}``
      are a ``ReportedError``; other named events (pings) are skipped. Anything else that is not
      a chunk (not JSON, not an object, no valid choice, text that is not a string, token counts
      that are not integers, a tool call of the wrong shape) is a ``MalformedAnswer``.

    ``started`` turns true with the first text, reasoning, tool call or finish reason (not with
    role-only chunks or comments): the answer has begun. This is the hot path of a relay: one pass
    over each read, no copies. A delta that holds nothing but its text (nearly every chunk) is
    read with one lookup; anything more (reasoning, tool calls, a role) takes the longer way.
    """

    __slots__ = ("_logprobs", "_sse", "_tools", "ended", "finish_reason", "started", "usage")

    def __init__(self, sse: SSEDecoder | None = None, *, logprobs: bool = False) -> None:
        """``sse`` is the SSE parser the body is read with; a new ``SSEDecoder`` by default.
        ``logprobs``: the request asked for them, so look for them in every chunk."""
        self._sse = (sse or SSEDecoder()).feed
        self._logprobs = logprobs
        self._tools: _ToolCalls | None = None  # made by the first tool-call piece
        self.started = False  # text, reasoning, a tool call or a finish reason seen
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
                    out += self._ending()
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
                            text = delta.get("content")
                            if text is None or len(delta) > 1:  # more than its text
                                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                                calls = delta.get("tool_calls")
                            else:
                                reasoning = calls = None
                        else:
                            reasoning = text = calls = None
                        reason = choice.get("finish_reason")
                        logprobs = choice.get("logprobs") if self._logprobs else None
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
                        if logprobs:
                            _add_logprobs(logprobs, line, out)
                        out.append(Delta(text))
                    if calls:
                        started = True
                        if self._tools is None:
                            self._tools = _ToolCalls()
                        self._tools.feed(calls, line, out)
                    if reason:
                        self.finish_reason = reason if type(reason) is str else "stop"
                        started = True
                        in_choice = choice.get("usage")  # Kimi's place for it
                        if in_choice is not None:
                            self.usage = _decode_usage(in_choice, line)
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
        return self._ending()

    def _ending(self) -> list[ChunkPayload]:
        """What ends the answer: calls still without a name, ``Usage`` if any, ``Done``."""
        out: list[ChunkPayload] = []
        tools = self._tools
        if tools is not None:
            out += tools.unnamed()
        if self.usage is not None:
            out.append(self.usage)
        out.append(_done(self.finish_reason, tools is not None and bool(tools.calls)))
        return out


def _done(reason: Any, called_tools: bool) -> Done:
    if reason == "length":
        return _DONE_LENGTH
    if reason == "tool_calls" or called_tools:
        return _DONE_TOOL_CALLS
    return _DONE_STOP


def _add_logprobs(logprobs: Any, data: str, out: list[ChunkPayload]) -> None:
    try:
        content = logprobs.get("content")
    except AttributeError:
        raise MalformedAnswer("logprobs is not an object", data) from None
    if content:
        if type(content) is not list:
            raise MalformedAnswer("logprobs.content is not a list", data)
        out.append(Logprobs(content))


def decode_completion(body: bytes, *, logprobs: bool = False) -> list[ChunkPayload]:
    """A whole ``chat.completion`` (from a server that ignores ``"stream": true``) as the payloads
    of a stream: one ``Reasoning`` and one ``Delta`` if not empty (``Logprobs`` before it, when
    asked for and given), each tool call whole, ``Usage`` if given, ``Done``, by the rules of
    ``ChunkDecoder``. Raises ``AnswerError``."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedAnswer("the answer is not JSON", body.decode("utf-8", "replace")) from None
    if type(obj) is not dict:
        raise MalformedAnswer("the answer is not a JSON object", str(obj))
    if obj.get("error") is not None:
        raise ReportedError(obj["error"])
    data = body.decode("utf-8", "replace")
    try:
        choice = obj["choices"][0]
        message = choice["message"]
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        text = message.get("content")
        calls = message.get("tool_calls")
        reason = choice.get("finish_reason")
        given_logprobs = choice.get("logprobs") if logprobs else None
    except (AttributeError, IndexError, KeyError, TypeError):
        raise MalformedAnswer("the answer is not a chat completion", data) from None
    out: list[ChunkPayload] = []
    if reasoning:
        out.append(Reasoning(str(reasoning)))
    if text:
        if given_logprobs:
            _add_logprobs(given_logprobs, data, out)
        out.append(Delta(str(text)))
    tools: _ToolCalls | None = None
    if calls:
        if type(calls) is not list:
            raise MalformedAnswer("tool_calls is not a list", data)
        tools = _ToolCalls()
        # Whole calls: each is its own index, whatever the server numbered it.
        tools.feed([_whole_call(call, i) for i, call in enumerate(calls)], data, out)
        out += tools.unnamed()
    usage = obj.get("usage")
    if usage is None and type(choice) is dict:
        usage = choice.get("usage")
    if usage is not None:
        out.append(_decode_usage(usage, data))
    out.append(_done(reason, tools is not None and bool(tools.calls)))
    return out


def _whole_call(call: Any, index: int) -> Any:
    if type(call) is not dict:
        return call  # refused by _ToolCalls.feed, with the body
    return {**call, "index": index}


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
