"""Hostile input for the fuzz tests: hypothesis strategies, and the checks every answer must pass.

The strategies lean towards what breaks servers: values of the wrong type, numbers past 64 bits,
NaN-ish literals, lone surrogates (escaped in JSON, or raw and so invalid UTF-8), deep nesting,
truncated and random bytes, odd header values, ids with slashes and percent signs.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import orjson
from hypothesis import strategies as st

from tokenwire.events import Event
from tokenwire.wire.ndjson import NDJSONDecoder
from tokenwire.wire.sse import SSEDecoder

ODD_TEXTS = [
    "",
    " ",
    "\t\n",
    "NaN",
    "Infinity",
    "-Infinity",
    "null",
    "true",
    "1e999",
    "-0",
    "0x10",
    "١٢٣",
    "１２",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "😀",
    "%00",
    "%2F",
    "../..",
    "a/b",
    "?x=1",
    "#",
    "str_",
    "cnv_",
    "msg_",
    "replay",
    " replay",
    "REPLAY",
    "<script>",
    "'; DROP TABLE x;--",
    "x" * 300,
]
texts = st.one_of(st.text(max_size=30), st.sampled_from(ODD_TEXTS))
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [0, -1, 1, 2, 4, 5, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 10**30, 1e308, -0.0]
    ),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=10,
)

PARAM_NAMES = ["max_tokens", "temperature", "top_p", "seed", "stop"]
params = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(PARAM_NAMES) | texts, numbers | json_values, max_size=5),
)


def objects(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects with any of these fields, plus a few random ones."""
    known = st.fixed_dictionaries({}, optional=fields)
    extra = st.dictionaries(texts, json_values, max_size=2)
    return st.builds(lambda e, k: {**e, **k}, extra, known)


MODELS = st.sampled_from(["replay", "other"])
nonblank = texts.filter(lambda t: bool(t.strip()))
# Tools as /api/chat takes them (docs/tools.md), nearly right or not at all.
schemas = json_values | objects(
    {
        "type": st.sampled_from(["object", "array"]) | texts,
        "properties": st.dictionaries(texts, json_values | objects({"type": texts}), max_size=3),
        "required": st.lists(texts, max_size=3) | json_values,
    }
)
tool_lists = json_values | st.lists(
    json_values
    | objects(
        {
            "type": st.just("function") | texts,
            "function": objects({"name": texts | json_values, "parameters": schemas}),
        }
    ),
    max_size=3,
)
tool_choices = (
    st.sampled_from(["auto", "none", "required"])
    | json_values
    | objects({"type": st.just("function"), "function": objects({"name": texts | json_values})})
)
tool_results = json_values | st.lists(
    json_values
    | objects(
        {
            "tool_call_id": texts | json_values,
            "content": texts | json_values,
            "is_error": st.booleans() | json_values,
        }
    ),
    max_size=3,
)
# Nearly valid objects as often as wild ones: bugs hide past the first check that says no.
chat_objects = st.one_of(
    objects(
        {
            "message": texts | json_values,
            "conversation_id": texts | json_values,
            "model": MODELS | texts | json_values,
            "params": params,
            "tools": tool_lists,
            "tool_choice": tool_choices,
            "tool_results": tool_results,
        }
    ),
    st.fixed_dictionaries(
        {"message": nonblank},
        optional={"model": MODELS, "params": params, "conversation_id": nonblank},
    ),
)
_ROLES = st.sampled_from(["system", "developer", "user", "assistant", "tool"]) | texts
openai_messages = st.lists(
    objects({"role": _ROLES | json_values, "content": texts | json_values}), max_size=3
)
openai_objects = objects(
    {
        "model": MODELS | texts | json_values,
        "messages": openai_messages | json_values,
        "stream": st.booleans() | json_values,
        "stream_options": objects({"include_usage": st.booleans() | json_values}) | json_values,
        "max_tokens": numbers | json_values,
        "max_completion_tokens": numbers | json_values,
        "temperature": numbers | json_values,
        "top_p": numbers | json_values,
        "seed": numbers | json_values,
        "stop": texts | json_values,
    }
)

CANNED_BODIES = [
    b"",
    b" ",
    b"null",
    b"{",
    b"}",
    b"[]",
    b'"x"',
    b"\x00",
    b"\xef\xbb\xbf{}",
    b"\xff\xfe\x00{",
    b'{"message": NaN}',
    b'{"message": Infinity}',
    b'{"message": "hi", "params": {"seed": 1e999}}',
    b'{"message": "hi", "params": {"temperature": NaN}}',
    b'{"message": "\\ud800"}',
    b'{"message": "\\udfff\\ud800 pair the wrong way"}',
    b'{"message": "a\\u0000b"}',
    b'{"message": "hi", "params": {"max_tokens": 99999999999999999999999}}',
    b'{"message": "x", "message": 5}',
    b'{"message": "caf\xc3"}',
    b'{"message": "\xed\xa0\x80"}',
    b'{"model": "replay", "messages": [{"role": "user", "content": "\\ud83d"}]}',
]


def _truncated(value: Any, keep: float) -> bytes:
    data = json.dumps(value).encode()
    return data[: int(len(data) * keep)]


def _nested(depth: int, shape: str) -> bytes:
    open_, close = ("[", "]") if shape == "list" else ('{"a":', "}")
    return ('{"message": ' + open_ * depth + "1" + close * depth + "}").encode()


def bodies(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Request bodies built from ``values``: valid JSON, and every way of getting it wrong."""
    as_json = values.map(lambda v: json.dumps(v).encode())  # lone surrogates escaped, big ints kept
    return st.one_of(
        as_json,
        as_json,  # twice: the branch that gets furthest, so more of the examples
        values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
        st.builds(_truncated, values, st.floats(0, 1)),
        st.builds(_nested, st.integers(1, 3000), st.sampled_from(["list", "object"])),
        st.sampled_from(CANNED_BODIES),
        st.binary(max_size=200),
    )


# Header values as bytes: printable ASCII and Latin-1 (what HTTP/1.1 can carry), stripped.
header_values = st.one_of(
    st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_categories=["Cc"]),
        max_size=40,
    ).map(lambda s: s.strip().encode("latin-1")),
    st.sampled_from([b"", b"0", b"-1", b"5", b"99999999999999999999", b"3 4", b"\xef\xbc\x91"]),
)
ACCEPT = [
    b"text/event-stream",
    b"application/x-ndjson",
    b"application/jsonl",
    b"application/ndjson",
    b"*/*",
    b"application/json",
    b"text/html",
    b"application/x-ndjson;q=0, text/event-stream",
]
CONTENT_TYPES = [
    b"application/json",
    b"application/json; charset=latin-1",
    b"text/plain",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=x",
    b"",
]
headers = st.fixed_dictionaries(
    {},
    optional={
        b"accept": st.sampled_from(ACCEPT) | header_values,
        b"content-type": st.sampled_from(CONTENT_TYPES) | header_values,
        b"last-event-id": header_values,
        b"origin": header_values,
        b"authorization": header_values,
        b"x-fuzz": header_values,
    },
)
query_params = st.dictionaries(
    st.sampled_from(["after", "limit", "offset", "stream", "model"]) | texts,
    texts | numbers.map(str),
    max_size=4,
)


class ErrorLog(logging.Handler):
    """Collects what the server logs at ERROR and above: a traceback there is a bug, 500 or not."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


def describe(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {request.url} -> {response.status_code} {response.content[:300]!r}"


def check_error_body(status: int, content_type: str, body: bytes, where: str) -> None:
    """A 4xx must say what was wrong in ``{"error": {"code", "message"}}``."""
    assert content_type.startswith("application/json"), where
    error = orjson.loads(body)["error"]
    assert isinstance(error["code"], str) and error["code"], where
    assert isinstance(error["message"], str) and error["message"], where


def check_answer(response: httpx.Response) -> None:
    """Never a 5xx; a 4xx explains itself; a stream of events is whole from where it started."""
    where = describe(response)
    status, content_type = response.status_code, response.headers.get("content-type", "")
    assert status < 500, where
    if status >= 400 and response.request.method != "HEAD":  # a HEAD answer has no body
        check_error_body(status, content_type, response.content, where)
    elif content_type.startswith(("text/event-stream", "application/x-ndjson")):
        if response.request.url.path.startswith("/v1/"):
            assert response.content.endswith(b"data: [DONE]\n\n"), where
        else:
            check_events(events_in(response.content, content_type), where)


def events_in(body: bytes, content_type: str) -> list[Event]:
    if content_type.startswith("application/x-ndjson"):
        return [Event.from_dict(obj) for obj in NDJSONDecoder().feed(body)]
    return [Event.from_json(message.data) for message in SSEDecoder().feed(body)]


def check_events(events: list[Event], where: str) -> None:
    """Consecutive seqs from wherever the read started, ending with its one terminal event."""
    assert events, where
    first = events[0].seq
    assert [e.seq for e in events] == list(range(first, first + len(events))), where
    assert [e.is_terminal for e in events].count(True) == 1 and events[-1].is_terminal, where
