"""``GET /``: the web app's shell, and its content-hashed assets under ``/static/app/``.

The app is built from ``web/`` by ``scripts/build-web`` into ``static/app/``. The shell is never
cached (it names the current assets); the assets are cached forever (their names change with
their content). Everything is served with a strict Content-Security-Policy: no inline script, no
inline style, no ``eval``; remote images only once the reader has clicked to load them.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tokenwire.server.errors import ApiError

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:;"
    " connect-src 'self'; font-src 'self'; manifest-src 'self'; object-src 'none';"
    " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
ASSET_NAME = re.compile(r"^[A-Za-z0-9_-]+-[A-Z0-9]{8}\.(js|css|js\.LEGAL\.txt)$")
MEDIA_TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js.LEGAL.txt": "text/plain; charset=utf-8",
}


def _app_dir() -> Traversable:
    return files("tokenwire").joinpath("static/app")


async def index(request: Request) -> Response:
    shell = _app_dir().joinpath("index.html")
    if shell.is_file():
        page = shell.read_text(encoding="utf-8")
    else:  # not built: say how, rather than serve a blank page
        page = files("tokenwire").joinpath("static/index.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    match = ASSET_NAME.match(name)
    path = _app_dir().joinpath(name)
    if match is None or not path.is_file():
        raise ApiError(404, "not_found", "no such asset")
    return Response(
        path.read_bytes(),
        media_type=MEDIA_TYPES[match.group(1)],
        headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"},
    )


routes = [
    Route("/", index, methods=["GET"]),
    Route("/static/app/{name}", asset, methods=["GET"]),
]
