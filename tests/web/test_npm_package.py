"""The npm package tokenwire-web as a user gets it: the tarball scripts/build-web packs
(web/dist/package) installed into a fresh project (a copy of tests/web/npm_consumer, npm ci from
its committed lock), imported under Node, type-checked against the package's .d.ts, bundled with
Vite, and the bundle run in Chromium against a tokenwire server: the answer shows as sanitized,
highlighted markdown."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

import tokenwire
from tests.support.hosts import Host, serve
from tests.support.web_support import MARKDOWN_ANSWER, chromium, needs_browser

ROOT = Path(__file__).parents[2]
CONSUMER = Path(__file__).parent / "npm_consumer"
HOSTILE = '\n\n<script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2">\n'

pytestmark = [needs_browser, pytest.mark.timeout(300)]


def run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh folder holding the consumer project and the packed tarball beside it."""
    version = json.loads((ROOT / "web/package.json").read_text())["version"]
    tarball = ROOT / "web/dist/package" / f"tokenwire-web-{version}.tgz"
    assert tarball.is_file(), f"{tarball} is missing: run scripts/build-web"
    folder = tmp_path_factory.mktemp("consumer")
    for name in ("package.json", "package-lock.json", "tsconfig.json", "index.html", "main.ts"):
        shutil.copy(CONSUMER / name, folder / name)
    shutil.copy(tarball, folder / "tokenwire-web.tgz")
    run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], folder)
    return folder


def test_both_exports_import_under_node(project: Path) -> None:
    script = (
        "import * as client from 'tokenwire-web/client';"
        "import * as render from 'tokenwire-web/render';"
        "console.log(JSON.stringify({client: typeof client.TokenwireClient,"
        " render: Object.keys(render).sort()}));"
    )
    found = json.loads(run(["node", "--input-type=module", "-e", script], project))
    assert found == {
        "client": "function",
        "render": ["IncrementalRenderer", "loadImagesOnClick", "renderMarkdown"],
    }


@pytest.fixture(scope="module")
def bundle(project: Path) -> Path:
    run(["npm", "run", "--silent", "build"], project)  # tsc against the package's types, then Vite
    return project / "dist"


@pytest.fixture(scope="module")
def host(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    tw = tokenwire.create_app(
        models=[{"id": "replay", "provider": "replay", "text": MARKDOWN_ANSWER + HOSTILE}],
        database_url=f"sqlite:///{tmp_path_factory.mktemp('npm') / 'chat.db'}",
    )
    app = Starlette(
        routes=[Mount("/tokenwire", tw), Mount("/page", StaticFiles(directory=bundle, html=True))],
        lifespan=lambda app: tw.lifespan(),
    )
    with serve(app) as running:
        yield running


def test_the_vite_bundle_renders_a_streamed_answer_as_safe_markdown(
    bundle: Path, host: Host
) -> None:
    css = "".join(p.read_text() for p in (bundle / "assets").glob("*.css"))
    assert ".tw-markdown" in css and "hljs-keyword" in css  # render.css went into the bundle
    with chromium() as context:
        page: Any = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{host.base_url}/page/?server=/tokenwire&model=replay")
        page.wait_for_selector('#answer[data-state="done"]', state="attached", timeout=60_000)
        cells = page.locator("#answer table td").all_text_contents()
        assert [c.strip() for c in cells[:3]] == ["Python", "1991", "no"]
        assert page.locator("#answer pre code.language-python .hljs-keyword").count() > 0
        assert page.locator("#answer script, #answer img").count() == 0
        assert "<script>window.__pwned = 1</script>" in page.text_content("#answer")
        assert page.evaluate("window.__pwned") is None and not problems
