"""examples/react_chat and examples/vue_chat: each built page (scripts/build-examples) in Debian's
Chromium, served beside a mounted tokenwire app by a Starlette host of its own, streaming real
answers over real sockets, rendered by the tokenwire-web package's markdown renderer (installed from
its packed tarball): the answer grows frame by frame into a table and highlighted code, hostile HTML
stays inert text, Stop cancels on the server, an error shows, and whatever the page showed is what
the server stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

import tokenwire
from tests.support.hosts import Host, serve
from tests.support.web_support import chromium, needs_browser
from tokenwire import GenerationParams
from tokenwire.client import Client

EXAMPLES = Path(__file__).parents[2] / "examples"
PAGES = ("react_chat", "vue_chat")

# Markdown the page must render (a table, highlighted code), non-Latin text, and hostile HTML it
# must show as text, never run.
HOSTILE = (
    '<script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2"> <b>not bold</b>'
)
ANSWER = (
    "Streaming works. 你好，世界！Emoji too: 🌍👩‍💻.\n\n"
    "| language | year |\n|:---|---:|\n| Python | 1991 |\n| Rust | 2015 |\n\n"
    "```python\ndef double(x):\n    return x * 2\n```\n\n"
    f"Hostile: {HOSTILE}\n\nThe end.\n"
)
# One paragraph without markup: its rendered text is the text itself, so a page stopped at any
# point shows exactly what was stored.
CRAWL = "One plain sentence after another, with no markup at all. " * 20
PARTIAL = "Half an answer, then "

pytestmark = [needs_browser, pytest.mark.timeout(180)]


async def broken(messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]:
    yield PARTIAL
    raise RuntimeError("secret detail that must stay in the log")


def built(page: str) -> Path:
    dist = EXAMPLES / page / "dist"
    if not (dist / "index.html").is_file():
        pytest.skip(f"examples/{page} is not built: run scripts/build-examples")
    return dist


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    tw = tokenwire.create_app(
        models=[
            {"id": "replay", "provider": "replay", "text": ANSWER, "tokens_per_second": 40},
            {"id": "crawl", "provider": "replay", "text": CRAWL, "tokens_per_second": 5},
            {"id": "broken", "provider": "python", "entry": broken},
        ],
        database_url=f"sqlite:///{tmp_path_factory.mktemp('pages') / 'chat.db'}",
    )
    routes = [Mount("/tokenwire", tw)]  # the host mounts tokenwire beside its own pages
    routes += [
        Mount(f"/{page}", StaticFiles(directory=dist, html=True))
        for page in PAGES
        if (dist := EXAMPLES / page / "dist").is_dir()
    ]
    with serve(Starlette(routes=routes, lifespan=lambda app: tw.lifespan())) as running:
        yield running


# Records, in the page (init scripts run before the app), every length the answer's text had, and
# whether the controls were ever seen mid-stream with Stop enabled and Send disabled (a framework
# commits the state attribute and the buttons together, so one observation proves it; checking
# after a wait for "streaming" raced with a short answer that had already ended).
WATCH_ANSWER = """
window.__lengths = [];
window.__stopWhileStreaming = false;
new MutationObserver(() => {
  const answer = document.getElementById("answer");
  const n = answer ? answer.textContent.length : 0;
  if (n !== window.__lengths[window.__lengths.length - 1]) window.__lengths.push(n);
  const stop = document.getElementById("stop"), send = document.getElementById("send");
  if (answer && answer.dataset.state === "streaming" && stop && !stop.disabled && send?.disabled)
    window.__stopWhileStreaming = true;
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
"""


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as context:
        context.add_init_script(WATCH_ANSWER)
        yield context


def open_page(browser: Any, host: Host, page_name: str, model: str, transport: str = "") -> Any:
    built(page_name)
    page = browser.new_page()
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    query = f"?server=/tokenwire&model={model}" + (f"&transport={transport}" if transport else "")
    page.goto(f"{host.base_url}/{page_name}/{query}")
    page.wait_for_selector("#prompt")
    return page


def ask(page: Any, prompt: str) -> None:
    page.fill("#prompt", prompt)
    page.click("#send")


def wait_state(page: Any, state: str) -> None:
    page.wait_for_selector(f'#answer[data-state="{state}"]', state="attached", timeout=60_000)


def stored_answer(host: Host, page: Any) -> dict[str, Any]:
    conversation_id = page.get_attribute("#answer", "data-conversation")
    assert conversation_id
    with Client(host.base_url + "/tokenwire") as client:
        messages: list[dict[str, Any]] = client.conversation(conversation_id)["messages"]
    return messages[-1]


@pytest.mark.parametrize("transport", ["", "sse"], ids=["websocket", "sse"])
@pytest.mark.parametrize("page_name", PAGES)
def test_the_answer_streams_in_as_rendered_markdown(
    browser: Any, host: Host, page_name: str, transport: str
) -> None:
    page = open_page(browser, host, page_name, "replay", transport)
    ask(page, "Tell me something")
    wait_state(page, "done")
    assert page.evaluate("window.__stopWhileStreaming")
    cells = [c.strip() for c in page.locator("#answer table td").all_text_contents()]
    assert cells == ["Python", "1991", "Rust", "2015"]
    assert page.locator("#answer pre code.language-python .hljs-keyword").count() > 0
    assert "return x * 2" in page.text_content("#answer pre code")
    assert page.locator("#answer script, #answer img, #answer b").count() == 0  # never injected
    assert HOSTILE in page.text_content("#answer")  # shown as text
    assert page.evaluate("window.__pwned") is None
    final = len(page.text_content("#answer"))
    lengths = page.evaluate("window.__lengths")
    assert len([n for n in lengths if 0 < n < final]) >= 3, lengths  # painted over many frames
    assert not page.is_visible("#error") and not page.problems
    stored = stored_answer(host, page)
    assert (stored["content"], stored["status"]) == (ANSWER, "complete")
    assert not page.is_enabled("#stop")

    ask(page, "And again, in the same conversation")  # the page keeps its conversation
    wait_state(page, "done")
    with Client(host.base_url + "/tokenwire") as client:
        conversation_id = page.get_attribute("#answer", "data-conversation")
        roles = [m["role"] for m in client.conversation(conversation_id)["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]


@pytest.mark.parametrize("page_name", PAGES)
def test_stop_cancels_on_the_server(browser: Any, host: Host, page_name: str) -> None:
    page = open_page(browser, host, page_name, "crawl")
    ask(page, "Take your time")
    page.wait_for_function("document.getElementById('answer').textContent.trim().length >= 10")
    page.click("#stop")
    wait_state(page, "cancelled")
    shown = page.text_content("#answer").strip()
    assert 10 <= len(shown) < len(CRAWL.strip())
    stored = stored_answer(host, page)
    assert (stored["status"], stored["content"].strip()) == ("cancelled", shown)  # shown = stored
    assert not page.is_visible("#error") and not page.problems


@pytest.mark.parametrize("page_name", PAGES)
def test_stop_at_once_still_cancels(browser: Any, host: Host, page_name: str) -> None:
    """Stop right after Send, often before the stream has an id: cancelled once it is known."""
    page = open_page(browser, host, page_name, "crawl")
    ask(page, "Never mind")
    page.click("#stop")
    wait_state(page, "cancelled")
    stored = stored_answer(host, page)
    shown = page.text_content("#answer").strip()
    assert (stored["status"], stored["content"].strip()) == ("cancelled", shown)
    assert len(stored["content"]) < len(CRAWL)


@pytest.mark.parametrize("page_name", PAGES)
def test_a_model_error_is_shown_and_the_partial_answer_kept(
    browser: Any, host: Host, page_name: str
) -> None:
    page = open_page(browser, host, page_name, "broken")
    ask(page, "Fail halfway")
    wait_state(page, "error")
    assert page.text_content("#answer").strip() == PARTIAL.strip()
    error = page.text_content("#error")
    assert error and "model_error" in error and "secret" not in error
    stored = stored_answer(host, page)
    assert (stored["status"], stored["content"]) == ("error", PARTIAL)


@pytest.mark.parametrize("page_name", PAGES)
def test_an_unknown_model_is_a_clear_error_on_the_page(
    browser: Any, host: Host, page_name: str
) -> None:
    page = open_page(browser, host, page_name, "no-such-model")
    ask(page, "Hello?")
    wait_state(page, "error")
    assert page.text_content("#answer") == ""
    assert "model" in (page.text_content("#error") or "").lower()
