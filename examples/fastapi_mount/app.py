"""A FastAPI app that mounts tokenwire at ``/tokenwire`` and serves a model function of its own.

The model function calls an OpenAI-compatible API with the ``openai`` SDK; tokenwire gives it
everything else: resumable streams, cancel, stored conversations, SSE/NDJSON/WebSocket and an
OpenAI-compatible endpoint of its own. The host keeps its own routes beside it.

Run it with ``uvicorn examples.fastapi_mount.app:app`` and set ``OPENAI_BASE_URL``,
``OPENAI_API_KEY`` and ``OPENAI_MODEL`` for the upstream (any OpenAI-compatible API).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import openai
from fastapi import FastAPI

import tokenwire
from tokenwire import Done, GenerationParams, ProviderError, Reasoning, Usage


def upstream_model(client: openai.AsyncOpenAI, model: str) -> Any:
    """A tokenwire model function over any OpenAI-compatible API."""

    async def answer(
        messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncIterator[object]:
        options: dict[str, Any] = {
            name: value
            for name in ("max_tokens", "temperature", "top_p", "seed")
            if (value := getattr(params, name)) is not None
        }
        if params.stop:
            options["stop"] = list(params.stop)
        try:
            stream = await client.chat.completions.create(
                model=model,
                messages=messages,
                stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True},
                **options,
            )
            # Leaving this block, by the end or by a cancel, closes the upstream request.
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        yield Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        # DeepSeek, Qwen and vLLM send reasoning beside the content.
                        if reasoning := getattr(choice.delta, "reasoning_content", None):
                            yield Reasoning(reasoning)
                        if choice.delta.content:
                            yield choice.delta.content
                        if choice.finish_reason == "length":
                            yield Done("length")
        except openai.APIStatusError as exc:
            # Say what went wrong in words safe to show: never the upstream's body (some echo keys).
            raise ProviderError(
                "upstream_http_error",
                f"the upstream answered HTTP {exc.status_code}",
                retryable=exc.status_code == 429 or exc.status_code >= 500,
            ) from exc
        except openai.APIConnectionError as exc:
            raise ProviderError(
                "upstream_unreachable", "cannot reach the upstream", retryable=True
            ) from exc

    return answer


def create_app(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    model: str | None = None,
    database_url: str | None = None,
) -> FastAPI:
    client = openai.AsyncOpenAI(
        base_url=base_url or os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        api_key=api_key or os.environ.get("OPENAI_API_KEY", "unset"),
        max_retries=0,
    )
    tw = tokenwire.create_app(
        models=[
            {
                "id": "assistant",
                "provider": "python",
                "entry": upstream_model(
                    client, model or os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
                ),
            }
        ],
        database_url=database_url,  # None: TOKENWIRE_DATABASE_URL or a SQLite file
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Optional: without this, tokenwire starts on its first request. With it, it starts with
        # the app and, at shutdown, stores any answer still streaming as interrupted.
        async with tw.lifespan():
            yield
        await client.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"app": "my app", "chat": "/tokenwire/api/chat"}

    app.mount("/tokenwire", tw)
    return app


app = create_app()
