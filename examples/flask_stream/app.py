"""A Flask app that speaks tokenwire's protocol over plain WSGI, two ways.

- ``GET /`` is a page whose ``EventSource`` reads ``GET /api/chat/stream?message=...``: the seed's
  Flask SSE route, streaming a real model through tokenwire's provider (an OpenAI-compatible API
  when ``OPENAI_BASE_URL`` is set, with ``OPENAI_API_KEY`` and ``OPENAI_MODEL``; else the bundled
  local model). The provider brings the timeouts, the UTF-8-safe decoding, stable error codes and a
  key that never reaches an answer or a log line; the encoder brings the numbered events and exactly
  one terminal event.
- ``POST /api/chat`` answers ``{"message": ...}`` from your own model code (a generator), as SSE or,
  for ``Accept: application/x-ndjson``, as NDJSON.

Both send the bytes a tokenwire server sends, so tokenwire's clients read them. tokenwire only
encodes here: no stream log, so no resume, and nothing is stored. Run it with
``flask --app examples.flask_stream.app run``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response, request, send_from_directory

from examples.flask_stream.sync_bridge import LoopThread
from tokenwire import GenerationParams, ModelConfig, Reasoning, Usage
from tokenwire.config import DEFAULT_LOCAL_MODEL
from tokenwire.providers.base import Provider
from tokenwire.providers.registry import build_provider
from tokenwire.standalone import HEADERS, MEDIA_TYPES, encode_stream, negotiate

STATIC = Path(__file__).parent / "static"
# The page loads its one script from here and nothing else: no inline script to inject into.
PAGE_CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'"

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


def provider_from_env() -> Provider:
    """An OpenAI-compatible API where ``OPENAI_BASE_URL`` names one, else the local model."""
    base_url = os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        return build_provider(DEFAULT_LOCAL_MODEL)
    model = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
    return build_provider(
        ModelConfig(
            id=model,
            provider="openai",
            base_url=base_url,
            model=model,
            api_key_env="OPENAI_API_KEY",
        )
    )


def create_app(
    model: Model = spell_it_out, provider: Callable[[], Provider] = provider_from_env
) -> Flask:
    """``provider`` is called once, at the first streamed question."""
    app = Flask(__name__, static_folder=None)
    loop = LoopThread()  # the provider's event loop, for the whole app
    providers: list[Provider] = []

    def the_provider() -> Provider:
        if not providers:
            providers.append(provider())
        return providers[0]

    @app.get("/")
    def page() -> Any:
        response = send_from_directory(STATIC, "index.html")
        response.headers["Content-Security-Policy"] = PAGE_CSP
        return response

    @app.get("/static/<path:name>")
    def static_file(name: str) -> Any:
        return send_from_directory(STATIC, name)

    @app.get("/api/chat/stream")
    def chat_stream() -> Any:
        if request.headers.get("Last-Event-ID") is not None:
            # An EventSource reconnecting, after the stream ended or dropped. There is no stream
            # log here to resume from, and asking again would start a second answer: 204 is what
            # tells an EventSource to stop. (tokenwire serve resumes instead.)
            return Response(status=204, headers=HEADERS)
        message = request.args.get("message", "")
        if not message.strip():
            return error(400, "invalid_request", "`message` must be a non-empty query parameter")
        chosen = the_provider()
        answer = chosen.stream([{"role": "user", "content": message}], GenerationParams())
        body_chunks = encode_stream(loop.iterate(answer), "sse", model=chosen.id, retry_ms=1000)
        return Response(body_chunks, mimetype=MEDIA_TYPES["sse"], headers=HEADERS)

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
