"""OpenAI-compatible ``/v1/chat/completions`` bodies: streamed chunks, whole completions, errors.

``ChunkEncoder`` turns our event sequence into ``chat.completion.chunk`` SSE frames that the
official SDKs parse: the role in the first chunk, text as ``delta.content``, reasoning as
``delta.reasoning_content`` (the DeepSeek/vLLM convention), a last chunk with ``finish_reason``,
the optional usage chunk of ``stream_options.include_usage``, and ``data: [DONE]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, assert_never

import orjson

from tokenwire.events import Delta, Done, Error, Event, Reasoning, Start, Usage

__all__ = ["DONE", "ChunkEncoder", "completion", "error_body"]

DONE: Final = b"data: [DONE]\n\n"

# OpenAI has no "cancelled": a stream the user stopped simply stopped.
_FINISH_REASONS: Final = {"stop": "stop", "length": "length", "cancelled": "stop"}


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

    def _chunk(self, delta: dict[str, str], finish_reason: str | None = None) -> bytes:
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
