"""The real bundled model (SmolLM2-135M-Instruct through llama.cpp): short generations only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.helpers import assert_complete_stream, post_chat, text_of
from tests.support.servers import run_server
from tokenwire.config import load_settings
from tokenwire.events import Delta, Done, Usage
from tokenwire.providers.base import GenerationParams, ProviderError
from tokenwire.providers.local import LocalProvider, bundled_model_path

QUESTION = [{"role": "user", "content": "Name three colours."}]


class CountingProvider(LocalProvider):
    """Counts the tokens llama.cpp produced, to see how far it ran after a cancel."""

    produced = 0

    def _generate(self, messages: list[dict[str, str]], params: GenerationParams) -> Iterator[Any]:
        for item in super()._generate(messages, params):
            self.produced += 1
            yield item


@pytest.fixture(scope="module")
def provider() -> Iterator[CountingProvider]:
    model = CountingProvider(id="smollm2")
    yield model
    asyncio.run(model.aclose())


def test_the_bundled_model_ships_in_the_package() -> None:
    path = bundled_model_path()
    assert path.is_file() and path.suffix == ".gguf"
    assert "site-packages" in str(path)


async def test_a_short_generation_streams_tokens_usage_and_done(
    provider: CountingProvider,
) -> None:
    out = [p async for p in provider.stream(QUESTION, GenerationParams(max_tokens=12, seed=1))]
    deltas = [p for p in out if isinstance(p, Delta)]
    assert 1 <= len(deltas) <= 12 and "".join(d.text for d in deltas).strip()
    usage = next(p for p in out if isinstance(p, Usage))
    assert usage.prompt_tokens > 5 and 1 <= usage.completion_tokens <= 12
    assert isinstance(out[-1], Done)


async def test_max_tokens_ends_with_length(provider: CountingProvider) -> None:
    out = [p async for p in provider.stream(QUESTION, GenerationParams(max_tokens=3))]
    assert out[-1] == Done("length")


async def test_cancel_stops_generation_within_one_token(provider: CountingProvider) -> None:
    provider.produced = 0
    stream = provider.stream(QUESTION, GenerationParams(max_tokens=400, temperature=1.0, seed=3))
    seen = 0
    async for payload in stream:
        seen += isinstance(payload, Delta)
        if seen == 3:
            break
    await stream.aclose()  # waits for the worker thread to stop
    assert provider.produced - seen <= 2  # the token in hand and at most one being computed
    # The model is free again at once.
    again = [p async for p in provider.stream(QUESTION, GenerationParams(max_tokens=2))]
    assert isinstance(again[-1], Done)


async def test_a_missing_gguf_is_a_clear_error(tmp_path: Path) -> None:
    model = LocalProvider(id="missing", path=tmp_path / "nope.gguf")
    with pytest.raises(ProviderError) as caught:
        async for _ in model.stream(QUESTION, GenerationParams()):
            pass
    assert caught.value.code == "model_unavailable" and not caught.value.retryable
    await model.aclose()


async def test_server_answers_with_the_local_model_out_of_the_box(tmp_path: Path) -> None:
    settings = load_settings(env={})  # nothing configured: the bundled model is the default
    assert [m.provider for m in settings.models] == ["local"]
    with run_server(tmp_path, settings.models) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            models = (await http.get("/api/models")).json()["data"]
            assert models == [
                {
                    "id": "smollm2-135m-instruct",
                    "provider": "local",
                    "default": True,
                    "client_tools": False,  # its chat template has no tools
                    "server_tools": [],
                }
            ]
            response, events = await post_chat(
                http, {"message": "Say hi.", "params": {"max_tokens": 8, "seed": 1}}
            )
    assert response.status_code == 200
    assert_complete_stream(events)
    assert text_of(events).strip()
    assert any(e.type == "usage" for e in events)


LOOKUP = {"type": "function", "function": {"name": "lookup"}}


async def test_smollm2_s_chat_template_has_no_tools(provider: CountingProvider) -> None:
    assert "tools" not in provider._load().metadata["tokenizer.chat_template"]
    assert await provider.supports_tools() is False


async def test_offering_it_tools_is_a_400_tools_unsupported(tmp_path: Path) -> None:
    with run_server(tmp_path, load_settings(env={}).models) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            response = await http.post("/api/chat", json={"message": "hi", "tools": [LOOKUP]})
            assert response.status_code == 400
            error = response.json()["error"]
            assert error["code"] == "tools_unsupported"
            assert "smollm2-135m-instruct" in error["message"]
            assert (await http.get("/api/conversations")).json()["data"] == []  # nothing stored


async def test_it_reads_a_history_with_tool_calls_in_it(provider: CountingProvider) -> None:
    history = [
        {"role": "user", "content": "Look it up."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c", "content": "blue"},
        {"role": "user", "content": "Which colour?"},
    ]
    params = GenerationParams(max_tokens=4, seed=1)
    payloads = [p async for p in provider.stream(history, params)]
    assert isinstance(payloads[-1], Done)
    assert any(isinstance(p, Delta) for p in payloads)
