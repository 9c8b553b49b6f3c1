"""Rasa's conversation locks in Redis (the production profile's lock store).

Rasa's ``RedisLockStore`` keeps one key per conversation, ``<prefix>:lock:<sender id>``,
holding tickets that expire after ``TICKET_LOCK_LIFETIME`` seconds (the launcher sets it
from ``LOCK_LIFETIME_SECONDS``). A Rasa process that is killed mid-turn leaves its
tickets behind and that user's next message waits until they expire. The launcher
calls :func:`release_conversation_locks` before it starts (or restarts) Rasa: no turn
is running then, so every lock left under the prefix is stale.

With several Rasa replicas sharing one Redis, give each its own ``REDIS_KEY_PREFIX``
only if they serve separate conversations; replicas of one deployment share the prefix
and a restart of one releases the others' locks, which the short lifetime bounds anyway.
"""
from __future__ import annotations

import redis

from bot.settings import Settings

#: Rasa's own infix between the configured prefix and the conversation id.
RASA_LOCK_INFIX = "lock:"


def lock_key_pattern(key_prefix: str) -> str:
    """The Redis key pattern of every conversation lock under ``key_prefix``."""
    return f"{key_prefix}:{RASA_LOCK_INFIX}*"


def release_conversation_locks(settings: Settings) -> int:
    """Delete every conversation lock under the configured prefix; return how many."""
    client = redis.Redis(
        host=settings.redis_host, port=settings.redis_port, db=settings.redis_db, socket_timeout=10
    )
    try:
        released = 0
        batch = []
        for key in client.scan_iter(match=lock_key_pattern(settings.redis_key_prefix), count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                released += client.delete(*batch)
                batch = []
        if batch:
            released += client.delete(*batch)
        return released
    finally:
        client.close()
