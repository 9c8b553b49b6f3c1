"""Following Rasa's event brokers: events published by Rasa's own broker classes (SQL
and RabbitMQ) reach the console's store and live hub, in order, once each."""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Dict, List

import pytest
from rasa.core.brokers.pika import PikaEventBroker
from rasa.core.brokers.sql import SQLEventBroker
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationPaused, SlotSet, UserUttered

from bot.handoff.events import RabbitEventSource, SqlEventSource, follow
from bot.handoff.ingest import Ingestor, LiveHub
from bot.handoff.store import HandoffStore
from tests.services import require_rabbitmq

pytestmark = pytest.mark.asyncio


def conversation_events(sender_id: str) -> List[Dict[str, Any]]:
    """What Rasa publishes for: user asks for a person, bot answers and pauses, user
    writes again, staff replies, and a user message with markup."""
    now = time.time()
    events = [
        UserUttered(
            "我要转人工",
            intent={"name": "request_human", "confidence": 0.97},
            parse_data={"intent": {"name": "request_human", "confidence": 0.97}, "entities": [], "text": "我要转人工"},
            input_channel="socketio",
            timestamp=now,
        ),
        ActionExecuted("action_handoff_request", timestamp=now + 0.01),
        BotUttered("好的，正在为您转接人工服务", timestamp=now + 0.02),
        SlotSet("product_company", "重庆长安汽车", timestamp=now + 0.025),
        ConversationPaused(timestamp=now + 0.03),
        UserUttered(
            "<img src=x onerror=alert(1)>",
            intent={"name": "nlu_fallback", "confidence": 0.4},
            input_channel="socketio",
            timestamp=now + 1,
        ),
        BotUttered("您好，我是工作人员", metadata={"from_staff": True, "staff_name": "alice"}, timestamp=now + 2),
    ]
    published = []
    for event in events:
        data = event.as_dict()
        data["sender_id"] = sender_id
        published.append(data)
    return published


async def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def assert_ingested(store: HandoffStore, sender_id: str) -> None:
    messages = store.transcript(sender_id)
    assert [(m["kind"], m["text"]) for m in messages] == [
        ("user", "我要转人工"),
        ("bot", "好的，正在为您转接人工服务"),
        ("user", "<img src=x onerror=alert(1)>"),
        ("staff", "您好，我是工作人员"),
    ]
    assert messages[0]["intent"] == "request_human" and messages[0]["confidence"] == pytest.approx(0.97)
    assert messages[0]["next_action"] == "action_handoff_request"
    assert messages[3]["author"] == "alice"
    conversation = store.get_conversation(sender_id)
    assert conversation["paused"] and conversation["channel"] == "socketio"
    assert conversation["company"] == "重庆长安汽车"


async def test_sql_broker_events_reach_the_console(tmp_path):
    broker = SQLEventBroker(db=str(tmp_path / "events.db"))
    sender_id = f"web:{uuid.uuid4().hex}"
    store = HandoffStore(f"sqlite:///{tmp_path / 'handoff.db'}")
    hub = LiveHub()
    updates = hub.subscribe()
    source = SqlEventSource(f"sqlite:///{tmp_path / 'events.db'}", store, poll_interval_s=0.05)
    task = asyncio.create_task(follow(source, Ingestor(store, hub)))
    try:
        for event in conversation_events(sender_id):
            broker.publish(event)
        await wait_for(lambda: len(store.transcript(sender_id)) == 4)
        assert_ingested(store, sender_id)
        assert not updates.empty()
        first = updates.get_nowait()
        assert first["type"] == "conversation" and first["conversation"]["sender_id"] == sender_id
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    # A restarted console continues where it stopped: nothing twice, nothing lost.
    broker.publish({**conversation_events(sender_id)[0], "text": "还在吗", "timestamp": time.time() + 5})
    task = asyncio.create_task(follow(SqlEventSource(source.url, store, poll_interval_s=0.05), Ingestor(store, hub)))
    try:
        await wait_for(lambda: len(store.transcript(sender_id)) == 5)
        await asyncio.sleep(0.3)
        assert [m["text"] for m in store.transcript(sender_id)][-1] == "还在吗"
        assert len(store.transcript(sender_id)) == 5
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.dispose()


async def test_sql_source_waits_for_rasa_to_create_the_table(tmp_path):
    store = HandoffStore(f"sqlite:///{tmp_path / 'handoff.db'}")
    source = SqlEventSource(f"sqlite:///{tmp_path / 'events.db'}", store, poll_interval_s=0.05)
    task = asyncio.create_task(follow(source, Ingestor(store, LiveHub())))
    try:
        await asyncio.sleep(0.3)  # no table yet: the source keeps waiting, no crash
        assert not task.done()
        broker = SQLEventBroker(db=str(tmp_path / "events.db"))
        sender_id = "tg:late"
        for event in conversation_events(sender_id):
            broker.publish(event)
        await wait_for(lambda: len(store.transcript(sender_id)) == 4)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.dispose()


@pytest.mark.services
async def test_rabbitmq_broker_events_reach_the_console(tmp_path):
    url = require_rabbitmq()
    queue = f"handoff_test_{uuid.uuid4().hex[:10]}"
    exchange = f"handoff_test_exchange_{uuid.uuid4().hex[:6]}"  # not Rasa's shared default
    broker = PikaEventBroker(url, username="guest", password="guest", queues=[queue], exchange_name=exchange)
    await broker.connect()
    store = HandoffStore(f"sqlite:///{tmp_path / 'handoff.db'}")
    sender_id = f"web:{uuid.uuid4().hex}"
    source = RabbitEventSource(url, queue)
    task = asyncio.create_task(follow(source, Ingestor(store, LiveHub())))
    try:
        for event in conversation_events(sender_id):
            broker.publish(event)
        await wait_for(lambda: len(store.transcript(sender_id)) == 4)
        assert_ingested(store, sender_id)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await broker.close()
        import aio_pika

        connection = await aio_pika.connect_robust(url)
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)
        await connection.close()
        store.dispose()
