"""A Flask app that speaks tokenwire's protocol with its own model code, over plain WSGI.

``POST /api/chat`` answers ``{"message": ...}`` with the protocol's events, as Server-Sent Events
or, for ``Accept: application/x-ndjson``, as NDJSON: the same bytes a tokenwire server sends, so
tokenwire's clients read it. tokenwire only encodes here: no stream log, so no resume, and nothing
is stored. Run it with ``flask --app examples.flask_stream.app run``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, Response, request

from tokenwire import Reasoning, Usage
from tokenwire.standalone import HEADERS, MEDIA_TYPES, encode_stream, negotiate

Model = Callable[[list[dict[str, str]]], Iterator[object]]


def spell_it_out(messages: list[dict[str, str]]) -> Iterator[object]:
    """Your model goes here. This one thinks aloud, then answers word by word."""
    question = messages[-1]["content"]
    yield Reasoning("The user said something; I will say it back.")
    words = question.split()
    for word in words:
        time.sleep(0.01)  # as a real model would take its time
        yield word + " "
    yield Usage(prompt_tokens=len(words), completion_tokens=len(words))


def error(status: int, code: str, message: str) -> tuple[dict[str, Any], int]:
    return {"error": {"code": code, "message": message}}, status


def create_app(model: Model = spell_it_out) -> Flask:
    app = Flask(__name__)

    @app.post("/api/chat")
    def chat() -> Any:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "invalid_json", "the body must be a JSON object")
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            return error(400, "invalid_request", "`message` must be a non-empty string")
        fmt = negotiate(request.headers.get("Accept"))
        body_chunks = encode_stream(
            model([{"role": "user", "content": message}]), fmt, model="spell-it-out"
        )
        return Response(body_chunks, mimetype=MEDIA_TYPES[fmt], headers=HEADERS)

    return app


app = create_app()
