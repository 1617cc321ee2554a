"""Generations and their stream logs: everything that starts, reads or stops an answer.

- ``hub``: starts generations, finds their streams for readers, stops them; its limits.
- ``generation``: one generation, a task that numbers what a provider yields and appends it, and
  runs the server's tools in between the model's answers.
- ``attempts``: getting an answer started: retries before the first token, then fallbacks.
- ``tools``: the server's own tools (``[[tools]]``), run inside a generation's tool loop.
- ``schema``: tool parameters as JSON Schema: derived from a signature, checked, and applied.
- ``log``: the stream log's protocol, its batches and its exceptions.
- ``memory``: the in-process stream log, the default.
- ``redis_log``: the stream log on Redis Streams, shared by every server process.
- ``redis_scripts``: that log's Lua scripts, each atomic on the Redis server.
- ``remote``: cancelling a generation that runs in another process.
"""
