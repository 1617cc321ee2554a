"""examples/flask_stream's EventSource path: its page in Debian's Chromium reads
``GET /api/chat/stream`` from the Flask app, which streams a real model through tokenwire's
OpenAI-compatible provider, pointed here at the loopback stub.

The page shows reasoning and answer as they stream, asks the model once (the EventSource is closed
on the terminal event, and a reconnect gets 204), shows the model's error without the key, and a
reader who leaves stops the upstream request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from tests.examples.test_flask import flask_server, sse_protocol_events
from tests.support.helpers import assert_complete_stream, text_of
from tests.support.upstream_stub import REASONING, ThreadedUpstream
from tests.support.web_support import chromium, needs_browser
from tokenwire.providers.openai import OpenAIProvider

SECRET = "sk-flask-page-0123456789-do-not-leak"
WAIT = 30.0
QUESTION = "Streams from Flask 你好 世界"

pytestmark = [needs_browser, pytest.mark.timeout(120)]


@pytest.fixture
def upstream() -> Iterator[ThreadedUpstream]:
    with ThreadedUpstream() as stub:
        yield stub


def through(stub: ThreadedUpstream, model: str) -> OpenAIProvider:
    return OpenAIProvider(id=model, base_url=stub.base_url, model=model, api_key=SECRET)


def ask_in_the_page(base_url: str, question: str) -> dict[str, str]:
    """Type ``question`` into the page, wait for the terminal state, and say what it shows."""
    with chromium() as context:
        page = context.new_page()
        response = page.goto(base_url + "/")
        assert response is not None and response.ok
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.fill("#message", question)
        page.click("#send")
        # A locator's wait, not a page function: the page's CSP forbids evaluating strings.
        expect(page.locator("#status")).to_have_text(re.compile("^(done|error)"), timeout=30_000)
        return {
            name: page.locator(f"#{name}").text_content() or ""
            for name in ("status", "answer", "reasoning")
        } | {"html": page.content()}


def test_the_page_streams_reasoning_and_answer_over_eventsource_and_asks_once(
    upstream: ThreadedUpstream,
) -> None:
    with flask_server(provider=lambda: through(upstream, "reason")) as url:
        shown = ask_in_the_page(url, QUESTION)
    assert shown["status"] == "done: stop"
    assert shown["answer"] == QUESTION
    assert shown["reasoning"] == "".join(REASONING)
    # One question, one upstream request: the page closed its EventSource on `done`, so the
    # browser did not reconnect and ask the model again.
    assert len(upstream.requests) == 1
    assert upstream.last_request.json["messages"] == [{"role": "user", "content": QUESTION}]


def test_the_models_error_shows_in_the_page_without_the_key(upstream: ThreadedUpstream) -> None:
    with flask_server(provider=lambda: through(upstream, "fault:http-401")) as url:
        shown = ask_in_the_page(url, "hello")
    assert shown["status"].startswith("error: upstream_http_error: upstream answered HTTP 401")
    assert SECRET not in shown["html"]


def test_an_eventsource_reconnect_gets_204_and_starts_nothing(upstream: ThreadedUpstream) -> None:
    with flask_server(provider=lambda: through(upstream, "echo")) as url:
        again = httpx.get(
            url + "/api/chat/stream",
            params={"message": "hi"},
            headers={"Last-Event-ID": "3", "Accept": "text/event-stream"},
            timeout=WAIT,
        )
        missing = httpx.get(url + "/api/chat/stream", timeout=WAIT)
    assert again.status_code == 204
    assert upstream.requests == []
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "invalid_request"


def test_the_stream_carries_the_protocol_and_leaving_stops_the_upstream_request(
    upstream: ThreadedUpstream,
) -> None:
    with flask_server(provider=lambda: through(upstream, "echo")) as url:
        whole = httpx.get(url + "/api/chat/stream", params={"message": QUESTION}, timeout=WAIT)
    events = list(sse_protocol_events(iter([whole.content])))
    assert_complete_stream(events)
    assert text_of(events) == QUESTION

    with (
        flask_server(provider=lambda: through(upstream, "slow:5")) as url,
        httpx.stream(
            "GET", url + "/api/chat/stream", params={"message": "a b c"}, timeout=WAIT
        ) as response,
    ):
        reading = sse_protocol_events(response.iter_raw())
        assert [next(reading).type, next(reading).type] == ["start", "delta"]
        # Leave mid-answer: the WSGI server closes the body, which closes the provider's stream
        # on its loop, and with it the upstream request.
        response.close()
        assert upstream.wait_disconnect(timeout=WAIT)
