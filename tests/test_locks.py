"""Rasa's conversation locks in Redis: a short lifetime, and none left over after a crash."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis
from rasa.core.lock_store import RedisLockStore, _get_lock_lifetime

from bot.launcher import Stack, StackConfig
from bot.locks import release_conversation_locks
from bot.settings import Settings


def test_rasa_gets_the_configured_lock_lifetime(tmp_path, monkeypatch):
    environment = Stack(StackConfig(var_dir=tmp_path, env={"LOCK_LIFETIME_SECONDS": "12"})).environment()
    assert environment["TICKET_LOCK_LIFETIME"] == "12"
    monkeypatch.setenv("TICKET_LOCK_LIFETIME", environment["TICKET_LOCK_LIFETIME"])
    assert _get_lock_lifetime() == 12  # what Rasa's lock store reads


def test_locks_left_by_a_crashed_rasa_are_released_at_start(redis_url):
    prefix = f"reliab{uuid.uuid4().hex[:12]}"
    settings = Settings.from_environ({"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379", "REDIS_KEY_PREFIX": prefix})
    crashed = RedisLockStore(host="127.0.0.1", port=6379, db=0, key_prefix=prefix)
    neighbour = f"{prefix}other:lock:web:x"  # another deployment's prefix: not ours to touch
    client = redis.Redis(host="127.0.0.1", port=6379)
    client.set(neighbour, "{}")
    try:
        for conversation in ("telegram:42", "web:abc"):
            crashed.issue_ticket(conversation, lock_lifetime=60)  # held when Rasa was killed

        async def next_turn_waits(store: RedisLockStore) -> float:
            started = time.monotonic()
            async with store.lock("telegram:42", lock_lifetime=60, wait_time_in_seconds=0.2):
                return time.monotonic() - started

        blocked = RedisLockStore(host="127.0.0.1", port=6379, db=0, key_prefix=prefix)
        with pytest.raises(asyncio.TimeoutError):  # the user's next turn would wait a minute
            asyncio.run(asyncio.wait_for(next_turn_waits(blocked), 1.5))

        assert release_conversation_locks(settings) == 2
        restarted = RedisLockStore(host="127.0.0.1", port=6379, db=0, key_prefix=prefix)
        assert restarted.get_lock("telegram:42") is None
        assert asyncio.run(next_turn_waits(restarted)) < 1.0
        assert client.get(neighbour) == b"{}"
    finally:
        client.delete(neighbour, *client.keys(f"{prefix}:*"))
        client.close()
