"""``POST /v1/responses``, driven by the official ``openai`` SDK against a real server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.support.servers import ANSWER, RunningServer


@pytest.fixture
def sdk(server: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def test_streamed_response_events_in_order_with_gapless_sequence_numbers(
    sdk: openai.OpenAI,
) -> None:
    with sdk.responses.create(model="replay", input="hi", stream=True) as stream:
        events = list(stream)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == ANSWER
    final = events[-1].response  # type: ignore[union-attr]
    assert final.status == "completed" and final.output_text == ANSWER


def test_whole_response_with_instructions_and_item_input(sdk: openai.OpenAI) -> None:
    response = sdk.responses.create(
        model="replay",
        instructions="be brief",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        temperature=0.5,
    )
    assert response.status == "completed"
    assert response.output_text == ANSWER
    assert response.instructions == "be brief"
    assert response.id.startswith("resp_")


def test_max_output_tokens_ends_incomplete(sdk: openai.OpenAI) -> None:
    response = sdk.responses.create(model="replay", input="hi", max_output_tokens=5)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert ANSWER.startswith(response.output_text)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "replay", "input": 5}, "input"),
        ({"model": "replay", "input": []}, "input"),
        ({"model": "replay", "input": "hi", "stream": "yes"}, "stream"),
        ({"model": "replay", "input": "hi", "colour": 1}, "colour"),
        ({"model": "replay", "input": "hi", "background": True, "store": False}, "background"),
        (
            {"model": "replay", "input": "hi", "previous_response_id": 5},
            "previous_response_id",
        ),
        ({"model": "replay", "input": [{"role": "wizard", "content": "hi"}]}, "input[0].role"),
        ({"model": "replay", "input": "hi", "tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"model": "replay", "input": "hi", "text": {"format": {"type": "yaml"}}}, "text.format"),
        ({"model": "replay", "input": "hi", "temperature": "hot"}, "temperature"),
    ],
)
def test_bad_request_is_a_400_naming_the_parameter(
    sdk: openai.OpenAI, body: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.post("/responses", body=body, cast_to=object)
    assert caught.value.param == param


def test_unknown_model_is_not_found(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.responses.create(model="gpt-99", input="hi")
    assert caught.value.code == "model_not_found"


def test_background_stream_dropped_then_resumed_gives_every_event_once_in_order(
    sdk: openai.OpenAI,
) -> None:
    first: list[openai.types.responses.ResponseStreamEvent] = []
    with sdk.responses.create(model="slow", input="hi", stream=True, background=True) as stream:
        for event in stream:
            first.append(event)
            if event.type == "response.output_text.delta" and len(first) >= 5:
                break  # the connection closes here, mid-answer
    rid = first[0].response.id  # type: ignore[union-attr]
    last = first[-1].sequence_number
    with sdk.responses.retrieve(rid, stream=True, starting_after=last) as resumed:
        rest = list(resumed)
    events = first + rest
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert rest[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == ANSWER
    # After the end, a retrieve answers the stored response, and a resume from 0 the same events.
    stored = sdk.responses.retrieve(rid)
    assert stored.status == "completed" and stored.output_text == ANSWER and stored.background
    with sdk.responses.retrieve(rid, stream=True) as again:
        assert [e.model_dump() for e in again] == [e.model_dump() for e in events]


def test_background_create_returns_at_once_and_runs_to_the_end(sdk: openai.OpenAI) -> None:
    started = sdk.responses.create(model="slow", input="hi", background=True)
    assert started.status == "in_progress" and started.output == []
    with sdk.responses.retrieve(started.id, stream=True) as stream:
        assert list(stream)[-1].type == "response.completed"
    assert sdk.responses.retrieve(started.id).output_text == ANSWER


def test_cancel_stops_a_background_response(sdk: openai.OpenAI) -> None:
    with sdk.responses.create(model="crawl", input="hi", stream=True, background=True) as stream:
        events = iter(stream)
        created = next(events)
        rid = created.response.id  # type: ignore[union-attr]
        for event in events:
            if event.type == "response.output_text.delta":
                break  # it is streaming: now cancel it
        cancelled = sdk.responses.cancel(rid)
        assert cancelled.status == "cancelled"
        rest = list(events)
    assert rest[-1].type == "response.incomplete"
    assert rest[-1].response.status == "cancelled"  # type: ignore[union-attr]
    assert ANSWER.startswith(cancelled.output_text) and cancelled.output_text != ANSWER


def test_only_a_background_response_can_be_cancelled(sdk: openai.OpenAI) -> None:
    done = sdk.responses.create(model="replay", input="hi")
    with pytest.raises(openai.BadRequestError):
        sdk.responses.cancel(done.id)


def test_previous_response_id_carries_the_conversation(sdk: openai.OpenAI) -> None:
    first = sdk.responses.create(model="replay", input="first question")
    second = sdk.responses.create(
        model="replay", input="second question", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    items = sdk.responses.input_items.list(second.id, order="asc")
    seen = [
        (item.type, getattr(item, "role", None), item.content[0].text)  # type: ignore[union-attr]
        for item in items.data
    ]
    assert seen == [
        ("message", "user", "first question"),
        ("message", "assistant", ANSWER),
        ("message", "user", "second question"),
    ]


def test_unknown_previous_response_is_not_found(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.responses.create(model="replay", input="hi", previous_response_id="resp_nope")
    assert caught.value.param == "previous_response_id"


def test_delete_then_retrieve_is_not_found(sdk: openai.OpenAI) -> None:
    response = sdk.responses.create(model="replay", input="hi")
    sdk.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(response.id)


def test_store_false_keeps_no_record(sdk: openai.OpenAI) -> None:
    response = sdk.responses.create(model="replay", input="hi", store=False)
    assert response.output_text == ANSWER
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(response.id)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "replay", "input": "hi", "tool_choice": {"type": "function"}},
        {"model": "replay", "input": "hi", "tool_choice": 5},
        {"model": "replay", "input": "hi", "tools": [{"type": "function"}]},
        {"model": "replay", "input": "hi", "tools": "all"},
        {"model": "replay", "input": "hi", "text": {"format": {"type": "json_schema"}}},
        {"model": "replay", "input": "hi", "text": "plain"},
        {"model": "replay", "input": "hi", "metadata": {"a": 1}},
        {"model": "replay", "input": "hi", "instructions": ["x"]},
        {"model": "replay", "input": "hi", "max_output_tokens": -1},
        {"model": "replay", "input": "hi", "parallel_tool_calls": "yes"},
        {"model": "replay", "input": [{"type": "function_call"}]},
        {"model": "replay", "input": [{"type": "function_call_output", "call_id": 1}]},
        {"model": "replay", "input": [{"role": "user", "content": [5]}]},
        {"model": "replay", "input": [{"role": "user", "content": None}]},
        {"model": "replay", "input": [{"type": "image_generation_call"}]},
        {"model": "replay", "input": [5]},
        {"input": "hi"},
    ],
)
def test_malformed_requests_are_4xx_in_openais_shape(
    server: RunningServer, body: dict[str, object]
) -> None:
    response = httpx.post(f"{server.base_url}/v1/responses", json=body)
    assert response.status_code == 400, response.text
    assert set(response.json()["error"]) >= {"message", "code"}


@pytest.mark.parametrize(
    "query", ["stream=maybe", "stream=true&starting_after=x", "stream=true&starting_after=-1"]
)
def test_bad_retrieve_queries_are_400(
    sdk: openai.OpenAI, server: RunningServer, query: str
) -> None:
    response = sdk.responses.create(model="replay", input="hi")
    got = httpx.get(f"{server.base_url}/v1/responses/{response.id}?{query}")
    assert got.status_code == 400, got.text


def test_input_items_pages_with_limit_order_and_after(
    sdk: openai.OpenAI, server: RunningServer
) -> None:
    items = [{"role": "user", "content": f"q{i}"} for i in range(3)]
    response = sdk.responses.create(model="replay", input=items)  # type: ignore[arg-type]
    page = sdk.responses.input_items.list(response.id, limit=2)
    texts = [item.content[0].text for item in page.data]  # type: ignore[union-attr]
    assert texts == ["q2", "q1"] and page.has_more
    rest = sdk.responses.input_items.list(response.id, limit=2, after=page.last_id)
    assert [item.content[0].text for item in rest.data] == ["q0"]  # type: ignore[union-attr]
    assert not rest.has_more
    bad = httpx.get(f"{server.base_url}/v1/responses/{response.id}/input_items?limit=0")
    assert bad.status_code == 400
