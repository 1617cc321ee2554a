"""examples/flask_stream: a WSGI app streaming the protocol with tokenwire's encoders, on a real
WSGI server (werkzeug's) over loopback, read by tokenwire's own decoders and Python client."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server

from examples.flask_stream.app import Model, create_app, spell_it_out
from tests.support.helpers import assert_complete_stream, text_of
from tokenwire.client import Client
from tokenwire.events import Event
from tokenwire.wire.ndjson import NDJSONDecoder
from tokenwire.wire.sse import SSEDecoder

WAIT = 30.0
SECRET = "sk-flask-secret-0123456789"


class Gate:
    """A model that answers in two halves and waits between them until ``opened``."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.closed = threading.Event()

    def model(self, messages: list[dict[str, str]]) -> Iterator[object]:
        try:
            yield "first half, "
            self.opened.wait(WAIT)
            yield "second half"
            while True:  # a model that would go on if nobody stopped it
                threading.Event().wait(0.01)
                yield "."
        finally:
            self.closed.set()


def failing(messages: list[dict[str, str]]) -> Iterator[object]:
    yield "so far "
    raise RuntimeError(f"upstream refused key {SECRET}")


@contextmanager
def flask_server(model: Model = spell_it_out, **options: Any) -> Iterator[str]:
    """The example app on werkzeug's threaded server; ``options`` go to ``create_app``."""
    server = make_server("127.0.0.1", 0, create_app(model, **options), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(WAIT)


def sse_protocol_events(chunks: Iterator[bytes]) -> Iterator[Event]:
    decoder = SSEDecoder()
    for chunk in chunks:
        for frame in decoder.feed(chunk):
            event = Event.from_json(frame.data)
            assert (frame.id, frame.event) == (str(event.seq), event.type)
            yield event


def test_sse_carries_the_whole_protocol() -> None:
    with (
        flask_server() as url,
        httpx.stream(
            "POST", url + "/api/chat", json={"message": "streams from flask"}, timeout=WAIT
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        events = list(sse_protocol_events(response.iter_raw()))
    assert_complete_stream(events)
    assert [e.type for e in events] == [
        "start",
        "reasoning",
        "delta",
        "delta",
        "delta",
        "usage",
        "done",
    ]
    assert text_of(events) == "streams from flask "


def test_ndjson_when_asked() -> None:
    with flask_server() as url:
        response = httpx.post(
            url + "/api/chat",
            json={"message": "one line each"},
            headers={"Accept": "application/x-ndjson"},
            timeout=WAIT,
        )
    assert response.headers["content-type"].startswith("application/x-ndjson")
    decoder = NDJSONDecoder()
    events = [Event.from_dict(o) for o in decoder.feed(response.content) + decoder.flush()]
    assert_complete_stream(events)
    assert text_of(events) == "one line each "


def test_each_piece_arrives_as_the_model_yields_it_and_leaving_closes_the_model() -> None:
    gate = Gate()
    with flask_server(gate.model) as url:
        with httpx.stream(
            "POST", url + "/api/chat", json={"message": "hi"}, timeout=WAIT
        ) as response:
            events = sse_protocol_events(response.iter_raw())
            assert next(events).type == "start"
            # The model is still waiting: this piece came through before the answer was done.
            assert next(events).to_dict()["text"] == "first half, "
            assert not gate.closed.is_set()
            gate.opened.set()
            assert next(events).to_dict()["text"] == "second half"
        # The reader left mid-answer: the WSGI server closes the body, which closes the model.
        assert gate.closed.wait(WAIT)


def test_a_failing_model_ends_with_an_error_event_and_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="tokenwire")
    with flask_server(failing) as url:
        response = httpx.post(url + "/api/chat", json={"message": "hi"}, timeout=WAIT)
    events = list(sse_protocol_events(iter([response.content])))
    assert_complete_stream(events)
    assert text_of(events) == "so far "
    assert events[-1].to_dict()["code"] == "model_error"
    assert SECRET not in response.text
    assert "RuntimeError" in caplog.text  # the traceback went to the log


def test_bad_input_is_a_400_with_a_json_error() -> None:
    with flask_server() as url:
        not_json = httpx.post(url + "/api/chat", content=b"{", timeout=WAIT)
        no_message = httpx.post(url + "/api/chat", json={"message": " "}, timeout=WAIT)
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "invalid_json")
    assert (no_message.status_code, no_message.json()["error"]["code"]) == (400, "invalid_request")


def test_tokenwires_python_client_reads_it() -> None:
    with flask_server() as url, Client(url) as client, client.chat("any server") as stream:
        events = list(stream)
    assert (events[0].type, events[-1].type) == ("start", "done")
    assert "".join(e.payload.text for e in events if e.type == "delta") == "any server "  # type: ignore[union-attr]
