"""The chat app in Debian's Chromium against a real server with scripted (replay) models."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.servers import RunningServer, replay, run_server
from tests.support.web_support import APP_BUILT, MARKDOWN_ANSWER, chromium, needs_browser

pytestmark = [
    needs_browser,
    pytest.mark.skipif(not APP_BUILT, reason="the web app is not built: run scripts/build-web"),
    pytest.mark.timeout(180),
]

EVIL = """<img src=x onerror="window.__pwned = 1">

<script>window.__pwned = 2</script>

<div onclick="window.__pwned = 3">raw html block</div>

[click me](javascript:window.__pwned=4) [data](data:text/html,<script>x</script>)

![remote](REMOTE/healthz) <iframe src="javascript:window.__pwned=5"></iframe>

**still markdown**
"""

MODELS = (
    replay("replay", MARKDOWN_ANSWER, tokens_per_second=150),
    replay("slow", MARKDOWN_ANSWER, tokens_per_second=40),
    replay("long", MARKDOWN_ANSWER, tokens_per_second=20),
    replay("crawl", MARKDOWN_ANSWER, tokens_per_second=4),
    replay("fast", MARKDOWN_ANSWER * 3, tokens_per_second=0),
)

# Records, in the page, each answer's state changes with timestamps (Playwright's init scripts are
# not subject to the page's CSP, which stays enforced for the app itself).
WATCH_STATES = """
window.__states = [];
const shown = new WeakSet();
new MutationObserver((records) => {
  for (const r of records) {
    const el = r.target;
    if (r.type === "attributes" && el.matches("article.assistant")) {
      window.__states.push([el.dataset.state, Date.now()]);
    }
    const answer = el.closest && el.closest("article.assistant");
    if (r.type === "childList" && answer && !shown.has(answer) && el.matches(".markdown")) {
      shown.add(answer);
      window.__states.push(["text", Date.now()]);
    }
  }
}).observe(document, {
  subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"],
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    evil = replay("evil", EVIL.replace("REMOTE", "http://127.0.0.1:9"), tokens_per_second=0)
    with run_server(tmp_path_factory.mktemp("web"), (*MODELS, evil)) as running:
        yield running


@pytest.fixture
def context() -> Iterator[Any]:
    with chromium() as ctx:
        ctx.add_init_script(WATCH_STATES)
        yield ctx


def open_app(context: Any, url: str) -> Any:
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("dialog", lambda d: page.problems.append(f"dialog: {d.message}"))
    page.goto(url)
    page.wait_for_selector("#model option", state="attached")
    return page


def ask(page: Any, text: str, model: str = "replay") -> None:
    page.select_option("#model", model)
    page.fill("#input", text)
    page.press("#input", "Enter")


def last_answer(page: Any) -> Any:
    return page.locator("article.assistant").last


def wait_state(page: Any, state: str, timeout: float = 60_000) -> None:
    page.wait_for_function(
        "s => { const a = [...document.querySelectorAll('article.assistant')].pop();"
        " return a && a.dataset.state === s; }",
        arg=state,
        timeout=timeout,
    )


def wait_text(page: Any, chars: int) -> None:
    page.wait_for_function(
        "n => { const a = [...document.querySelectorAll('article.assistant .markdown')].pop();"
        " return a && a.textContent.length >= n; }",
        arg=chars,
    )


def conversation_id(page: Any) -> str:
    match = re.search(r"#/c/(.+)$", page.url)
    assert match, page.url
    return match.group(1)


def stored(server: RunningServer, conversation: str) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/api/conversations/{conversation}", timeout=10)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def reference_html(context: Any, url: str, conversation: str) -> str:
    """The answer as a fresh page renders it from the stored text, in one go."""
    page = open_app(context, f"{url}/#/c/{conversation}")
    page.wait_for_selector("article.assistant[data-state=done] .markdown > *")
    html: str = last_answer(page).locator(".markdown").inner_html()
    page.close()
    return html


def test_shell_and_assets_are_served_with_a_strict_csp(server: RunningServer) -> None:
    shell = httpx.get(server.base_url + "/", timeout=10)
    csp = shell.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "style-src 'self';" in csp
    assert shell.headers["cache-control"] == "no-cache"
    script = re.search(r'src="(/static/app/app-[A-Z0-9]+\.js)"', shell.text)
    assert script, shell.text
    asset = httpx.get(server.base_url + script.group(1), timeout=10)
    assert asset.status_code == 200
    assert asset.headers["content-type"].startswith("text/javascript")
    assert "immutable" in asset.headers["cache-control"]
    missing = httpx.get(server.base_url + "/static/app/../../config.py", timeout=10)
    assert missing.status_code == 404
    assert httpx.get(server.base_url + "/static/app/nope-AAAAAAAA.js", timeout=10).json() == {
        "error": {"code": "not_found", "message": "no such asset"}
    }


def test_send_streams_renders_and_stores(server: RunningServer, context: Any) -> None:
    page = open_app(context, server.base_url)
    ask(page, "Tell me about languages")
    wait_text(page, 40)
    assert last_answer(page).get_attribute("data-state") == "streaming"  # seen mid-stream
    assert page.locator("#stop").is_visible()
    wait_state(page, "done")
    answer = last_answer(page)
    assert answer.locator("h1").inner_text() == "A streamed answer"
    assert answer.locator("table td.tw-align-right").first.inner_text() == "1991"
    assert answer.locator("pre code.language-python .hljs-keyword").first.inner_text() == "def"
    assert "你好，世界！这是一个很长的中文句子" in answer.inner_text()
    assert answer.locator("pre button.copy").count() == 2
    assert page.locator("#send").is_visible()
    conversation = conversation_id(page)
    messages = stored(server, conversation)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == MARKDOWN_ANSWER
    assert page.locator(f"#conversations li[data-id='{conversation}']").count() == 1
    # The streamed DOM equals a one-shot render of the stored text.
    assert answer.locator(".markdown").inner_html() == reference_html(
        context, server.base_url, conversation
    )
    assert page.problems == []


def test_enter_sends_and_shift_enter_breaks_the_line(server: RunningServer, context: Any) -> None:
    page = open_app(context, server.base_url)
    page.fill("#input", "first line")
    page.press("#input", "Shift+Enter")
    page.type("#input", "second line")
    assert page.input_value("#input") == "first line\nsecond line"
    assert page.locator("article.user").count() == 0
    page.press("#input", "Enter")
    page.wait_for_selector("article.user")
    assert page.locator("article.user").inner_text() == "first line\nsecond line"
    assert page.input_value("#input") == ""
    wait_state(page, "done")


def test_stop_cancels_on_the_server(server: RunningServer, context: Any) -> None:
    page = open_app(context, server.base_url)
    ask(page, "Go slowly", model="crawl")
    wait_text(page, 5)
    page.click("#stop")
    wait_state(page, "cancelled", timeout=20_000)
    assert "Stopped." in last_answer(page).locator(".state").inner_text()
    message = stored(server, conversation_id(page))["messages"][1]
    assert message["status"] == "cancelled"
    assert 0 < len(message["content"]) < len(MARKDOWN_ANSWER)
    assert page.locator("#send").is_visible()


def test_regenerate_asks_again(server: RunningServer, context: Any) -> None:
    page = open_app(context, server.base_url)
    ask(page, "Once more")
    wait_state(page, "done")
    page.locator("article.assistant button.regenerate").click()
    page.wait_for_function("() => document.querySelectorAll('article.assistant').length === 2")
    wait_state(page, "done")
    assert page.locator("button.regenerate").count() == 1  # only on the newest answer
    messages = stored(server, conversation_id(page))["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[2]["content"] == "Once more"
    assert messages[3]["content"] == MARKDOWN_ANSWER


def test_reload_mid_answer_shows_the_whole_answer_once(server: RunningServer, context: Any) -> None:
    page = open_app(context, server.base_url)
    ask(page, "Survive a reload", model="slow")
    wait_text(page, 60)
    conversation = conversation_id(page)
    page.reload()
    page.wait_for_selector("article.assistant")
    assert (
        stored(server, conversation)["messages"][1]["status"] == "streaming"
    )  # reload was mid-answer
    wait_state(page, "done")
    assert page.locator("article.assistant").count() == 1
    assert last_answer(page).locator(".markdown").inner_html() == reference_html(
        context, server.base_url, conversation
    )
    assert last_answer(page).inner_text().count("A streamed answer") == 1


@pytest.mark.parametrize("transport", ["websocket", "sse", "ndjson", "eventsource"])
def test_a_cut_network_resumes_with_nothing_lost_or_doubled(
    server: RunningServer, context: Any, transport: str
) -> None:
    from tests.support.web_support import CuttableProxy

    proxy = CuttableProxy(int(server.base_url.rsplit(":", 1)[1]))
    try:
        page = open_app(context, f"{proxy.url}/?transport={transport}")
        ask(page, f"Resume over {transport}", model="slow")
        wait_text(page, 60)
        assert proxy.cut() >= 1
        wait_state(page, "done")
        states = [s for s, _ in page.evaluate("window.__states")]
        assert "reconnecting" in states, states
        conversation = conversation_id(page)
        assert stored(server, conversation)["messages"][1]["content"] == MARKDOWN_ANSWER
        assert last_answer(page).locator(".markdown").inner_html() == reference_html(
            context, server.base_url, conversation
        )
        # Only the connection broke, not the conversation: one question, one answer.
        assert len(stored(server, conversation)["messages"]) == 2
    finally:
        proxy.close()


def test_blocked_websockets_fall_back_to_sse(server: RunningServer, context: Any) -> None:
    from tests.support.web_support import CuttableProxy

    proxy = CuttableProxy(int(server.base_url.rsplit(":", 1)[1]), refuse_websockets=True)
    try:
        page = open_app(context, proxy.url)  # the default transport
        ask(page, "through a proxy without WebSockets")
        wait_state(page, "done")
        assert proxy.refused >= 1
        conversation = conversation_id(page)
        assert stored(server, conversation)["messages"][1]["content"] == MARKDOWN_ANSWER
        assert last_answer(page).locator("h1").inner_text() == "A streamed answer"
    finally:
        proxy.close()


def test_eight_tabs_stream_at_the_same_time(server: RunningServer, context: Any) -> None:
    pages = [open_app(context, server.base_url) for _ in range(8)]
    for i, page in enumerate(pages):
        ask(page, f"tab {i}", model="long")
    for page in pages:
        wait_state(page, "done", timeout=120_000)
    timelines = [page.evaluate("window.__states") for page in pages]
    first_done = min(t for timeline in timelines for s, t in timeline if s == "done")
    # Every tab showed text before the first one finished: none waited for a connection slot.
    starts = [min(t for s, t in timeline if s == "text") for timeline in timelines]
    assert max(starts) < first_done
    for page in pages:
        assert last_answer(page).locator("h1").inner_text() == "A streamed answer"


def test_untrusted_markdown_does_nothing(server: RunningServer, context: Any) -> None:
    page = open_app(context, server.base_url)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    ask(page, "Be evil", model="evil")
    wait_state(page, "done")
    answer = last_answer(page).locator(".markdown")
    assert page.evaluate("window.__pwned") is None
    assert answer.locator("img, script, iframe, div").count() == 0
    assert answer.locator("a").count() == 0  # javascript: and data: links are not links
    assert "<script>" in answer.inner_text() and "raw html block" in answer.inner_text()
    assert answer.locator("strong").inner_text() == "still markdown"
    assert not any("127.0.0.1:9" in url for url in requests)  # the image was not fetched
    answer.locator("button.tw-image").click()
    img = answer.locator("img")
    assert img.get_attribute("src") == "http://127.0.0.1:9/healthz"
    assert img.get_attribute("referrerpolicy") == "no-referrer"
    assert page.evaluate("window.__pwned") is None
    page.problems = [p for p in page.problems if "127.0.0.1:9" not in p and "ERR_" not in p]
    assert page.problems == []


def test_twenty_long_answers_stay_responsive(server: RunningServer, context: Any) -> None:
    page = open_app(context, server.base_url)
    for i in range(19):
        ask(page, f"round {i}", model="fast")
        page.wait_for_function(
            "n => document.querySelectorAll('article.assistant[data-state=done]').length === n",
            arg=i + 1,
        )
    # In the last round: earlier answers are never touched, and frames keep coming.
    page.evaluate(
        """() => {
        window.__touched = 0;
        const old = [...document.querySelectorAll('article.assistant .markdown')];
        const observer = new MutationObserver((r) => { window.__touched += r.length; });
        const all = {subtree: true, childList: true, characterData: true, attributes: true};
        for (const el of old) observer.observe(el, all);
        window.__gap = 0;
        let last = performance.now();
        const tick = (now) => { window.__gap = Math.max(window.__gap, now - last); last = now;
          if (!window.__stopTicks) requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
    }"""
    )
    ask(page, "round 19", model="fast")
    page.wait_for_function(
        "() => document.querySelectorAll('article.assistant[data-state=done]').length === 20"
    )
    page.evaluate("window.__stopTicks = true")
    assert page.evaluate("window.__touched") == 0
    assert page.evaluate("window.__gap") < 2000  # generous: the machine is shared
    page.fill("#input", "still typing")
    assert page.input_value("#input") == "still typing"


def test_conversations_new_open_delete(server: RunningServer, context: Any) -> None:
    page = open_app(context, server.base_url)
    ask(page, "first conversation")
    wait_state(page, "done")
    first = conversation_id(page)
    page.click("#new-chat")
    assert page.locator("article").count() == 0
    ask(page, "second conversation")
    wait_state(page, "done")
    second = conversation_id(page)
    assert first != second
    page.locator(f"#conversations li[data-id='{first}'] a").click()
    page.wait_for_function(
        "() => document.querySelector('article.user')?.textContent === 'first conversation'"
    )
    page.wait_for_selector(f"#conversations li.active[data-id='{first}']")
    assert page.locator("#conversations li.active").count() == 1
    page.locator(f"#conversations li[data-id='{first}'] button.delete").click()
    page.wait_for_function(
        "id => !document.querySelector(`#conversations li[data-id='${id}']`)", arg=first
    )
    assert page.locator("article").count() == 0  # the open conversation went with it
    response = httpx.get(f"{server.base_url}/api/conversations/{first}", timeout=10)
    assert response.status_code == 404


def test_copy_button_copies_the_code(server: RunningServer) -> None:
    with chromium(permissions=["clipboard-read", "clipboard-write"]) as context:
        page = open_app(context, server.base_url)
        ask(page, "code please")
        wait_state(page, "done")
        last_answer(page).locator("pre button.copy").first.click()
        page.wait_for_function(
            "() => document.querySelector('pre button.copy').textContent === 'Copied'"
        )
        copied = page.evaluate("navigator.clipboard.readText()")
        assert (
            copied
            == "def fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
        )


def test_a_failed_request_shows_an_error_with_retry(server: RunningServer, context: Any) -> None:
    page = open_app(context, server.base_url)
    page.evaluate(
        "() => { const o = document.createElement('option'); o.value = o.textContent = 'gone';"
        " document.querySelector('#model').append(o); }"
    )
    ask(page, "to a model that is not there", model="gone")
    wait_state(page, "failed")
    state = last_answer(page).locator(".state")
    assert "model" in state.inner_text()
    assert state.locator("button.retry").is_visible()
    assert page.locator("#send").is_visible()  # ready for the next question


def test_phone_width_layout(server: RunningServer) -> None:
    with chromium(
        viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True
    ) as context:
        page = open_app(context, server.base_url)
        assert not page.locator("#sidebar").is_visible()
        page.click("#menu")
        assert page.locator("#sidebar").is_visible()
        page.click("#new-chat")
        ask(page, "on a phone")
        wait_state(page, "done")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0


def test_dark_scheme_follows_the_system(server: RunningServer) -> None:
    with chromium(color_scheme="dark") as context:
        page = open_app(context, server.base_url)
        dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    with chromium(color_scheme="light") as context:
        page = open_app(context, server.base_url)
        light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark == "rgb(21, 23, 26)" and light == "rgb(255, 255, 255)"


def test_stick_to_bottom_unless_scrolled_up(server: RunningServer, context: Any) -> None:
    page = open_app(context, server.base_url)
    page.set_viewport_size({"width": 900, "height": 500})
    thread = page.locator("#thread")
    ask(page, "long one", model="slow")
    page.wait_for_function(
        "() => { const t = document.querySelector('#thread');"
        " return t.scrollHeight > t.clientHeight + 200; }"
    )
    # Following: the newest text is in view, so the thread has scrolled by itself.
    page.wait_for_function(
        "() => { const t = document.querySelector('#thread');"
        " return t.scrollTop > 0 && t.scrollHeight - t.scrollTop - t.clientHeight < 60; }"
    )
    assert (
        page.evaluate("document.documentElement.scrollTop") == 0
    )  # the thread scrolls, not the page
    thread.evaluate("t => t.scrollTo(0, 0)")
    wait_state(page, "done")
    assert thread.evaluate("t => t.scrollTop") == 0  # the reader's position was kept
    assert thread.evaluate("t => t.scrollHeight - t.clientHeight") > 200
