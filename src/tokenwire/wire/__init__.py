"""The wire formats: pure encoders and decoders, no I/O, importing nothing above ``events.py``.

- ``sse.py``: Server-Sent Events, encoder and a WHATWG-exact incremental decoder.
- ``ndjson.py``: newline-delimited JSON, encoder and incremental decoder.
- ``openai.py``: OpenAI ``chat.completion`` chunks both ways (``ChunkEncoder``, ``ChunkDecoder``).
- ``responses.py``: the OpenAI Responses API's ``response.*`` events and ``Response`` object.
- ``formats.py``: the stream formats' media types, response headers and ``Accept`` negotiation.
- ``stream.py``: kept for compatibility only, a re-export of ``tokenwire.standalone``.
"""
