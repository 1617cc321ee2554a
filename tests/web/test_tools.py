"""Tool calls in the chat app, in Debian's Chromium, from a scripted (replay) model that needs no
key: a call the server runs shows its result, a call for the caller's own tool shows it waits, and
the stored conversation shows both the same way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import tool_functions as tf
from tests.support.servers import RunningServer, run_server
from tests.support.web_support import APP_BUILT, chromium, needs_browser
from tests.web.test_app import ask, conversation_id, last_answer, open_app, stored, wait_state
from tokenwire.config import ModelConfig, ToolConfig

pytestmark = [
    needs_browser,
    pytest.mark.skipif(not APP_BUILT, reason="the web app is not built: run scripts/build-web"),
    pytest.mark.timeout(180),
]

TURNS = (
    {
        "text": "Let me look at the sky.",
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Lisbon"}}],
    },
    {
        "text": "It is **sunny**. Which colour do you want?",
        "tool_calls": [{"name": "pick_color", "arguments": {"shades": ["warm", "cold"]}}],
    },
)
WEATHER = {"city": "Lisbon", "temperature": 21, "unit": "C", "sky": "晴"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tf.reset()
    model = ModelConfig(
        id="tools", provider="replay", turns=TURNS, tools=("get_weather",), tokens_per_second=60
    )
    tools = (ToolConfig(name="get_weather", function=tf.get_weather),)
    with run_server(tmp_path_factory.mktemp("web-tools"), (model,), tools=tools) as running:
        yield running


@pytest.fixture
def context() -> Iterator[Any]:
    with chromium() as ctx:
        yield ctx


def call(page: Any, name: str) -> Any:
    return last_answer(page).locator(f"details.tool-call[data-name='{name}']")


def check_the_answer(page: Any, calls: list[dict[str, Any]]) -> None:
    """The answer's text around its calls, the server's call with its result, the other waiting."""
    weather, pick = call(page, "get_weather"), call(page, "pick_color")
    assert weather.get_attribute("data-status") == "done"
    assert weather.get_attribute("data-tool-call-id") == calls[0]["id"]
    # (Text content: a stored call is shown folded, its details closed.)
    assert json.loads(weather.locator("pre.arguments").text_content()) == {"city": "Lisbon"}
    result = weather.locator("pre.result")
    assert result.get_attribute("hidden") is None and result.get_attribute("data-error") is None
    assert json.loads(result.text_content()) == WEATHER
    assert pick.get_attribute("data-status") == "waiting"
    assert pick.get_attribute("data-tool-call-id") == calls[1]["id"]
    assert json.loads(pick.locator("pre.arguments").text_content()) == {"shades": ["warm", "cold"]}
    assert pick.locator("pre.result").get_attribute("hidden") is not None
    answer = last_answer(page)
    assert answer.get_attribute("data-state") == "tool_calls"
    assert answer.locator(".state .waiting").is_visible()
    # Text, call, text, call: the parts in the order the stream brought them.
    parts = answer.locator(":scope > .markdown, :scope > details.tool-call")
    assert [parts.nth(i).evaluate("e => e.classList[0]") for i in range(parts.count())] == [
        "markdown",
        "tool-call",
        "markdown",
        "tool-call",
    ]
    assert answer.locator(".markdown strong").inner_text() == "sunny"


def test_a_server_call_shows_its_result_and_a_client_call_waits(
    server: RunningServer, context: Any
) -> None:
    page = open_app(context, server.base_url)
    ask(page, "What is the weather?", model="tools")
    page.wait_for_selector("details.tool-call[data-name='get_weather'][data-status='done']")
    wait_state(page, "tool_calls")
    messages = stored(server, conversation_id(page))["messages"]
    assert [(m["role"], m["finish_reason"]) for m in messages] == [
        ("user", None),
        ("assistant", "tool_calls"),
        ("tool", None),
        ("assistant", "tool_calls"),
    ]
    calls = [messages[1]["tool_calls"][0], messages[3]["tool_calls"][0]]
    check_the_answer(page, calls)
    assert call(page, "get_weather").locator("pre.result").is_visible()  # live: shown unfolded
    assert page.problems == []

    # The stored conversation, opened afresh, shows the same.
    again = open_app(context, f"{server.base_url}/#/c/{conversation_id(page)}")
    again.wait_for_selector("article.assistant[data-state='tool_calls']")
    assert again.locator("article.assistant").count() == 1  # one answer, the steps inside it
    check_the_answer(again, calls)
    assert again.problems == []
