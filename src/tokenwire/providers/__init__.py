"""The models: each streams one answer as payloads (``base.Provider``).

- ``base.py``: the ``Provider`` protocol, ``GenerationParams`` and ``ProviderError``.
- ``registry.py``: builds the providers the configuration declares.
- ``local.py``: a GGUF run by llama.cpp in this process.
- ``openai.py``: any OpenAI-compatible API; the I/O loop around ``wire.openai.ChunkDecoder``.
- ``upstream_errors.py``: what went wrong with such an upstream, as one ``ProviderError``.
- ``watchdog.py``: the per-stream read deadline of a streamed body.
- ``http_transport.py``: the httpx transport for long streamed answers (httptools, batched reads).
- ``python.py``: a Python function as a model; ``output.py``: what such a function may yield.
- ``replay.py``: a scripted model for demos, tests and benchmarks.
- ``batches.py``: payloads received together, appended to the log together.
"""
