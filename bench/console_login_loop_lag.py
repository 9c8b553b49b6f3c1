"""How long logins stall the gateway's event loop: password checks on the loop (the
old way, the baseline) against password checks in worker threads (the console now).

While ``--logins`` password checks run, a ticker on the loop asks to wake every 5 ms;
the lag is how late it woke. Prints the median and maximum lag of each way, and the
ratio of the maxima (same run, same machine load).

    .venv/bin/python -m bench.console_login_loop_lag [--logins 8]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable, List

from bot.handoff.store import HandoffStore

TICK_S = 0.005


async def lag_during(work: Callable[[], Awaitable[None]]) -> List[float]:
    """Wake-up delays (ms) of a 5 ms ticker while ``work`` runs."""
    lags: List[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(TICK_S)
            lags.append((time.perf_counter() - start - TICK_S) * 1000)

    task = asyncio.create_task(ticker())
    await work()
    done.set()
    await task
    return lags


async def main(logins: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = HandoffStore(f"sqlite:///{Path(folder) / 'handoff.db'}")
        store.add_staff("bench", "a long enough password", "agent")

        async def on_loop() -> None:
            for _ in range(logins):
                store.check_login("bench", "a long enough password", "127.0.0.1")
                await asyncio.sleep(0)

        async def in_threads() -> None:
            await asyncio.gather(
                *(asyncio.to_thread(store.check_login, "bench", "a long enough password", "127.0.0.1")
                  for _ in range(logins))
            )

        results = {}
        for name, work in (("on the loop (before)", on_loop), ("in threads (now)", in_threads)):
            lags = await lag_during(work)
            results[name] = lags
            print(f"{name:22s} median lag {statistics.median(lags):7.1f} ms   max lag {max(lags):7.1f} ms")
        before, now = (max(v) for v in results.values())
        print(f"max lag ratio before/now: {before / now:.1f}x")
        store.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=8)
    asyncio.run(main(parser.parse_args().logins))
