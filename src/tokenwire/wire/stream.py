"""Kept for compatibility: the documented import of the stand-alone stream encoder.

``encode_stream`` and its helpers run a model's output and number its events, which is not a
codec's work, so they live in ``tokenwire.standalone`` now; import them from there. This module
only re-exports them, so that ``from tokenwire.wire.stream import ...`` keeps working: it is the
one module of ``wire/`` that imports from a layer above it.
"""

from __future__ import annotations

from tokenwire.standalone import (
    HEADERS,
    MEDIA_TYPES,
    StreamFormat,
    aencode_stream,
    aprotocol_events,
    encode_stream,
    negotiate,
    protocol_events,
)

__all__ = [
    "HEADERS",
    "MEDIA_TYPES",
    "StreamFormat",
    "aencode_stream",
    "aprotocol_events",
    "encode_stream",
    "negotiate",
    "protocol_events",
]
