"""examples/fetch_event_source and examples/eventsource in Debian's Chromium, served beside a
mounted tokenwire app, through a loopback proxy that resets every open connection mid-answer.

The model is a function that counts its generations per question and waits at a gate halfway, so
the cut always lands mid-answer: each page must finish the one answer it started (resuming with
Last-Event-ID) and never start a second one."""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

import tokenwire
from tests.support.hosts import Host, serve
from tests.support.web_support import CuttableProxy, chromium, needs_browser
from tokenwire import GenerationParams
from tokenwire.client import Client

EXAMPLES = Path(__file__).parents[2] / "examples"
# Each page and the directory it is served from (fetch_event_source is bundled into dist/).
PAGES = {
    "fetch_event_source": EXAMPLES / "fetch_event_source" / "dist",
    "eventsource": EXAMPLES / "eventsource",
}
FIRST_HALF = "The first half of the answer, 你好, "
SECOND_HALF = "and the second half after the cut. 🌍 The end."
ANSWER = FIRST_HALF + SECOND_HALF

pytestmark = [needs_browser, pytest.mark.timeout(180)]


@dataclass
class Model:
    """Counts generations per question; a question that starts with "gated" stops halfway until
    the test opens its gate, one that starts with "fail" fails halfway."""

    generations: Counter[str] = field(default_factory=Counter)
    gates: dict[str, threading.Event] = field(default_factory=dict)

    def gate(self, question: str) -> threading.Event:
        return self.gates.setdefault(question, threading.Event())

    async def __call__(
        self, messages: list[dict[str, Any]], params: GenerationParams
    ) -> AsyncIterator[str]:
        question = str(messages[-1]["content"])
        self.generations[question] += 1
        for word in re.findall(r"\S+\s*", FIRST_HALF):
            yield word
        if question.startswith("fail"):
            raise RuntimeError("a detail that stays in the server's log")
        if question.startswith("gated"):
            await asyncio.to_thread(self.gate(question).wait, 60)
        yield SECOND_HALF


@dataclass
class Site:
    host: Host
    proxy: CuttableProxy
    model: Model
    requests: list[tuple[str, str, str | None]]  # method, path, Last-Event-ID

    def requests_to(self, method: str, path_part: str) -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[0] == method and path_part in r[1]]


def recording(app: Any, requests: list[tuple[str, str, str | None]]) -> Any:
    """The app, noting each HTTP request's method, path and Last-Event-ID header."""

    async def recorded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            last = dict(scope["headers"]).get(b"last-event-id")
            requests.append((scope["method"], scope["path"], last.decode() if last else None))
        await app(scope, receive, send)

    return recorded


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    for page, directory in PAGES.items():
        if not (directory / "index.html").is_file():
            pytest.fail(f"examples/{page} is not built: run scripts/build-recipes")
    model = Model()
    tw = tokenwire.create_app(
        models=[{"id": "counted", "provider": "python", "entry": model}],
        database_url=f"sqlite:///{tmp_path_factory.mktemp('recipes') / 'chat.db'}",
    )
    routes = [Mount("/tokenwire", tw)]
    routes += [Mount(f"/{page}", StaticFiles(directory=d, html=True)) for page, d in PAGES.items()]
    requests: list[tuple[str, str, str | None]] = []
    app = Starlette(routes=routes, lifespan=lambda app: tw.lifespan())
    with serve(recording(app, requests)) as host:
        proxy = CuttableProxy(int(host.base_url.rsplit(":", 1)[1]))
        try:
            yield Site(host, proxy, model, requests)
        finally:
            proxy.close()


# Records every state the answer went through (init scripts run before the page's own).
WATCH_STATES = """
window.__states = [];
new MutationObserver(() => {
  const answer = document.getElementById("answer");
  const state = answer && answer.dataset.state;
  if (state && state !== window.__states[window.__states.length - 1]) window.__states.push(state);
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
"""


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as context:
        context.add_init_script(WATCH_STATES)
        yield context


def open_page(browser: Any, site: Site, page_name: str, model: str = "counted") -> Any:
    page = browser.new_page()
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.goto(f"{site.proxy.url}/{page_name}/?server=/tokenwire&model={model}")
    page.wait_for_selector("#prompt")
    return page


def ask(page: Any, question: str) -> None:
    page.fill("#prompt", question)
    page.click("#send")


def wait_state(page: Any, state: str) -> None:
    page.wait_for_selector(f'#answer[data-state="{state}"]', state="attached", timeout=60_000)


def stored_answer(site: Site, page: Any) -> dict[str, Any]:
    conversation_id = page.get_attribute("#answer", "data-conversation")
    assert conversation_id
    with Client(site.host.base_url + "/tokenwire") as client:
        messages: list[dict[str, Any]] = client.conversation(conversation_id)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]  # one question, one answer
    return messages[-1]


def cut_mid_answer(site: Site, page: Any, question: str) -> None:
    """Wait until the first half is shown, reset every connection, then let the model go on."""
    page.wait_for_function(f"document.getElementById('answer').textContent === {FIRST_HALF!r}")
    assert site.proxy.cut() >= 1
    site.model.gate(question).set()


@pytest.mark.parametrize("page_name", PAGES)
def test_a_cut_connection_resumes_the_one_answer_it_started(
    browser: Any, site: Site, page_name: str
) -> None:
    site.requests.clear()
    question = f"gated: cut {page_name}"
    page = open_page(browser, site, page_name)
    ask(page, question)
    cut_mid_answer(site, page, question)
    wait_state(page, "done")
    assert page.text_content("#answer") == ANSWER
    assert "reconnecting" in page.evaluate("window.__states")
    assert site.model.generations[question] == 1  # no second answer was started
    assert len(site.requests_to("POST", "/tokenwire/api/chat")) == 1  # never re-sent
    stream_id = stored_answer(site, page)["stream_id"]
    reads = site.requests_to("GET", f"/tokenwire/api/streams/{stream_id}")
    # The reads after the cut resumed after what was shown, not from the start.
    assert any(last is not None and int(last) >= 2 for _, _, last in reads), reads
    stored = stored_answer(site, page)
    assert (stored["content"], stored["status"]) == (ANSWER, "complete")
    assert not page.is_visible("#error") and not page.problems


def test_fetch_event_source_keeps_reading_while_the_tab_is_hidden(browser: Any, site: Site) -> None:
    """The library's default aborts the request when the tab is hidden and re-sends it when it is
    shown again: with openWhenHidden, hiding and showing the tab changes nothing."""
    site.requests.clear()
    question = "gated: hidden tab"
    page = open_page(browser, site, "fetch_event_source")
    ask(page, question)
    page.wait_for_function(f"document.getElementById('answer').textContent === {FIRST_HALF!r}")
    for hidden in (True, False):
        page.evaluate(
            "hidden => { Object.defineProperty(document, 'hidden',"
            " { value: hidden, configurable: true });"
            " document.dispatchEvent(new Event('visibilitychange')); }",
            hidden,
        )
    site.model.gate(question).set()
    wait_state(page, "done")
    assert page.text_content("#answer") == ANSWER
    assert "reconnecting" not in page.evaluate("window.__states")
    assert len(site.requests_to("POST", "/tokenwire/api/chat")) == 1
    assert site.requests_to("GET", "/tokenwire/api/streams/") == []
    assert site.model.generations[question] == 1


@pytest.mark.parametrize("page_name", PAGES)
def test_a_refused_question_is_shown_and_not_sent_again(
    browser: Any, site: Site, page_name: str
) -> None:
    site.requests.clear()
    page = open_page(browser, site, page_name, model="no-such-model")
    ask(page, "to a model that is not there")
    wait_state(page, "error")
    assert "model_not_found" in (page.text_content("#error") or "")
    assert page.text_content("#answer") == ""
    assert len(site.requests_to("POST", "/tokenwire/api/chat")) == 1


@pytest.mark.parametrize("page_name", PAGES)
def test_the_models_error_event_ends_the_answer_with_its_code(
    browser: Any, site: Site, page_name: str
) -> None:
    """tokenwire's terminal `error` event; on the EventSource page it shares its name with the
    browser's own connection error, and must not be taken for one (no reconnect)."""
    site.requests.clear()
    question = f"fail on {page_name}"
    page = open_page(browser, site, page_name)
    ask(page, question)
    wait_state(page, "error")
    assert page.text_content("#answer") == FIRST_HALF
    error = page.text_content("#error") or ""
    assert "model_error" in error and "detail" not in error
    assert "reconnecting" not in page.evaluate("window.__states")
    stored = stored_answer(site, page)
    assert (stored["content"], stored["status"]) == (FIRST_HALF, "error")
    assert site.model.generations[question] == 1
