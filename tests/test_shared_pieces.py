"""Small shared pieces: the bounded cache, the percentile, background tasks, callback tokens."""
from __future__ import annotations

import asyncio
import logging
import statistics
import time

import numpy as np
import pytest

from bot.cache import SeenKeys, bounded_cache
from bot.channels.telegram import CallbackRegistry
from bot.channels.wechat.turns import NumberedMenus
from bot.stats import percentile
from bot.tasks import BackgroundTasks


def test_a_bounded_cache_drops_the_least_recently_used_entry() -> None:
    cache = bounded_cache(2)
    cache["a"], cache["b"] = 1, 2
    assert cache["a"] == 1  # "a" is now the most recently used
    cache["c"] = 3
    assert set(cache) == {"a", "c"}


def test_a_cache_with_a_lifetime_forgets_old_entries() -> None:
    cache = bounded_cache(10, ttl=0.2)
    cache["turn"] = "answer"
    assert cache.get("turn") == "answer"
    time.sleep(0.3)
    assert cache.get("turn") is None


def test_seen_keys_tell_a_redelivery_from_a_new_message_within_their_bound() -> None:
    seen = SeenKeys(maxsize=3)
    assert [seen.first_sighting(key) for key in (1, 2, 1, 3, 4)] == [True, True, False, True, True]
    assert 4 in seen and 1 not in seen  # the oldest was let go to stay within 3


def test_callback_tokens_are_bound_to_their_chat_and_bounded() -> None:
    registry = CallbackRegistry(capacity=2)
    token = registry.issue(chat_id=42, payload="/find_suppliers")
    assert len(token.encode()) <= 64
    assert registry.resolve(token, 42) == "/find_suppliers"
    assert registry.resolve(token, 43) is None  # another chat cannot use it
    assert registry.resolve("made-up", 42) is None
    registry.issue(42, "/a")
    registry.issue(42, "/b")
    assert registry.resolve(token, 42) is None  # expired: only the 2 newest are kept


def test_numbered_menus_are_bounded_per_user() -> None:
    menus = NumberedMenus(capacity=1)
    menus.remember("alice", [{"title": "政策", "payload": "/ask_policy"}])
    assert menus.resolve("alice", "1") == "/ask_policy"
    menus.remember("bob", [{"title": "专家", "payload": "/find_experts"}])
    assert menus.resolve("alice", "1") == "1"  # alice's menu made room for bob's


@pytest.mark.parametrize("pct", [5, 50, 90, 95, 99])
def test_percentile_interpolates_like_numpy(pct: int) -> None:
    values = [float(v) for v in np.random.default_rng(pct).exponential(30, 501)]
    assert percentile(values, pct) == pytest.approx(float(np.percentile(values, pct)))
    assert percentile(values, 50) == pytest.approx(statistics.median(values))


def test_percentile_of_one_value_and_bad_input() -> None:
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0, 2.0], 100)


def test_background_tasks_log_failures_and_are_cancelled_at_close(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        tasks = BackgroundTasks("test channel")

        async def fail() -> None:
            raise RuntimeError("WeChat API down")

        async def hang() -> None:
            await asyncio.sleep(60)

        tasks.spawn(fail(), "notice")
        hanging = tasks.spawn(hang(), "slow push")
        await asyncio.sleep(0.05)
        assert tasks.running == 1  # the failed one was let go, the hanging one is held
        await tasks.close(grace_seconds=0.1)
        assert hanging.cancelled() and tasks.running == 0

    with caplog.at_level(logging.ERROR, logger="bot.tasks"):
        asyncio.run(scenario())
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "test channel: notice" in failure.getMessage()
    assert "WeChat API down" in str(failure.exc_info[1])
