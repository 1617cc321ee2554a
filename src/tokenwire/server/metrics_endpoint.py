"""``GET /metrics``: Prometheus' text format, behind the same auth as the API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tokenwire.server.state import app_state


async def metrics(request: Request) -> Response:
    return PlainTextResponse(
        app_state(request).metrics.render(),
        media_type="text/plain; version=0.0.4; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


routes = [Route("/metrics", metrics, methods=["GET"])]
