"""Bounded in-process memory for the channels, on cachetools.

The channels remember a little per user or per delivery: which updates or messages
they already handled (redeliveries, re-sent widget messages), what a button stands
for, each user's last numbered menu, the Rasa turn answering a WeChat message. All of
it is bounded here, so a flood of users can never grow a process without limit: the
least recently used entries go first, and entries with a lifetime expire with it.

These are per-process. What several replicas must share lives behind
:class:`bot.shared_state.KeyValueState` instead (in memory or in Redis).
"""
from __future__ import annotations

import time
from typing import Hashable, MutableMapping, Optional, TypeVar

from cachetools import LRUCache, TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def bounded_cache(maxsize: int, ttl: Optional[float] = None) -> MutableMapping[K, V]:
    """A dict-like cache of at most ``maxsize`` entries, least recently used dropped first.

    With ``ttl`` (seconds, monotonic clock) an entry also expires that long after it was
    stored. Not thread-safe: use it from one event loop.
    """
    if maxsize < 1:
        raise ValueError("a cache needs room for at least one entry")
    if ttl is None:
        return LRUCache(maxsize=maxsize)
    return TTLCache(maxsize=maxsize, ttl=ttl, timer=time.monotonic)
