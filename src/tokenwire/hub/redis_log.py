"""The stream log on Redis Streams, shared by every server process: start a stream on one process,
resume it on another.

Events go in with ``XADD`` under the entry id ``<seq>-0``, so ``XREAD`` after ``<n>-0`` is exactly
"the events after seq n". A finished stream ``EXPIRE``s after the retention time; ``MAXLEN`` caps
its length. Beyond the memory log, this one carries what several processes need:

- a **lease** per live stream, renewed by its producer's process every ``lease/3`` seconds. When a
  process dies, its leases run out and any process's reaper appends the terminal ``error``
  (``interrupted``) - atomically, so exactly once - and reports the stream to ``on_interrupted``,
  which stores the partial answer;
- **cancel** from any process: a flag the heartbeat notices, and a pub/sub message that is faster.

Every Redis call has a time limit; when Redis cannot be reached, calls raise ``LogUnavailable`` and
the background tasks keep retrying, so the log recovers by itself when Redis comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import OutOfMemoryError, ReadOnlyError, RedisError, ResponseError

from tokenwire.events import Error, Event
from tokenwire.hub import redis_scripts
from tokenwire.hub.held_appends import HeldAppends, LogOutageTooLong, ProducedStream
from tokenwire.hub.log import (
    Batch,
    LogFull,
    LogUnavailable,
    StreamEnded,
    StreamMeta,
    StreamNotFound,
)

logger = logging.getLogger("tokenwire.hub.redis")

T = TypeVar("T")
InterruptedHandler = Callable[[StreamMeta, Sequence[Event]], Awaitable[None]]
CancelHandler = Callable[[str], None]

# Replies that mean Redis cannot take writes now (full, or a replica), not that we erred.
_OUTAGE_REPLIES = (OutOfMemoryError, ReadOnlyError)
_META_FIELDS = ("stream_id", "conversation_id", "message_id", "model", "owner")
FLUSH_EVERY = 0.25  # seconds between two tries at writing held events
INTERRUPTED = Error("interrupted", "the server running this answer stopped", retryable=True)


def _interrupted_template() -> tuple[str, str]:
    """The terminal event's JSON split around its seq, for the reaper script to fill in."""
    raw = Event.make(1, INTERRUPTED).json.decode()
    before, after = raw.split('"seq":1', 1)
    return before + '"seq":', after


class RedisStreamLog:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "tokenwire:",
        max_streams: int = 10_000,
        max_events: int = 100_000,
        retention: float = 600.0,
        lease: float = 5.0,
        live_ttl: float = 86_400.0,
        timeout: float = 5.0,
        block: float = 2.0,
        outage_seconds: float = 30.0,
        outage_max_events: int = 10_000,
    ) -> None:
        self.prefix = prefix
        self.max_streams = max_streams  # live ones, across every process
        self.max_events = max_events
        self.lease = lease
        self._retention_ms = int(retention * 1000)
        self._live_ttl_ms = int(live_ttl * 1000)
        self._timeout = timeout
        self._block = block  # longest single XREAD BLOCK, well under the socket timeout
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout + block,
            socket_connect_timeout=timeout,
            health_check_interval=30,
            decode_responses=False,
        )
        self._append = self._redis.register_script(redis_scripts.APPEND)
        self._heartbeat = self._redis.register_script(redis_scripts.HEARTBEAT)
        self._lease = self._redis.register_script(redis_scripts.LEASE)
        self._reap = self._redis.register_script(redis_scripts.REAP)
        self._read = self._redis.register_script(redis_scripts.READ)
        self._restore = self._redis.register_script(redis_scripts.RESTORE)
        # The events of the streams this process produces, held while Redis is away.
        self.held = HeldAppends(max_seconds=outage_seconds, max_events=outage_max_events)
        self.outage_seconds = outage_seconds
        self._back_at: float | None = None  # when Redis last came back (monotonic)
        self._leases_key = f"{prefix}leases"
        self._cancel_channel = f"{prefix}cancel"
        self._producing: set[str] = set()  # streams this process produces: it renews their lease
        self._tasks: list[asyncio.Task[None]] = []
        self.on_interrupted: InterruptedHandler | None = None
        self.on_cancel: CancelHandler | None = None
        self._available = True

    # -- keys and calls ------------------------------------------------------------------------

    def _events_key(self, stream_id: str) -> str:
        return f"{self.prefix}s:{stream_id}"

    def _meta_key(self, stream_id: str) -> str:
        return f"{self.prefix}m:{stream_id}"

    async def _call(self, coro: Awaitable[T], extra: float = 0.0) -> T:
        """One Redis call with a time limit; any failure to reach Redis is ``LogUnavailable``."""
        try:
            async with asyncio.timeout(self._timeout + extra):
                result = await coro
        except (RedisError, OSError, TimeoutError) as exc:
            if isinstance(exc, ResponseError) and not isinstance(exc, _OUTAGE_REPLIES):
                raise  # a bug of ours, not an outage
            self._mark(available=False, reason=exc)
            raise LogUnavailable(f"redis is unreachable: {type(exc).__name__}") from exc
        self._mark(available=True)
        return result

    def _mark(self, *, available: bool, reason: BaseException | None = None) -> None:
        if available and not self._available:
            logger.warning("redis is reachable again")
            self._back_at = time.monotonic()
        elif not available and self._available:
            logger.error("redis is unreachable (%s: %s)", type(reason).__name__, reason)
        self._available = available

    # -- the StreamLog protocol ----------------------------------------------------------------

    async def create(self, meta: StreamMeta) -> None:
        live = await self._call(self._redis.zcard(self._leases_key))
        if live >= self.max_streams:
            raise LogFull(f"{live} streams are live")
        key = self._meta_key(meta.stream_id)
        fields: dict[Any, Any] = {name: getattr(meta, name) for name in _META_FIELDS}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={**fields, "last": 0})
            pipe.pexpire(key, self._live_ttl_ms)
            await self._call(pipe.execute())
        await self._call(
            self._lease(keys=[self._leases_key], args=[int(self.lease * 1000), meta.stream_id])
        )
        self._producing.add(meta.stream_id)
        self.held.start(meta)

    async def append(self, stream_id: str, events: Sequence[Event]) -> None:
        """Write events; while Redis is unreachable, the producer's events are held and written
        when it is back (:mod:`tokenwire.hub.held_appends`), unless that takes too long."""
        produced = self.held.get(stream_id)
        if produced is None:  # not a stream this process created: write it or fail now
            await self._write(stream_id, events)
            return
        produced.add(list(events))
        await self._write_held(produced)
        if produced.given_up:
            raise LogOutageTooLong(f"redis was unreachable for over {self.held.max_seconds:g} s")

    async def _write(self, stream_id: str, events: Sequence[Event]) -> None:
        terminal = events[-1].is_terminal
        args: list[Any] = [
            stream_id,
            self._retention_ms,
            self.max_events,
            int(terminal),
            self._live_ttl_ms,
        ]
        for event in events:
            args.extend((event.seq, event.json))
        keys = [self._events_key(stream_id), self._meta_key(stream_id), self._leases_key]
        outcome = await self._call(self._append(keys=keys, args=args))
        if outcome == -1:
            raise StreamNotFound(stream_id)
        if outcome == -2:
            raise StreamEnded(
                f"stream {stream_id} has ended; nothing may follow its terminal event"
            )

    async def _write_held(self, produced: ProducedStream) -> None:
        """Write what Redis does not have yet of a stream; hold it (and keep trying in the
        background) while Redis is unreachable."""
        stream_id = produced.meta.stream_id
        async with produced.lock:
            pending = produced.unwritten()
            if not pending or produced.given_up:
                return
            try:
                try:
                    await self._write(stream_id, pending)
                except StreamNotFound:
                    # Redis lost it (it came back empty): make the stream again and write it whole.
                    await self._restore_stream(produced)
                    pending = produced.events
                    await self._write(stream_id, pending)
            except LogUnavailable:
                if self.held.failed(produced):
                    self._give_up(produced)
                elif produced.flusher is None or produced.flusher.done():
                    produced.flusher = asyncio.create_task(
                        self._flush(produced), name=f"flush {stream_id}"
                    )
                return
            except (StreamEnded, StreamNotFound):
                self.held.drop(stream_id)
                self._producing.discard(stream_id)
                raise
            if produced.outage_since is not None:
                logger.warning("stream %s: %d held event(s) written", stream_id, len(pending))
                produced.outage_since = None
            produced.written = pending[-1].seq
            if produced.ended:  # this process stops vouching for the stream
                self.held.drop(stream_id)
                self._producing.discard(stream_id)

    async def _restore_stream(self, produced: ProducedStream) -> None:
        meta = produced.meta
        fields: list[Any] = []
        for name in _META_FIELDS:
            fields.extend((name, getattr(meta, name)))
        keys = [
            self._events_key(meta.stream_id),
            self._meta_key(meta.stream_id),
            self._leases_key,
        ]
        args = [meta.stream_id, int(self.lease * 1000), self._live_ttl_ms, *fields]
        if await self._call(self._restore(keys=keys, args=args)):
            logger.warning("stream %s: redis had lost it; written again", meta.stream_id)

    def _give_up(self, produced: ProducedStream) -> None:
        stream_id = produced.meta.stream_id
        logger.error(
            "stream %s: redis unreachable for too long; %d held event(s) dropped",
            stream_id,
            len(produced.unwritten()),
        )
        self.held.drop(stream_id)
        self._producing.discard(stream_id)

    async def _flush(self, produced: ProducedStream) -> None:
        """Keep writing a stream's held events until Redis takes them, or the bounds pass."""
        while produced.outage_since is not None and not produced.given_up:
            await asyncio.sleep(FLUSH_EVERY)
            await self._write_held(produced)

    async def read(self, stream_id: str, after: int, timeout: float) -> Batch:
        after = max(after, 0)
        key = self._events_key(stream_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        keys = [self._meta_key(stream_id), key]
        while True:
            found = await self._call(self._read(keys=keys, args=[after]))
            if found is None:
                raise StreamNotFound(stream_id)
            end, joined = found
            if joined:
                events = [Event.from_json(raw) for raw in joined.split(b"\n")]
                return Batch(events, bool(end))
            if end:  # also for a reader ahead of a finished stream: nothing will come
                return Batch((), True)
            left = deadline - loop.time()
            if left <= 0:
                return Batch((), False)
            block = min(left, self._block)
            # XREAD BLOCK wakes on the next XADD; then the loop reads the batch and the end flag.
            await self._call(
                self._redis.xread({key: f"{after}-0"}, count=1, block=max(1, int(block * 1000))),
                extra=block,
            )

    async def meta(self, stream_id: str) -> StreamMeta:
        values: list[Any] = await self._call(
            self._redis.hmget(self._meta_key(stream_id), list(_META_FIELDS))
        )
        if values[0] is None:
            raise StreamNotFound(stream_id)
        return StreamMeta(*(bytes(v).decode() for v in values))

    async def close(self) -> None:
        for produced in list(self.held.streams.values()):
            if produced.flusher is not None:
                produced.flusher.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._redis.aclose()

    # -- what several processes need -----------------------------------------------------------

    async def ping(self, timeout: float) -> None:
        """Check that Redis answers within ``timeout`` seconds; raises ``LogUnavailable``."""
        try:
            async with asyncio.timeout(timeout):
                await self._call(self._redis.ping())
        except TimeoutError as exc:
            raise LogUnavailable("redis did not answer a ping in time") from exc

    async def start(self) -> None:
        """Run the heartbeat, the reaper and the cancel listener. Redis down now is not fatal:
        requests get 503 until it answers, and these tasks keep trying."""
        with contextlib.suppress(LogUnavailable):
            await self._call(self._redis.ping())
        self._tasks = [
            asyncio.create_task(self._forever(self.heartbeat_once, self.lease / 3), name="lease"),
            asyncio.create_task(self._forever(self.reap_once, self.lease / 3), name="reaper"),
            asyncio.create_task(self._listen_for_cancels(), name="cancel listener"),
        ]

    async def request_cancel(self, stream_id: str) -> None:
        """Ask whichever process produces the stream to cancel it."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(f"{self.prefix}c:{stream_id}", 1, px=self._retention_ms)
            pipe.publish(self._cancel_channel, stream_id)
            await self._call(pipe.execute())

    async def is_live(self, stream_id: str) -> bool:
        """The stream exists and has no terminal event yet."""
        key = self._meta_key(stream_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.exists(key)
            pipe.hexists(key, "end")
            exists, ended = await self._call(pipe.execute())
        return bool(exists) and not ended

    async def heartbeat_once(self) -> None:
        if not self._producing:
            return
        ids = sorted(self._producing)
        args: list[str | int] = [int(self.lease * 1000), f"{self.prefix}c:", *ids]
        cancelled = await self._call(self._heartbeat(keys=[self._leases_key], args=args))
        for stream_id in cancelled:
            self._cancel_here(stream_id.decode())

    async def reap_once(self) -> list[str]:
        """End the streams whose producer died; returns the ids this call ended.

        Not for a lease after Redis came back: the leases ran out while nobody could renew them,
        and their producers, alive, renew them within a third of a lease."""
        if self._back_at is not None and time.monotonic() - self._back_at < self.lease:
            return []
        before, after = _interrupted_template()
        args: list[str | int] = [self.prefix, self._retention_ms, before, after, 100]
        reaped = [
            r.decode() for r in await self._call(self._reap(keys=[self._leases_key], args=args))
        ]
        for stream_id in reaped:
            logger.warning("stream %s lost its producer; ended as interrupted", stream_id)
            if self.on_interrupted is not None:
                try:
                    meta = await self.meta(stream_id)
                    batch = await self.read(stream_id, 0, timeout=0)
                    await self.on_interrupted(meta, batch.events)
                except Exception:
                    logger.exception("cannot store the interrupted stream %s", stream_id)
        return reaped

    def _cancel_here(self, stream_id: str) -> None:
        if stream_id in self._producing and self.on_cancel is not None:
            self.on_cancel(stream_id)

    async def _forever(self, step: Callable[[], Awaitable[object]], every: float) -> None:
        while True:
            try:
                await step()
            except LogUnavailable:
                pass  # logged once by _call; the next round tries again
            except Exception:
                logger.exception("redis stream log background step failed")
            await asyncio.sleep(every)

    async def _listen_for_cancels(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await self._call(pubsub.subscribe(self._cancel_channel))
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if message is not None and message["type"] == "message":
                        self._cancel_here(message["data"].decode())
            except (LogUnavailable, RedisError, OSError):
                await asyncio.sleep(1.0)  # the heartbeat still delivers cancels meanwhile
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
