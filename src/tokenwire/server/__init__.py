"""The ASGI server: the app, its routes, and what stands in front of them.

- ``app``: builds the Starlette app from settings, its parts wired in one place.
- ``mountable``: ``create_app`` and ``TokenwireApp``, the app that runs alone or mounts in another.
- ``runner``: runs the app under uvicorn, with a shutdown that lets answers finish.
- ``backends``: opens the stream log and the store (embedded, or Redis and PostgreSQL).
- ``state``: what the routes share: settings, hub, authenticator, rate limits, metrics.
- ``guard``: the middleware in front of ``/api``, ``/v1`` and ``/metrics``, and its refusals.
- ``auth``: API tokens, where a request carries one, the WebSocket origin check.
- ``rate_limits``: moving-window limits per client address and per user.
- ``reader_caps``: open stream readers per user and per address (``reader_counts`` counts them).
- ``scope``: reading an ASGI scope: the path below the mount point, a header, the client.
- ``error_map``: the one table from exceptions to API errors, and the errors' JSON shapes.
- ``errors``: ``ApiError``, what a route raises for a request it cannot take.
- ``validation``: reading and checking request bodies, every error a 4xx naming the field.
- ``api``: ``/api`` chat, streams, conversations and models.
- ``health``: ``/healthz`` (liveness) and ``/readyz`` (readiness per dependency).
- ``login``: ``/api/login``, ``/api/logout`` and ``/api/me``, the browser's cookie.
- ``openai_compat``: ``/v1/chat/completions`` and ``/v1/models``, stateless.
- ``websocket``: ``/api/ws``; ``multiplex``: its frame protocol, apart from the socket.
- ``streaming``: a stream log written to a response as SSE or NDJSON.
- ``compression``: opt-in gzip for those streams, flushed after every write.
- ``metrics_endpoint``: ``/metrics`` in Prometheus' text format.
- ``web``: the web app's shell and its content-hashed assets.
"""
