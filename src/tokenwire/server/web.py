"""``GET /``: the web app's page, served with a strict Content-Security-Policy."""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


async def index(request: Request) -> Response:
    page = files("tokenwire").joinpath("static/index.html").read_text(encoding="utf-8")
    host = request.headers.get("host", "127.0.0.1:8000")
    return HTMLResponse(
        page.replace("HOST", host.replace("<", "").replace("&", "")),
        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"},
    )


routes = [Route("/", index, methods=["GET"])]
