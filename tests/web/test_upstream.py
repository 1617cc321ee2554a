"""The chat app against a real OpenAI-compatible upstream (the loopback stub): reasoning shown
apart, and an upstream failure shown as a clear error with a retry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import RunningServer, run_server
from tests.support.upstream_stub import REASONING, ThreadedUpstream
from tests.support.web_support import APP_BUILT, chromium, needs_browser
from tests.web.test_app import ask, last_answer, open_app, wait_state
from tokenwire.config import ModelConfig

pytestmark = [
    needs_browser,
    pytest.mark.skipif(not APP_BUILT, reason="the web app is not built: run scripts/build-web"),
    pytest.mark.timeout(180),
]


def _model(id: str, base_url: str, model: str) -> ModelConfig:
    return ModelConfig(
        id=id,
        provider="openai",
        base_url=base_url,
        model=model,
        api_key_env="TW_WEB_KEY",
        first_token_timeout=5.0,
        idle_timeout=2.0,
    )


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    monkeypatch.setenv("TW_WEB_KEY", "sk-web-test-never-shown")
    with ThreadedUpstream() as stub:
        models = (
            _model("thinker", stub.base_url, "reason"),
            _model("breaks", stub.base_url, "fault:reset"),
        )
        with run_server(tmp_path, models) as running:
            yield running


@pytest.fixture
def context() -> Iterator[Any]:
    with chromium() as ctx:
        yield ctx


def test_reasoning_is_shown_apart_and_collapsible(server: RunningServer, context: Any) -> None:
    page = open_app(context, server.base_url)
    ask(page, "echo these words", model="thinker")
    wait_state(page, "done")
    answer = last_answer(page)
    assert answer.locator(".markdown").inner_text().strip() == "echo these words"
    reasoning = answer.locator("details.reasoning")
    assert reasoning.is_visible()
    assert "".join(REASONING) not in answer.locator(".markdown").inner_text()
    reasoning.locator("summary").click()
    assert reasoning.locator(".reasoning-text").inner_text() == "".join(REASONING)
    reasoning.locator("summary").click()
    assert not reasoning.locator(".reasoning-text").is_visible()


def test_an_upstream_failure_shows_the_error_and_a_retry(
    server: RunningServer, context: Any
) -> None:
    page = open_app(context, server.base_url)
    ask(page, "one two three four five", model="breaks")
    wait_state(page, "error")
    answer = last_answer(page)
    state = answer.locator(".state")
    assert "upstream" in state.inner_text()
    assert "sk-web-test" not in page.content()
    assert answer.locator(".markdown").inner_text().strip() != ""  # the partial text stays
    state.locator("button.retry").click()
    page.wait_for_function("() => document.querySelectorAll('article.assistant').length === 2")
    wait_state(page, "error")
