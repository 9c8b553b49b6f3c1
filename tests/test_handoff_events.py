"""The console feed: what Rasa's tracker store holds reaches the console's store and live
hub, in order, once each; rung by the Rasa server (no polling while idle) or woken by
RabbitMQ, and still complete when no ring comes; an event that cannot be stored is set
aside and the feed goes on."""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Dict, List

import pytest
import sqlalchemy as sa
from rasa.core.brokers.pika import PikaEventBroker
from rasa.core.brokers.sql import SQLEventBroker
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationPaused, Event, SlotSet, UserUttered
from rasa.shared.core.slots import TextSlot
from rasa.shared.core.trackers import DialogueStateTracker

from bot.handoff.doorbell import SOCKET_NAME
from bot.handoff.events import DoorbellWakeup, RabbitWakeup, TrackerEventFeed, follow
from bot.handoff.ingest import FOLLOWED_SLOTS, Ingestor, LiveHub
from bot.handoff.store import HandoffStore
from bot.stores import SQLiteTrackerStore
from tests.services import require_rabbitmq

pytestmark = pytest.mark.asyncio


def conversation(now: float) -> List[Event]:
    """User asks for a person, bot answers and pauses, user writes again, staff replies,
    and a user message with markup."""
    return [
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


def conversation_events(sender_id: str) -> List[Dict[str, Any]]:
    """The conversation as Rasa's event broker publishes it."""
    published = []
    for event in conversation(time.time()):
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



async def save_turns(tracker_store: SQLiteTrackerStore, sender_id: str, events: List[Event]) -> None:
    """Rasa's way: the tracker grows and the store saves it after each turn."""
    tracker = await tracker_store.retrieve(sender_id) or DialogueStateTracker(
        sender_id, [TextSlot("product_company", mappings=[])]
    )
    for event in events:
        tracker.update(event)
        await tracker_store.save(tracker)


@pytest.fixture
def var_dir(tmp_path, monkeypatch):
    """The var dir of this test: the tracker store rings the doorbell there."""
    monkeypatch.setenv("CYBOT_VAR_DIR", str(tmp_path))
    return tmp_path


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_rasa_rings_and_the_console_gets_each_turn_at_once_without_polling(var_dir):
    tracker_store = SQLiteTrackerStore(db=str(var_dir / "tracker.db"))
    url = f"sqlite:///{var_dir / 'tracker.db'}"
    store = HandoffStore(f"sqlite:///{var_dir / 'handoff.db'}")
    hub = LiveHub()
    updates = hub.subscribe()
    # It would look on its own only every 60 s: anything sooner is the doorbell.
    feed = TrackerEventFeed(url, store, DoorbellWakeup(var_dir / SOCKET_NAME), check_s=60)
    statements: List[str] = []
    sa.event.listen(feed._engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    task = asyncio.create_task(follow(feed, Ingestor(store, hub)))
    sender_id = f"web:{uuid.uuid4().hex}"
    try:
        await wait_for(lambda: feed.state.running)
        await asyncio.sleep(0.2)
        before_idle = len(statements)
        await asyncio.sleep(1.5)
        assert len(statements) == before_idle, "the feed queried the database while nothing happened"

        started = time.monotonic()
        await save_turns(tracker_store, sender_id, conversation(time.time())[:1])
        await wait_for(lambda: len(store.transcript(sender_id)) == 1, timeout=5)
        assert time.monotonic() - started < 5
        await save_turns(tracker_store, sender_id, conversation(time.time())[1:])
        await wait_for(lambda: len(store.transcript(sender_id)) == 4, timeout=5)
        assert_ingested(store, sender_id)
        first = updates.get_nowait()
        assert first["type"] == "conversation" and first["conversation"]["sender_id"] == sender_id
        assert first["new_message"] is True
    finally:
        await stop(task)
        feed.dispose()

    # A restarted console continues where it stopped: nothing twice, nothing lost, and
    # what Rasa stored while the console was down arrives without any ring.
    await save_turns(tracker_store, sender_id, [UserUttered("还在吗", timestamp=time.time() + 5)])
    feed = TrackerEventFeed(url, store, check_s=0.05)
    task = asyncio.create_task(follow(feed, Ingestor(store, hub)))
    try:
        await wait_for(lambda: len(store.transcript(sender_id)) == 5)
        await asyncio.sleep(0.3)
        assert [m["text"] for m in store.transcript(sender_id)][-1] == "还在吗"
        assert len(store.transcript(sender_id)) == 5
    finally:
        await stop(task)
        feed.dispose()
        store.dispose()


async def test_turns_that_end_while_the_feed_gathers_are_stored_in_one_batch(var_dir):
    tracker_store = SQLiteTrackerStore(db=str(var_dir / "tracker.db"))
    store = HandoffStore(f"sqlite:///{var_dir / 'handoff.db'}")
    feed = TrackerEventFeed(
        f"sqlite:///{var_dir / 'tracker.db'}", store, DoorbellWakeup(var_dir / SOCKET_NAME), check_s=60, gather_s=1.0
    )
    task = asyncio.create_task(follow(feed, Ingestor(store, LiveHub())))
    senders = [f"web:gathered-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    try:
        await wait_for(lambda: feed.state.running)
        for sender_id in senders:  # each turn rings; the feed wakes between them
            await save_turns(tracker_store, sender_id, conversation(time.time()))
            await asyncio.sleep(0.1)
        await wait_for(lambda: all(len(store.transcript(s)) == 4 for s in senders), timeout=10)
        assert feed.state.batches == 1
    finally:
        await stop(task)
        feed.dispose()
        store.dispose()


async def test_a_batch_of_many_conversations_is_announced_once_per_conversation(var_dir):
    tracker_store = SQLiteTrackerStore(db=str(var_dir / "tracker.db"))
    senders = [f"web:batch-{i}" for i in range(30)]
    for sender_id in senders:  # stored while the console was not running
        await save_turns(tracker_store, sender_id, conversation(time.time()))
    store = HandoffStore(f"sqlite:///{var_dir / 'handoff.db'}")
    hub = LiveHub(queue_size=10_000)
    updates = hub.subscribe()
    feed = TrackerEventFeed(f"sqlite:///{var_dir / 'tracker.db'}", store, check_s=0.05)
    task = asyncio.create_task(follow(feed, Ingestor(store, hub)))
    try:
        await wait_for(lambda: updates.qsize() >= len(senders))
        await asyncio.sleep(0.2)
        assert all(len(store.transcript(s)) == 4 for s in senders)
        announced = []
        while not updates.empty():
            announced.append(updates.get_nowait()["conversation"]["sender_id"])
        assert sorted(announced) == sorted(senders)  # 30 conversations, 210 events, 30 updates
        assert feed.state.batches == 1
    finally:
        await stop(task)
        feed.dispose()
        store.dispose()


async def test_an_event_that_cannot_be_stored_is_set_aside_and_later_conversations_still_arrive(var_dir):
    tracker_store = SQLiteTrackerStore(db=str(var_dir / "tracker.db"))
    store = HandoffStore(f"sqlite:///{var_dir / 'handoff.db'}")
    hub = LiveHub()
    updates = hub.subscribe()
    ingestor = Ingestor(store, hub)
    feed = TrackerEventFeed(f"sqlite:///{var_dir / 'tracker.db'}", store, check_s=0.05)
    # A lone surrogate: valid JSON, and no database driver can encode it.
    await save_turns(tracker_store, "rest:poison", [UserUttered("你\ud800", timestamp=time.time())])
    await save_turns(tracker_store, "web:after", conversation(time.time()))
    task = asyncio.create_task(follow(feed, ingestor))
    try:
        await wait_for(lambda: len(store.transcript("web:after")) == 4 and feed.state.events >= 8)
        assert_ingested(store, "web:after")
        assert ingestor.set_aside_count == 1 and feed.state.errors == 0
        kept = ingestor.set_aside_events()
        assert len(kept) == 1 and kept[0]["sender_id"] == "rest:poison"
        assert "\\ud800" in kept[0]["event"] and "UnicodeEncodeError" in kept[0]["error"]
        alerts = []
        while not updates.empty():
            update = updates.get_nowait()
            if update["type"] == "feed_alert":
                alerts.append(update)
        assert alerts and alerts[0]["sender_id"] == "rest:poison" and alerts[0]["set_aside"] == 1
    finally:
        await stop(task)
        feed.dispose()
        store.dispose()

    # Restarting the console does not bring the poison back, nor lose the rest.
    store = HandoffStore(f"sqlite:///{var_dir / 'handoff.db'}")
    ingestor = Ingestor(store, LiveHub())
    feed = TrackerEventFeed(f"sqlite:///{var_dir / 'tracker.db'}", store, check_s=0.05)
    await save_turns(tracker_store, "web:later", [UserUttered("还有问题", timestamp=time.time())])
    task = asyncio.create_task(follow(feed, ingestor))
    try:
        await wait_for(lambda: len(store.transcript("web:later")) == 1)
        assert ingestor.set_aside_count == 0 and len(ingestor.set_aside_events()) == 1
    finally:
        await stop(task)
        feed.dispose()
        store.dispose()


async def test_slots_the_console_does_not_show_are_passed_over_and_its_own_still_arrive(var_dir):
    tracker_store = SQLiteTrackerStore(db=str(var_dir / "tracker.db"))
    store = HandoffStore(f"sqlite:///{var_dir / 'handoff.db'}")
    # As the gateway runs it: only the slots the console uses are read.
    feed = TrackerEventFeed(f"sqlite:///{var_dir / 'tracker.db'}", store, check_s=0.05,
                            followed_slots=FOLLOWED_SLOTS)
    now = time.time()
    search = SlotSet("supplier_query", {"products": ["铝合金轮毂"], "region": "重庆"}, timestamp=now)
    # Mentions a followed slot's name in its value: read, then ignored by its name.
    note = SlotSet("last_note", "product_company", timestamp=now + 0.05)
    await save_turns(tracker_store, "web:slots", [search, note, *conversation(now + 0.1)])
    task = asyncio.create_task(follow(feed, Ingestor(store, LiveHub())))
    try:
        await wait_for(lambda: len(store.transcript("web:slots")) == 4)
        assert_ingested(store, "web:slots")  # with the company, a followed slot
        with sa.create_engine(f"sqlite:///{var_dir / 'tracker.db'}").connect() as conn:
            last_id = conn.execute(sa.text("select max(id) from events")).scalar()
        await wait_for(lambda: feed.state.position == last_id)  # past every row
        # Taken in (/healthz/feed): the conversation's 7 events and the note, not the search.
        assert feed.state.events == 8
    finally:
        await stop(task)
        feed.dispose()
        store.dispose()


async def test_a_sql_event_brokers_table_can_be_followed_too(tmp_path):
    broker = SQLEventBroker(db=str(tmp_path / "events.db"))
    sender_id = f"web:{uuid.uuid4().hex}"
    store = HandoffStore(f"sqlite:///{tmp_path / 'handoff.db'}")
    feed = TrackerEventFeed(f"sqlite:///{tmp_path / 'events.db'}", store, check_s=0.05)
    task = asyncio.create_task(follow(feed, Ingestor(store, LiveHub())))
    try:
        for event in conversation_events(sender_id):
            broker.publish(event)
        await wait_for(lambda: len(store.transcript(sender_id)) == 4)
        assert_ingested(store, sender_id)
    finally:
        await stop(task)
        feed.dispose()
        store.dispose()


async def test_the_feed_waits_for_rasa_to_create_the_table(var_dir):
    store = HandoffStore(f"sqlite:///{var_dir / 'handoff.db'}")
    feed = TrackerEventFeed(f"sqlite:///{var_dir / 'tracker.db'}", store, check_s=0.05)
    task = asyncio.create_task(follow(feed, Ingestor(store, LiveHub())))
    try:
        await asyncio.sleep(0.3)  # no table yet: the feed keeps waiting, no crash
        assert not task.done() and feed.state.errors == 0
        tracker_store = SQLiteTrackerStore(db=str(var_dir / "tracker.db"))
        await save_turns(tracker_store, "tg:late", conversation(time.time()))
        await wait_for(lambda: len(store.transcript("tg:late")) == 4)
    finally:
        await stop(task)
        feed.dispose()
        store.dispose()


@pytest.mark.services
async def test_rabbitmq_wakes_the_feed_and_an_unreachable_rabbitmq_loses_nothing(var_dir):
    url = require_rabbitmq()
    queue = f"handoff_test_{uuid.uuid4().hex[:10]}"
    exchange = f"handoff_test_exchange_{uuid.uuid4().hex[:6]}"  # not Rasa's shared default
    broker = PikaEventBroker(url, username="guest", password="guest", queues=[queue], exchange_name=exchange)
    await broker.connect()
    tracker_store = SQLiteTrackerStore(db=str(var_dir / "tracker.db"), event_broker=broker)
    tracker_store.doorbell = var_dir / "nobody-listens.sock"  # only RabbitMQ may wake the feed
    store = HandoffStore(f"sqlite:///{var_dir / 'handoff.db'}")
    feed = TrackerEventFeed(f"sqlite:///{var_dir / 'tracker.db'}", store, RabbitWakeup(url, queue), check_s=60)
    task = asyncio.create_task(follow(feed, Ingestor(store, LiveHub())))
    sender_id = f"web:{uuid.uuid4().hex}"
    try:
        await asyncio.sleep(1.0)  # the consumer is connected
        await save_turns(tracker_store, sender_id, conversation(time.time()))
        await wait_for(lambda: len(store.transcript(sender_id)) == 4, timeout=10)
        assert_ingested(store, sender_id)
    finally:
        await stop(task)
        feed.dispose()
        channel = await broker._connection.channel()
        await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)
        await broker.close()

    # RabbitMQ unreachable: the console still gets everything the tracker store has.
    unreachable = "amqp://guest:guest@127.0.0.1:9/%2F"
    feed = TrackerEventFeed(f"sqlite:///{var_dir / 'tracker.db'}", store, RabbitWakeup(unreachable, queue), check_s=0.3)
    task = asyncio.create_task(follow(feed, Ingestor(store, LiveHub())))
    try:
        await save_turns(tracker_store, sender_id, [UserUttered("还在吗", timestamp=time.time() + 5)])
        await wait_for(lambda: len(store.transcript(sender_id)) == 5, timeout=10)
    finally:
        await stop(task)
        feed.dispose()
        store.dispose()
