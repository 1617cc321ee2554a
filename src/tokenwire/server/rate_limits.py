"""How often: moving-window rate limits per client address (always) and per user (with auth).

A request over a limit is refused with a 429 and ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from redis.exceptions import RedisError

from tokenwire.config import Settings
from tokenwire.errors import TokenwireError

logger = logging.getLogger("tokenwire.server")


class RateLimited(TokenwireError):
    """Over a rate limit, per user or per client address; ``retry_after`` says for how long."""

    def __init__(self, *, per_user: bool, retry_after: int) -> None:
        super().__init__(f"rate limited for {retry_after} s")
        self.per_user = per_user
        self.retry_after = retry_after


class RateLimits:
    """Moving-window limits, in memory or (with Redis) shared by every process.

    A limiter whose Redis is unreachable lets requests through rather than refusing them all: the
    limits guard against abuse, and an outage of their store is not abuse. It starts afresh on the
    next request, since a restarted Redis has lost the limiter's scripts.
    """

    def __init__(self, settings: Settings, redis_url: str | None = None) -> None:
        self._redis_url = redis_url
        self._limiter = self._new_limiter()
        self.per_user: RateLimitItem | None = (
            parse(settings.rate_limit_user) if settings.rate_limit_user else None
        )
        self.per_ip: RateLimitItem | None = (
            parse(settings.rate_limit_ip) if settings.rate_limit_ip else None
        )

    def _new_limiter(self) -> MovingWindowRateLimiter:
        storage: Storage = MemoryStorage()
        if self._redis_url:  # shared by every process, so a limit holds across them
            found = storage_from_string(f"async+{self._redis_url}", implementation="redispy")
            assert isinstance(found, Storage)
            storage = found
        return MovingWindowRateLimiter(storage)

    async def retry_after(self, item: RateLimitItem | None, kind: str, key: str) -> int | None:
        """None when the request may go on; otherwise the seconds until it may."""
        if item is None:
            return None
        try:
            if await self._limiter.hit(item, kind, key):
                return None
            stats = await self._limiter.get_window_stats(item, kind, key)
        except RedisError as exc:
            logger.warning("rate limits not applied: redis is unreachable (%s)", type(exc).__name__)
            self._limiter = self._new_limiter()
            return None
        return max(1, math.ceil(stats.reset_time - time.time()))
