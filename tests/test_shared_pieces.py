"""Small shared pieces: the bounded cache, the percentile, background tasks, callback tokens."""
from __future__ import annotations

import asyncio
import logging
import statistics
import time

import numpy as np
import pytest

from bot.cache import bounded_cache
from bot.channels.telegram import CallbackRegistry
from bot.channels.wechat.turns import NumberedMenus
from bot.shared_state import MemoryState
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


@pytest.mark.asyncio
async def test_claims_tell_a_redelivery_from_a_new_message_within_their_bounds() -> None:
    state = MemoryState(capacity=3)
    claims = [await state.claim("delivery", key, ttl_s=60) for key in ("1", "2", "1", "3", "4")]
    assert claims == [True, True, False, True, True]
    assert await state.claim("delivery", "2", ttl_s=60)  # the least recently used was let go (bound 3)
    assert await state.claim("other", "4", ttl_s=60)  # namespaces are separate


@pytest.mark.asyncio
async def test_claims_and_values_expire_with_their_lifetime() -> None:
    now = [1000.0]
    state = MemoryState(clock=lambda: now[0])
    assert await state.claim("delivery", "m1", ttl_s=60)
    await state.put("menu", "alice", "[]", ttl_s=60)
    assert not await state.claim("delivery", "m1", ttl_s=60)
    now[0] += 61
    assert await state.claim("delivery", "m1", ttl_s=0.1)
    assert await state.get("menu", "alice") is None


@pytest.mark.asyncio
async def test_callback_tokens_are_bound_to_their_chat_and_bounded() -> None:
    registry = CallbackRegistry(MemoryState(capacity=2))
    token = await registry.issue(chat_id=42, payload="/find_suppliers")
    assert len(token.encode()) <= 64
    assert await registry.resolve(token, 42) == "/find_suppliers"
    assert await registry.resolve(token, 43) is None  # another chat cannot use it
    assert await registry.resolve("made-up", 42) is None
    await registry.issue(42, "/a")
    await registry.issue(42, "/b")
    assert await registry.resolve(token, 42) is None  # expired: only the 2 newest are kept


@pytest.mark.asyncio
async def test_numbered_menus_are_bounded_per_user() -> None:
    menus = NumberedMenus(MemoryState(capacity=1))
    await menus.remember("alice", [{"title": "政策", "payload": "/ask_policy"}])
    assert await menus.resolve("alice", "1") == "/ask_policy"
    await menus.remember("bob", [{"title": "专家", "payload": "/find_experts"}])
    assert await menus.resolve("alice", "1") == "1"  # alice's menu made room for bob's


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
