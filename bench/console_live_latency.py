"""How long a user message takes to reach the staff console's live stream.

For each event broker the console can follow (Rasa's SQL broker on SQLite, and
RabbitMQ when reachable), Rasa's own broker class publishes user messages one at a
time; we time publish → stored in the handoff store → update on the live hub (what
the browser's event stream forwards). Prints medians and p95 in milliseconds.

    .venv/bin/python -m bench.console_live_latency [--messages 200]
"""
from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, List

from rasa.core.brokers.pika import PikaEventBroker
from rasa.core.brokers.sql import SQLEventBroker
from rasa.shared.core.events import UserUttered

from bot.handoff.events import EventSource, RabbitEventSource, SqlEventSource, follow
from bot.handoff.ingest import Ingestor, LiveHub
from bot.handoff.store import HandoffStore
from bot.stats import percentile

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def user_event(sender_id: str, index: int) -> dict:
    event = UserUttered(
        f"第{index}个问题：研发补贴怎么申请",
        intent={"name": "ask_policy", "confidence": 0.9},
        input_channel="socketio",
        timestamp=time.time(),
    ).as_dict()
    event["sender_id"] = sender_id
    return event


async def measure(publish: Callable[[dict], None], source: EventSource, store: HandoffStore, count: int) -> List[float]:
    hub = LiveHub()
    updates = hub.subscribe()
    follower = asyncio.create_task(follow(source, Ingestor(store, hub)))
    sender_id = f"bench:{uuid.uuid4().hex}"
    latencies = []
    try:
        for index in range(count):
            started = time.perf_counter()
            publish(user_event(sender_id, index))
            while True:
                update = await asyncio.wait_for(updates.get(), timeout=30)
                if update.get("new_message") and update["conversation"]["sender_id"] == sender_id:
                    break
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
    return latencies


def report(name: str, latencies: List[float]) -> str:
    return (f"{name:<28} n={len(latencies):<4} median {statistics.median(latencies):7.1f} ms   "
            f"p95 {percentile(latencies, 95):7.1f} ms")


def rabbitmq_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            return True
    except OSError:
        return False


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        store = HandoffStore(f"sqlite:///{folder / 'handoff.db'}")
        broker = SQLEventBroker(db=str(folder / "events.db"))
        source = SqlEventSource(f"sqlite:///{folder / 'events.db'}", store)
        print(report("SQL broker (SQLite, 0.1 s poll)", await measure(broker.publish, source, store, count)))
        if rabbitmq_reachable():
            queue = f"bench_console_{uuid.uuid4().hex[:8]}"
            exchange = f"bench_exchange_{uuid.uuid4().hex[:8]}"
            pika = PikaEventBroker(
                RABBITMQ_URL, username="guest", password="guest", queues=[queue], exchange_name=exchange
            )
            await pika.connect()
            try:
                latencies = await measure(pika.publish, RabbitEventSource(RABBITMQ_URL, queue), store, count)
                print(report("RabbitMQ (pika broker)", latencies))
            finally:
                channel = await pika._connection.channel()
                await channel.queue_delete(queue)
                await channel.exchange_delete(exchange)
                await pika.close()
        else:
            print("RabbitMQ not reachable on 127.0.0.1:5672: skipped")
        store.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    asyncio.run(main(parser.parse_args().messages))
