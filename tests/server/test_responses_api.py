"""``POST /v1/responses``, driven by the official ``openai`` SDK against a real server."""

from __future__ import annotations

from collections.abc import Iterator

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
        ({"model": "replay", "input": "hi", "background": True}, "background"),
        (
            {"model": "replay", "input": "hi", "previous_response_id": "resp_x"},
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
