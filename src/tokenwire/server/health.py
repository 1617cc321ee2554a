"""``GET /healthz`` (liveness) and ``GET /readyz`` (readiness), open to probes without a token.

Liveness answers from memory: the process serves requests. Readiness asks each shared service
the process needs - Redis, PostgreSQL - with a short time limit, and is 503 while one is
unreachable or while the process drains, so a load balancer sends new requests elsewhere.
Each model's upstream is reported as last seen (:mod:`tokenwire.hub.upstreams`) but does not decide
readiness: every process shares the same upstreams, so taking this one out of rotation would not
help, and a model whose upstream fails answers its own error.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenwire import __version__
from tokenwire.hub.log import LogUnavailable
from tokenwire.hub.redis_log import RedisStreamLog
from tokenwire.server.state import AppState, app_state
from tokenwire.store.database import DatabaseUnavailable

CHECK_TIMEOUT = 2.0  # seconds each dependency gets to answer


async def healthz(request: Request) -> Response:
    state = app_state(request)
    state.metrics.health_checks.inc(path="/healthz", status="200")
    return JSONResponse({"status": "ok", "generations": state.hub.running, "version": __version__})


async def _redis(log: RedisStreamLog) -> dict[str, object]:
    try:
        await log.ping(CHECK_TIMEOUT)
    except LogUnavailable as exc:
        return {"status": "unavailable", "message": str(exc)}
    return {"status": "ok"}


async def _postgresql(state: AppState) -> dict[str, object]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await state.hub.store.db.fetchone("SELECT 1")
    except (DatabaseUnavailable, TimeoutError) as exc:
        message = str(exc) or "postgresql did not answer in time"
        return {"status": "unavailable", "message": message}
    return {"status": "ok"}


async def readyz(request: Request) -> Response:
    state = app_state(request)
    checks: dict[str, asyncio.Task[dict[str, object]]] = {}
    async with asyncio.TaskGroup() as group:
        if isinstance(state.hub.log, RedisStreamLog):
            checks["redis"] = group.create_task(_redis(state.hub.log))
        if state.hub.store.db.dialect == "postgresql":
            checks["postgresql"] = group.create_task(_postgresql(state))
    dependencies = {name: task.result() for name, task in checks.items()}
    for name, found in dependencies.items():
        state.metrics.dependency_up.set(1 if found["status"] == "ok" else 0, dependency=name)
    ready = not state.hub.draining and all(d["status"] == "ok" for d in dependencies.values())
    status = 200 if ready else 503
    state.metrics.health_checks.inc(path="/readyz", status=str(status))
    body = {
        "status": "ready" if ready else "not_ready",
        "draining": state.hub.draining,
        "dependencies": dependencies,
        "models": {m: s.to_json() for m, s in state.hub.upstreams.snapshot().items()},
    }
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
