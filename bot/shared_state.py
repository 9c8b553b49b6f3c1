"""Small state the channels keep between requests, in this process or shared in Redis.

What a channel remembers between two requests (which deliveries it already handled,
what a Telegram button stands for, each WeChat user's last numbered menu) must be seen
by every replica once several serve one bot: a WeChat retry or a button press may land
on another process than the message before it. :class:`KeyValueState` is the one
interface for that; :func:`channel_state` picks the implementation from the settings:

- embedded profile: :class:`MemoryState`, bounded (least recently used entries go
  first, entries expire with their lifetime);
- production profile: :class:`RedisState`, on the profile's Redis, every key under
  ``REDIS_KEY_PREFIX`` so several deployments (or test runs) can share one server.

Values are strings (callers store JSON); every key lives in a namespace with a
lifetime, so nothing grows without limit. A namespace can also be used as a table
(:meth:`KeyValueState.put_entry`, :meth:`~KeyValueState.entries`), for the few things
a replica must be able to list (WeChat turns still being answered); the table lives as
long as its latest write, and its entries are removed by their owners.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import Dict, Optional, Protocol, Tuple

from cachetools import LRUCache

from bot.settings import Settings

logger = logging.getLogger(__name__)

#: Entries a namespace keeps in memory at most (least recently used dropped first).
MEMORY_CAPACITY = 100_000


class KeyValueState(Protocol):
    """Namespaced keys with string values and a lifetime (seconds)."""
    async def claim(self, namespace: str, key: str, ttl_s: float) -> bool:
        """Record ``key``; True for the first claim within ``ttl_s``, else False (atomic)."""

    async def put(self, namespace: str, key: str, value: str, ttl_s: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds."""

    async def get(self, namespace: str, key: str) -> Optional[str]:
        """The value stored under ``key``, or None (never stored, expired or dropped)."""

    async def delete(self, namespace: str, key: str) -> None:
        """Forget ``key``."""

    async def put_entry(
        self, namespace: str, field: str, value: str, ttl_s: float, only_if_absent: bool = False
    ) -> bool:
        """Store ``value`` under ``field`` of the table ``namespace``, which then lives
        ``ttl_s`` seconds; with ``only_if_absent`` keep an existing value. True when stored."""

    async def entries(self, namespace: str) -> Dict[str, str]:
        """Every field of the table ``namespace`` and its value."""

    async def delete_entry(self, namespace: str, field: str) -> None:
        """Remove ``field`` from the table ``namespace``."""


class MemoryState:
    """:class:`KeyValueState` in this process (one event loop), bounded per namespace."""
    def __init__(self, capacity: int = MEMORY_CAPACITY, clock=time.monotonic) -> None:
        self._capacity = capacity
        self._clock = clock
        self._namespaces: Dict[str, LRUCache] = {}

    def _entries(self, namespace: str) -> LRUCache:
        entries = self._namespaces.get(namespace)
        if entries is None:
            entries = self._namespaces[namespace] = LRUCache(maxsize=self._capacity)
        return entries

    def _live(self, namespace: str, key: str) -> Optional[Tuple[float, str]]:
        entries = self._entries(namespace)
        entry = entries.get(key)
        if entry is not None and entry[0] <= self._clock():
            del entries[key]
            return None
        return entry

    async def claim(self, namespace: str, key: str, ttl_s: float) -> bool:
        if self._live(namespace, key) is not None:
            return False
        self._entries(namespace)[key] = (self._clock() + ttl_s, "1")
        return True

    async def put(self, namespace: str, key: str, value: str, ttl_s: float) -> None:
        self._entries(namespace)[key] = (self._clock() + ttl_s, value)

    async def get(self, namespace: str, key: str) -> Optional[str]:
        entry = self._live(namespace, key)
        return None if entry is None else entry[1]

    async def delete(self, namespace: str, key: str) -> None:
        self._entries(namespace).pop(key, None)

    def _table(self, namespace: str) -> Dict[str, str]:
        entry = self._live("table", namespace)
        return {} if entry is None else json.loads(entry[1])

    async def put_entry(
        self, namespace: str, field: str, value: str, ttl_s: float, only_if_absent: bool = False
    ) -> bool:
        table = self._table(namespace)
        stored = not (only_if_absent and field in table)
        if stored:
            table[field] = value
        self._entries("table")[namespace] = (self._clock() + ttl_s, json.dumps(table))
        return stored

    async def entries(self, namespace: str) -> Dict[str, str]:
        return self._table(namespace)

    async def delete_entry(self, namespace: str, field: str) -> None:
        entry = self._live("table", namespace)
        if entry is not None:
            table = json.loads(entry[1])
            table.pop(field, None)
            self._entries("table")[namespace] = (entry[0], json.dumps(table))


class RedisState:
    """:class:`KeyValueState` in Redis, shared by every replica (``SET NX PX`` claims)."""
    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self.url = url
        self.prefix = prefix

    def heartbeat(self, namespace: str, key: str) -> "Heartbeat":
        """A :class:`Heartbeat` under ``key`` (not started)."""
        return Heartbeat(self.url, self._key(namespace, key))

    def _key(self, namespace: str, key: str) -> str:
        return f"{self.prefix}:{namespace}:{key}"

    async def claim(self, namespace: str, key: str, ttl_s: float) -> bool:
        return bool(await self._redis.set(self._key(namespace, key), "1", nx=True, px=_ms(ttl_s)))

    async def put(self, namespace: str, key: str, value: str, ttl_s: float) -> None:
        await self._redis.set(self._key(namespace, key), value, px=_ms(ttl_s))

    async def get(self, namespace: str, key: str) -> Optional[str]:
        return await self._redis.get(self._key(namespace, key))

    async def delete(self, namespace: str, key: str) -> None:
        await self._redis.delete(self._key(namespace, key))

    def _table_key(self, namespace: str) -> str:
        return f"{self.prefix}:{namespace}"

    async def put_entry(
        self, namespace: str, field: str, value: str, ttl_s: float, only_if_absent: bool = False
    ) -> bool:
        key = self._table_key(namespace)
        async with self._redis.pipeline(transaction=True) as pipe:
            (pipe.hsetnx if only_if_absent else pipe.hset)(key, field, value)
            pipe.pexpire(key, _ms(ttl_s))
            stored, _ = await pipe.execute()
        return bool(stored) or not only_if_absent

    async def entries(self, namespace: str) -> Dict[str, str]:
        return await self._redis.hgetall(self._table_key(namespace))

    async def delete_entry(self, namespace: str, field: str) -> None:
        await self._redis.hdel(self._table_key(namespace), field)

    async def close(self) -> None:
        await self._redis.aclose() if hasattr(self._redis, "aclose") else await self._redis.close()


#: A claim's lifetime while its holder works on it; renewed every third of it. When the
#: holder dies (a replica killed mid-turn) the claim lapses this soon, and the next
#: delivery of the same message is handled by whoever gets it then.
LEASE_S = 6.0
#: Value of a claim whose message was handled to the end.
DONE = "done"


class Lease:
    """A claim held while a message is handled: renewed in the background, then kept
    as :data:`DONE` for the message's dedupe lifetime (:meth:`release`).

    The renewer stops on a flag, not on cancellation alone: a cancellation that lands
    while a Redis call is finishing can be swallowed by the client (asyncio's
    ``wait_for`` on Python 3.10), and a renewer that never stops would keep
    :meth:`release`, and with it the end of the user's turn, waiting for ever."""

    def __init__(self, state: KeyValueState, namespace: str, key: str) -> None:
        self.state, self.namespace, self.key = state, namespace, key
        self._renewer: Optional["asyncio.Task[None]"] = None
        self._released = asyncio.Event()

    @classmethod
    async def acquire(cls, state: KeyValueState, namespace: str, key: str) -> Optional["Lease"]:
        """The lease of ``key``, or None when someone holds or finished it."""
        if not await state.claim(namespace, key, LEASE_S):
            return None
        lease = cls(state, namespace, key)
        lease._renewer = asyncio.create_task(lease._renew())
        return lease

    async def _renew(self) -> None:
        while not self._released.is_set():
            try:
                await asyncio.wait_for(self._released.wait(), LEASE_S / 3)
                return
            except asyncio.TimeoutError:
                pass
            if self._released.is_set():
                return
            try:
                await self.state.put(self.namespace, self.key, "working", LEASE_S)
            except Exception:  # Redis away for a moment: the next renewal tries again
                logger.warning("could not renew the claim on %s:%s", self.namespace, self.key, exc_info=True)

    async def release(self, keep_s: float) -> None:
        """The message was handled: remember that for ``keep_s`` seconds."""
        self._released.set()
        if self._renewer is not None:
            # A renewal in flight ends first, so that DONE is the last word; one stuck
            # in a dead connection is given up on.
            done, _ = await asyncio.wait({self._renewer}, timeout=LEASE_S)
            if not done:
                self._renewer.cancel()
        await self.state.put(self.namespace, self.key, DONE, keep_s)

    async def abandon(self) -> None:
        """Give the claim up unfinished (shutdown mid-turn): the next taker may start at once."""
        self._released.set()
        if self._renewer is not None:
            self._renewer.cancel()
        await self.state.delete(self.namespace, self.key)


async def is_done(state: KeyValueState, namespace: str, key: str) -> bool:
    """Whether the message under ``key`` was handled to the end (not merely claimed)."""
    return await state.get(namespace, key) == DONE


#: How long a process counts as alive after its last heartbeat (seconds).
HEARTBEAT_S = 10.0


class Heartbeat:
    """A process's sign of life in Redis, renewed every :data:`HEARTBEAT_S` / 5 from a
    thread of its own: unlike a lease renewed on the event loop, it does not lapse while
    the loop is busy for seconds (a Rasa server under load), only when the process dies."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key
        self._stopped = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Start beating (again calling it does nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._beat, name=f"heartbeat {self.key}", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=HEARTBEAT_S / 5)
        try:
            while not self._stopped.is_set():
                try:
                    client.set(self.key, "alive", px=_ms(HEARTBEAT_S))
                except redis.RedisError:  # Redis away for a moment: the next beat tries again
                    logger.warning("could not renew the heartbeat %s", self.key, exc_info=True)
                self._stopped.wait(HEARTBEAT_S / 5)
            client.delete(self.key)
        except redis.RedisError:
            pass  # the key lapses on its own
        finally:
            client.close()

    def stop(self) -> None:
        """Stop beating and say so (the key is removed by the thread)."""
        self._stopped.set()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def channel_state(settings: Settings) -> KeyValueState:
    """The state store for ``settings``: Redis on the production profile, else memory."""
    if settings.shares_state:
        return RedisState(settings.redis_url, settings.redis_key_prefix)
    return MemoryState()
