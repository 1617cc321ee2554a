"""The Python client and tool calls: typed events, whole calls, the ``tool_results`` continuation.

Tool calls stream from a real server whose hub serves ``ToolCallingModel``
(``tests.support.tool_models``), and the continuation runs against that server. A fake of just
the chat endpoint (``FakeChatApi``) also pins the exact request the client sends and how it reads
the answer when the connection drops at chosen points.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.proxy import Cut, Proxy
from tests.support.servers import RunningServer, run_server
from tests.support.tool_models import CALLS, PREAMBLE, TOOLS, ToolCallingModel, add_model
from tokenwire.client import ApiError, AsyncClient, Client
from tokenwire.events import (
    Delta,
    Done,
    Event,
    Payload,
    Start,
    ToolCall,
    WholeToolCall,
)
from tokenwire.wire.sse import encode_events

QUICK: dict[str, Any] = {"backoff_base": 0.01, "backoff_cap": 0.05}
WHOLE_CALLS = [WholeToolCall(*call) for call in CALLS]
RESULTS = [
    {"tool_call_id": "call_weather", "content": "sunny, 25°C"},
    {"tool_call_id": "call_time", "content": "14:02"},
]


@pytest.fixture
def tools_server(tmp_path: Path) -> Iterator[RunningServer]:
    """The test server with ``tools`` (``ToolCallingModel``) beside its replay models."""
    with run_server(tmp_path, retry_ms=20) as running:
        add_model(running, ToolCallingModel())
        yield running


def logged(server: RunningServer, stream_id: str | None) -> list[bytes]:
    assert stream_id is not None
    return [e.json for e in server.call(server.hub.read(stream_id, 0, 0.0)).events]


def tool_calls_turn() -> list[Payload]:
    """What ``ToolCallingModel`` streams to a message, as the hub numbers it."""
    return [Start("str_x", "cnv_x", "msg_x", "tools"), *ToolCallingModel().script()]


# --- tool calls from a real server ----------------------------------------------------------------


async def test_tool_call_events_are_typed_and_the_stream_joins_them(
    tools_server: RunningServer,
) -> None:
    async with (
        AsyncClient(tools_server.base_url) as client,
        client.chat("Weather and time in Paris?", model="tools") as stream,
    ):
        events = [event async for event in stream]
    payloads = [e.payload for e in events]
    assert [type(p) for p in payloads[1:]] == [type(p) for p in ToolCallingModel().script()]
    assert payloads[2:-1] == [p for p in ToolCallingModel().script() if isinstance(p, ToolCall)]
    assert stream.text == PREAMBLE
    assert stream.tool_calls == WHOLE_CALLS
    assert stream.pending_tool_calls == WHOLE_CALLS and stream.tool_results == []
    assert stream.finish_reason == "tool_calls" and stream.ended and stream.error is None
    assert [e.json for e in events] == logged(tools_server, stream.stream_id)


def test_sync_tool_call_events_are_typed_and_the_stream_joins_them(
    tools_server: RunningServer,
) -> None:
    with (
        Client(tools_server.base_url) as client,
        client.chat("Weather and time in Paris?", model="tools") as stream,
    ):
        events = list(stream)
    assert [type(e.payload) for e in events[1:]] == [type(p) for p in ToolCallingModel().script()]
    assert stream.tool_calls == WHOLE_CALLS == stream.pending_tool_calls
    assert stream.finish_reason == "tool_calls"
    assert [e.json for e in events] == logged(tools_server, stream.stream_id)


async def test_tool_calls_grow_on_the_stream_while_their_pieces_arrive(
    tools_server: RunningServer,
) -> None:
    seen: list[list[tuple[str, str, str]]] = []
    async with (
        AsyncClient(tools_server.base_url) as client,
        client.chat("Weather?", model="tools") as stream,
    ):
        async for event in stream:
            if isinstance(event.payload, ToolCall):
                seen.append([(c.id, c.name, c.arguments) for c in stream.tool_calls])
    assert seen[0][0] == ("call_weather", "get_weather", "")  # id and name from the first piece
    assert seen[-1] == CALLS
    # Each piece added to its own call only: the arguments only ever grow, call by call.
    for before, after in itertools.pairwise(seen):
        assert all(a[2].startswith(b[2]) for b, a in zip(before, after, strict=False))


async def test_a_drop_inside_a_tool_call_resumes_with_the_rest_of_its_arguments(
    tmp_path: Path,
) -> None:
    with run_server(tmp_path, retry_ms=20) as server:
        add_model(server, ToolCallingModel(id="tools", piece_size=3, pause=0.02))
        with Proxy(server.base_url, [Cut(600)]) as proxy:
            async with (
                AsyncClient(proxy.base_url, **QUICK) as client,
                client.chat("Weather?", model="tools") as stream,
            ):
                seen = [(event, len(proxy.requests)) async for event in stream]
        logged_events = logged(server, stream.stream_id)
    assert [e.seq for e, _ in seen] == list(range(1, len(logged_events) + 1))  # each once
    assert [e.json for e, _ in seen] == logged_events
    assert [r.method for r in proxy.requests] == ["POST", "GET"]
    resumed_after = int(proxy.requests[1].headers["last-event-id"])
    call_seqs = [e.seq for e, _ in seen if isinstance(e.payload, ToolCall)]
    assert call_seqs[0] < resumed_after < call_seqs[-1], "the cut came while the calls streamed"
    assert stream.tool_calls == WHOLE_CALLS and stream.finish_reason == "tool_calls"


# --- what the client sends, to a fake of POST /api/chat and GET /api/streams/{id} ----------------


class FakeChatApi:
    """``POST /api/chat`` answers ``first`` events of ``answer`` and the body ends there (a drop);
    ``GET /api/streams/str_fake`` answers the events after ``Last-Event-ID``. Or, with ``refuse``,
    every request gets that error. Records each request and its JSON body."""

    def __init__(
        self,
        answer: list[Payload],
        first: int,
        refuse: tuple[int, dict[str, Any]] | None = None,
    ) -> None:
        self.events = [Event.make(seq, payload) for seq, payload in enumerate(answer, 1)]
        self.first = first
        self.refuse = refuse
        self.requests: list[httpx.Request] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.refuse is not None:
            return httpx.Response(self.refuse[0], json=self.refuse[1])
        if request.method == "POST" and request.url.path == "/api/chat":
            events = self.events[: self.first]
            headers = {"x-stream-id": "str_fake", "x-conversation-id": "cnv_fake"}
        elif request.method == "GET" and request.url.path == "/api/streams/str_fake":
            events = self.events[int(request.headers["last-event-id"]) :]
            headers = {}
        else:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})
        body = b"retry: 10\n\n" + encode_events(events)
        return httpx.Response(
            200, headers={"content-type": "text/event-stream", **headers}, content=body
        )

    def body(self, index: int) -> Any:
        return orjson.loads(self.requests[index].content)


def continuation_answer() -> list[Payload]:
    return [
        Start("str_fake", "cnv_fake", "msg_next", "tools"),
        Delta("Sunny, "),
        Delta("25°C, "),
        Delta("at 14:02."),
        Done("stop"),
    ]


async def test_tool_results_are_posted_as_the_continuation_and_its_answer_resumes() -> None:
    fake = FakeChatApi(continuation_answer(), first=2)
    async with (
        AsyncClient("http://tokenwire.test", transport=fake.transport(), **QUICK) as client,
        client.continue_with_tool_results("cnv_fake", RESULTS) as stream,
    ):
        events = [event async for event in stream]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert stream.text == "Sunny, 25°C, at 14:02." and stream.finish_reason == "stop"
    assert stream.conversation_id == "cnv_fake" and stream.message_id == "msg_next"
    post, resume = fake.requests
    assert (post.method, post.url.path, post.headers["accept"]) == (
        "POST",
        "/api/chat",
        "text/event-stream",
    )
    assert fake.body(0) == {"conversation_id": "cnv_fake", "tool_results": RESULTS}
    assert (resume.method, resume.url.path, resume.headers["last-event-id"]) == (
        "GET",
        "/api/streams/str_fake",
        "2",
    )


def test_sync_tool_results_are_posted_as_the_continuation_and_its_answer_resumes() -> None:
    fake = FakeChatApi(continuation_answer(), first=3)
    with (
        Client("http://tokenwire.test", transport=fake.transport(), **QUICK) as client,
        client.continue_with_tool_results("cnv_fake", RESULTS) as stream,
    ):
        assert [e.seq for e in stream] == [1, 2, 3, 4, 5]
    assert stream.text == "Sunny, 25°C, at 14:02." and stream.finish_reason == "stop"
    assert fake.body(0) == {"conversation_id": "cnv_fake", "tool_results": RESULTS}
    assert [(r.method, r.headers.get("last-event-id")) for r in fake.requests] == [
        ("POST", None),
        ("GET", "3"),
    ]


async def test_tools_and_tool_choice_are_sent_with_the_message() -> None:
    fake = FakeChatApi(tool_calls_turn(), first=99)
    choice = {"type": "function", "function": {"name": "get_weather"}}
    async with AsyncClient("http://tokenwire.test", transport=fake.transport()) as client:
        async with client.chat("Weather?", model="tools", tools=TOOLS, tool_choice=choice) as s:
            await s.text_until_done()
        async with client.chat("Weather?", tools=TOOLS, tool_choice="required") as s:
            await s.text_until_done()
        async with client.chat("No tools") as s:
            await s.text_until_done()
    assert fake.body(0) == {
        "message": "Weather?",
        "model": "tools",
        "tools": TOOLS,
        "tool_choice": choice,
    }
    assert fake.body(1) == {"message": "Weather?", "tools": TOOLS, "tool_choice": "required"}
    assert fake.body(2) == {"message": "No tools"}
    assert s.tool_calls == WHOLE_CALLS  # the fake's stream ends with the calls, whole


def test_sync_tools_and_tool_choice_are_sent_with_the_message() -> None:
    fake = FakeChatApi(tool_calls_turn(), first=99)
    with (
        Client("http://tokenwire.test", transport=fake.transport()) as client,
        client.chat("Weather?", tools=TOOLS, tool_choice="auto") as stream,
    ):
        stream.text_until_done()
    assert fake.body(0) == {"message": "Weather?", "tools": TOOLS, "tool_choice": "auto"}
    assert stream.finish_reason == "tool_calls" and stream.pending_tool_calls == WHOLE_CALLS


REFUSAL = (
    400,
    {"error": {"code": "invalid_request", "message": "tool_results[0]: no pending call call_x"}},
)


async def test_a_refused_continuation_raises_api_error() -> None:
    fake = FakeChatApi([], first=0, refuse=REFUSAL)
    async with AsyncClient("http://tokenwire.test", transport=fake.transport()) as client:
        with pytest.raises(ApiError) as caught:
            async with client.continue_with_tool_results(
                "cnv_fake", [{"tool_call_id": "call_x", "content": "?"}]
            ):
                raise AssertionError("the stream must not open")
    error = caught.value
    assert (error.status, error.code) == (400, "invalid_request")
    assert error.message == "tool_results[0]: no pending call call_x"
    assert len(fake.requests) == 1  # a refusal is not retried


def test_sync_a_refused_continuation_raises_api_error() -> None:
    fake = FakeChatApi([], first=0, refuse=REFUSAL)
    results = [{"tool_call_id": "x", "content": ""}]
    with (
        Client("http://tokenwire.test", transport=fake.transport()) as client,
        pytest.raises(ApiError) as caught,
        client.continue_with_tool_results("cnv_fake", results),
    ):
        raise AssertionError("the stream must not open")
    assert (caught.value.status, caught.value.code) == (400, "invalid_request")
    assert len(fake.requests) == 1


# --- shapes checked before anything is sent -------------------------------------------------------

FUNCTION = {"type": "function", "function": {"name": "f"}}

BAD_TOOLS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"tools": FUNCTION}, TypeError, "`tools` must be a list"),
    ({"tools": "get_weather"}, TypeError, "`tools` must be a list"),
    ({"tools": []}, ValueError, "`tools` is empty"),
    ({"tools": ["get_weather"]}, TypeError, "tools[0] must be a mapping"),
    ({"tools": [{"type": "web_search"}]}, ValueError, 'tools[0].type must be "function"'),
    ({"tools": [{"type": "function"}]}, TypeError, "tools[0].function must be a mapping"),
    ({"tools": [{"type": "function", "function": {}}]}, TypeError, "tools[0].function.name"),
    ({"tools": [{"type": "function", "function": {"name": ""}}]}, ValueError, "name is empty"),
    (
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}]},
        TypeError,
        "tools[0].function.parameters must be a mapping",
    ),
    ({"tools": [FUNCTION, FUNCTION]}, ValueError, "tools[1].function.name 'f' is declared twice"),
    ({"tool_choice": "auto"}, ValueError, "`tool_choice` needs `tools`"),
    ({"tools": [FUNCTION], "tool_choice": "always"}, ValueError, "not 'always'"),
    ({"tools": [FUNCTION], "tool_choice": 1}, TypeError, "`tool_choice` must be a string"),
    ({"tools": [FUNCTION], "tool_choice": {"name": "f"}}, ValueError, "a named `tool_choice`"),
    (
        {"tools": [FUNCTION], "tool_choice": {"type": "function", "function": {"name": "g"}}},
        ValueError,
        "names 'g', which is not among `tools`",
    ),
]

BAD_RESULTS: list[tuple[Any, Any, type[Exception], str]] = [
    ("", RESULTS, ValueError, "`conversation_id` is empty"),
    (None, RESULTS, TypeError, "`conversation_id` must be a string"),
    ("cnv", [], ValueError, "`tool_results` is empty"),
    ("cnv", RESULTS[0], TypeError, "`tool_results` must be a list"),
    ("cnv", ["sunny"], TypeError, "tool_results[0] must be a mapping"),
    ("cnv", [{"content": "sunny"}], TypeError, "tool_results[0].tool_call_id must be a string"),
    ("cnv", [{"tool_call_id": "", "content": "x"}], ValueError, "tool_call_id is empty"),
    (
        "cnv",
        [{"tool_call_id": "c", "content": {"sky": "clear"}}],
        TypeError,
        "tool_results[0].content must be a string, not dict: send a structured result as JSON",
    ),
    (
        "cnv",
        [{"tool_call_id": "c", "content": "x", "name": "f"}],
        ValueError,
        "tool_results[0] has unknown key 'name'",
    ),
    (
        "cnv",
        [RESULTS[0], RESULTS[1], RESULTS[0]],
        ValueError,
        "tool_results[2].tool_call_id 'call_weather' is answered twice",
    ),
]


def never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"a request was sent: {request.method} {request.url}")


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_TOOLS)
async def test_a_malformed_tool_option_is_refused_before_sending(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    transport = httpx.MockTransport(never_called)
    async with AsyncClient("http://tokenwire.test", transport=transport) as client:
        with pytest.raises(error) as caught:
            client.chat("hi", **kwargs)
    assert message in str(caught.value)
    with (
        Client("http://tokenwire.test", transport=transport) as sync_client,
        pytest.raises(error) as sync_caught,
    ):
        sync_client.chat("hi", **kwargs)
    assert str(sync_caught.value) == str(caught.value)


@pytest.mark.parametrize(("conversation_id", "results", "error", "message"), BAD_RESULTS)
async def test_malformed_tool_results_are_refused_before_sending(
    conversation_id: Any, results: Any, error: type[Exception], message: str
) -> None:
    transport = httpx.MockTransport(never_called)
    async with AsyncClient("http://tokenwire.test", transport=transport) as client:
        with pytest.raises(error) as caught:
            client.continue_with_tool_results(conversation_id, results)
    assert message in str(caught.value)
    with (
        Client("http://tokenwire.test", transport=transport) as sync_client,
        pytest.raises(error) as sync_caught,
    ):
        sync_client.continue_with_tool_results(conversation_id, results)
    assert str(sync_caught.value) == str(caught.value)


# --- against the real continuation: marked for the merge until the server's part is merged -------


def run_tools(calls: list[WholeToolCall]) -> list[dict[str, str]]:
    """The caller's side of the loop: run each call locally, answer it by its id."""
    answers = {"get_weather": "sunny, 25°C", "get_time": "14:02"}
    return [{"tool_call_id": c.id, "content": answers[c.name]} for c in calls]


async def test_real_server_continues_a_tool_calls_turn_with_the_results(
    tools_server: RunningServer,
) -> None:
    model: ToolCallingModel = tools_server.hub.providers["tools"]
    async with AsyncClient(tools_server.base_url) as client:
        async with client.chat("Weather and time?", model="tools", tools=TOOLS) as first:
            await first.text_until_done()
        assert first.finish_reason == "tool_calls" and first.conversation_id is not None
        results = run_tools(first.pending_tool_calls)
        async with client.continue_with_tool_results(first.conversation_id, results) as second:
            answer = await second.text_until_done()
        assert answer == "The tools said: sunny, 25°C; 14:02."
        assert second.finish_reason == "stop"
        assert second.conversation_id == first.conversation_id
        assert second.stream_id != first.stream_id
        stored = (await client.conversation(first.conversation_id))["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "tool", "assistant"]
    assert stored[1]["tool_calls"] == [call.to_json() for call in WHOLE_CALLS]
    assert [(m["tool_call_id"], m["content"], m["is_error"]) for m in stored[2:4]] == [
        (r["tool_call_id"], r["content"], False) for r in results
    ]
    (_, first_params), (history, _) = model.calls
    assert [t["function"]["name"] for t in first_params.tools] == ["get_weather", "get_time"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "tool"]


def test_sync_real_server_continues_a_tool_calls_turn_with_the_results(
    tools_server: RunningServer,
) -> None:
    with Client(tools_server.base_url) as client:
        with client.chat("Weather and time?", model="tools", tools=TOOLS) as first:
            first.text_until_done()
        assert first.conversation_id is not None
        results = run_tools(first.pending_tool_calls)
        with client.continue_with_tool_results(first.conversation_id, results) as second:
            assert second.text_until_done() == "The tools said: sunny, 25°C; 14:02."


async def test_real_server_resumes_a_continuation_after_a_drop(tmp_path: Path) -> None:
    with run_server(tmp_path, retry_ms=20) as server:
        add_model(server, ToolCallingModel())
        async with (
            AsyncClient(server.base_url) as client,
            client.chat("Weather?", model="tools") as first,
        ):
            await first.text_until_done()
        assert first.conversation_id is not None
        with Proxy(server.base_url, [Cut(250)]) as proxy:
            async with AsyncClient(proxy.base_url, **QUICK) as client:
                results = run_tools(first.pending_tool_calls)
                async with client.continue_with_tool_results(
                    first.conversation_id, results
                ) as second:
                    seqs = [event.seq async for event in second]
        assert [r.method for r in proxy.requests] == ["POST", "GET"]
        assert seqs == list(range(1, len(logged(server, second.stream_id)) + 1))
        assert second.text == "The tools said: sunny, 25°C; 14:02."


async def test_real_server_refuses_a_result_for_an_unknown_call_naming_the_field(
    tools_server: RunningServer,
) -> None:
    async with AsyncClient(tools_server.base_url) as client:
        async with client.chat("Weather?", model="tools") as first:
            await first.text_until_done()
        assert first.conversation_id is not None
        unknown = [{"tool_call_id": "call_nope", "content": "x"}]
        with pytest.raises(ApiError) as caught:
            async with client.continue_with_tool_results(first.conversation_id, unknown):
                raise AssertionError("the stream must not open")
    assert 400 <= caught.value.status < 500
    assert "tool_call_id" in caught.value.message or "tool_results" in caught.value.message
