"""Every config block of docs/vendors.md, read as a tokenwire.toml and run against the loopback
stub playing that vendor's ways: where its reasoning comes, how it streams tool calls, where it
puts usage, what its requests must carry. The docs cannot go stale without this failing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.upstream_stub import Call, Reply, UpstreamStub
from tokenwire.config import ModelConfig, load_settings
from tokenwire.events import Answer, Done
from tokenwire.providers.base import GenerationParams
from tokenwire.providers.registry import build_provider

pytestmark = pytest.mark.timeout(30)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "vendors.md"
REASONING = ("The user wants", " the weather.")
CONTENT = ("Let me", " look.")
USAGE = (7, 2)
TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


def blocks() -> dict[str, str]:
    """Each ``## section`` of the docs and its one TOML block."""
    text = DOCS.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        title, _, body = section.partition("\n")
        tomls = re.findall(r"^```toml\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)
        assert len(tomls) == 1, f"section {title!r} needs exactly one toml block"
        found[title.strip()] = tomls[0]
    return found


@dataclass(frozen=True)
class Ways:
    """How a vendor streams: the ``Reply`` fields that differ from OpenAI's, and the ids it gives
    its calls."""

    reply: dict[str, Any] = field(default_factory=dict)
    ids: tuple[str, str] = ("call_w1", "call_w2")


VENDORS: dict[str, Ways] = {
    "DeepSeek": Ways({"reasoning_field": "reasoning_content", "usage_at": "finish"}),
    "Qwen (DashScope compatible mode)": Ways(
        {"reasoning_field": "reasoning_content", "tool_ids": "empty-later"}
    ),
    "Baidu Qianfan (ERNIE)": Ways({"reasoning_field": "reasoning_content"}),
    "Kimi (Moonshot)": Ways(
        {"reasoning_field": "reasoning_content", "usage_at": "choice"},
        ids=("functions.get_weather:0", "functions.get_weather:1"),
    ),
    "Ollama": Ways(
        {
            "reasoning_field": "reasoning",
            "whole_calls": True,
            "tool_index": False,
            "finish_reason": "stop",
            "done": False,
        }
    ),
    "vLLM": Ways({"reasoning_field": "reasoning", "tool_ids": "repeat", "usage_at": "every-chunk"}),
    "OpenRouter": Ways(),
    "Azure OpenAI": Ways(),
}


def environment(models: tuple[ModelConfig, ...]) -> dict[str, str]:
    """A value for every variable the models name: ``value-of-<NAME>``."""
    names = [m.api_key_env for m in models if m.api_key_env]
    names += [name for m in models for name in m.headers_env.values()]
    return {name: f"value-of-{name}" for name in names}


def on_stub(model: ModelConfig, stub: UpstreamStub) -> ModelConfig:
    """The model, its host swapped for the stub's: the vendor's path stays."""
    assert model.base_url is not None
    path = httpx.URL(model.base_url).path
    return replace(model, base_url=f"http://127.0.0.1:{stub.port}{path}")


@pytest.fixture
async def stub() -> AsyncIterator[UpstreamStub]:
    async with UpstreamStub() as running:
        yield running


def test_every_section_of_the_docs_has_its_vendors_ways_here() -> None:
    assert set(blocks()) == set(VENDORS)


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_the_block_is_a_valid_config(vendor: str, tmp_path: Path) -> None:
    path = tmp_path / "tokenwire.toml"
    path.write_text(blocks()[vendor], encoding="utf-8")
    models = load_settings(path, env={}).models
    assert models and all(m.provider == "openai" for m in models)
    assert not any(m.id == "gpt-4o-mini" for m in models)  # no stray OPENAI_API_KEY model


@pytest.mark.parametrize("vendor", sorted(VENDORS))
async def test_each_model_streams_its_vendors_way_into_the_same_answer(
    vendor: str, stub: UpstreamStub, tmp_path: Path
) -> None:
    ways = VENDORS[vendor]
    path = tmp_path / "tokenwire.toml"
    path.write_text(blocks()[vendor], encoding="utf-8")
    models = load_settings(path, env={}).models
    env = environment(models)
    for configured in models:
        model = on_stub(configured, stub)
        pieces = [('{"city": "Par', 'is"}'), ('{"city": "Ro', 'me"}')]
        stub.script(
            Reply(
                content=CONTENT,
                reasoning=REASONING,
                usage=USAGE,
                tool_calls=(
                    Call(ways.ids[0], "get_weather", pieces[0]),
                    Call(ways.ids[1], "get_weather", pieces[1]),
                ),
                interleave=True,
                **{"finish_reason": "tool_calls", **ways.reply},
            )
        )
        provider = build_provider(model, env)
        answer = Answer()
        try:
            async for payload in provider.stream(
                [{"role": "user", "content": "Weather in Paris and Rome?"}],
                GenerationParams(tools=(TOOL,)),
            ):
                answer.add(payload)
        finally:
            await provider.aclose()

        assert (answer.reasoning, answer.text) == ("".join(REASONING), "".join(CONTENT))
        assert [c.to_json() for c in answer.tool_calls] == [
            {"id": ways.ids[0], "name": "get_weather", "arguments": '{"city": "Paris"}'},
            {"id": ways.ids[1], "name": "get_weather", "arguments": '{"city": "Rome"}'},
        ]
        assert answer.usage_counts == USAGE
        assert answer.final == Done("tool_calls")

        request = stub.last_request
        assert request.path == httpx.URL(configured.base_url or "").path + "/chat/completions"
        if configured.api_key_env:
            expected = f"Bearer value-of-{configured.api_key_env}"
            assert request.headers["authorization"] == expected
        else:
            assert "authorization" not in request.headers
        for name, value in configured.headers.items():
            assert request.headers[name.lower()] == value
        for name, variable in configured.headers_env.items():
            assert request.headers[name.lower()] == f"value-of-{variable}"
        body = request.json
        assert body["model"] == configured.upstream_model and body["tools"] == [TOOL]
        for key, value in configured.extra_body.items():
            assert body[key] == value
        if "stream_options" not in configured.extra_body:
            assert body["stream_options"] == {"include_usage": True}


def test_tokenwire_serve_names_an_unset_header_variable_and_exits(tmp_path: Path) -> None:
    (tmp_path / "tokenwire.toml").write_text(blocks()["Azure OpenAI"], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "AZURE_OPENAI_API_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "tokenwire.cli", "serve", "--config", "tokenwire.toml"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(DOCS.parents[1] / "src")},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert b"the environment variable AZURE_OPENAI_API_KEY, which is not set" in done.stderr
    assert b"Traceback" not in done.stderr
