"""Signing in to the web app with an API token, in Chromium: the page asks for it, trades it for
the HttpOnly cookie, and then streams over its default transport (a WebSocket carrying the
cookie); page scripts never see the token again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.test_auth import create_token
from tests.support.servers import run_server
from tests.support.web_support import APP_BUILT, chromium, needs_browser
from tests.web.test_app import ask, last_answer, wait_state

pytestmark = [
    needs_browser,
    pytest.mark.skipif(not APP_BUILT, reason="the web app is not built: run scripts/build-web"),
    pytest.mark.timeout(180),
]


def test_the_app_asks_for_a_token_and_then_streams(tmp_path: Path) -> None:
    token = create_token(tmp_path, "alice")
    with run_server(tmp_path) as server, chromium() as context:
        page = context.new_page()
        page.goto(server.base_url)
        page.wait_for_selector("#token", state="visible")
        page.fill("#token", "tw_wrong")
        page.press("#token", "Enter")
        page.wait_for_timeout(500)
        assert page.locator("#login").is_visible()  # a wrong token leaves the sign-in up
        page.fill("#token", token)
        page.press("#token", "Enter")
        page.wait_for_selector("#login", state="hidden")
        page.wait_for_selector("#model option", state="attached")
        ask(page, "hello")
        wait_state(page, "done")
        assert "Streaming works" in last_answer(page).inner_text()
        assert page.evaluate("document.cookie") == ""  # HttpOnly: not readable by scripts
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["tokenwire_token"]["httpOnly"]
