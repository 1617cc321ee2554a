"""The Responses API across server processes sharing Redis and PostgreSQL: a background response
started on one process is resumed, retrieved and cancelled on another."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from tests.support.scaleout import cluster, write_config
from tests.support.servers import ANSWER


@pytest.fixture
def config(tmp_path: Path, postgres_url: str, redis_url: str) -> Path:
    return write_config(tmp_path / "tokenwire.toml", database_url=postgres_url, redis_url=redis_url)


def sdk_for(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=60)


def test_a_background_response_resumes_on_another_process(config: Path) -> None:
    with cluster(config, 2) as (a, b), sdk_for(a.base) as on_a, sdk_for(b.base) as on_b:
        first = []
        with on_a.responses.create(model="crawl", input="hi", stream=True, background=True) as s:
            for event in s:
                first.append(event)
                if event.type == "response.output_text.delta":
                    break  # leave process a mid-answer
        rid = first[0].response.id  # type: ignore[union-attr]
        with on_b.responses.retrieve(
            rid, stream=True, starting_after=first[-1].sequence_number
        ) as resumed:
            rest = list(resumed)
        events = first + rest
        assert [e.sequence_number for e in events] == list(range(len(events)))
        assert rest[-1].type == "response.completed"
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert text == ANSWER
        # b answers it whole: from the final Response a stored, or from the log until a has.
        stored = on_b.responses.retrieve(rid)
        assert stored.output_text == ANSWER


def test_a_cancel_on_another_process_stops_the_background_response(config: Path) -> None:
    with cluster(config, 2) as (a, b), sdk_for(a.base) as on_a, sdk_for(b.base) as on_b:
        with on_a.responses.create(model="crawl", input="hi", stream=True, background=True) as s:
            events = iter(s)
            rid = next(events).response.id  # type: ignore[union-attr]
            for event in events:
                if event.type == "response.output_text.delta":
                    break
            cancelled = on_b.responses.cancel(rid)
            rest = list(events)
        assert cancelled.status == "cancelled"
        assert rest[-1].type == "response.incomplete"
        assert rest[-1].response.status == "cancelled"  # type: ignore[union-attr]
