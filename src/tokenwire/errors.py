"""The root of every exception tokenwire raises on purpose.

Catch ``TokenwireError`` to catch them all, the way ``httpx.HTTPError`` roots httpx's. Each
module keeps its own exceptions beside the code that raises them; they all derive from this one,
and ``server/error_map.py`` is the one place that turns them into API responses.
"""

from __future__ import annotations


class TokenwireError(Exception):
    """The root of every exception tokenwire raises on purpose."""
