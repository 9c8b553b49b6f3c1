"""The tracker store keeps recent conversations in memory without ever serving a stale
one: the database holds exactly what Rasa's own store would hold, a turn costs the same
at turn 100 as at turn 2, and another writer's events, unsaved changes and new sessions
are always read back from the database."""
from __future__ import annotations

import json
import time
from typing import List

import pytest
import sqlalchemy as sa
from rasa.core.brokers.sql import SQLEventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.stores import SQLiteTrackerStore

pytestmark = pytest.mark.asyncio

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet]
slots:
  product_company:
    type: text
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: "你好"}]
"""
)


def turn(number: int, later_s: float = 0.0) -> list:
    now = time.time() + later_s
    return [
        UserUttered(f"第{number}个问题", intent={"name": "greet", "confidence": 0.9}, timestamp=now),
        ActionExecuted("utter_greet", timestamp=now),
        BotUttered(f"第{number}个回答", timestamp=now),
        SlotSet("product_company", f"公司{number}", timestamp=now),
        ActionExecuted("action_listen", timestamp=now),
    ]


async def talk(store: SQLiteTrackerStore, sender_id: str, number: int) -> DialogueStateTracker:
    """One turn the way Rasa's processor does it: retrieve (or create), update, save."""
    tracker = await store.retrieve(sender_id)
    if tracker is None:
        tracker = await store.create_tracker(sender_id)
    for event in turn(number):
        tracker.update(event)
    await store.save(tracker)
    return tracker


@pytest.fixture
def var_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CYBOT_VAR_DIR", str(tmp_path))
    return tmp_path


async def test_a_long_conversation_costs_the_same_per_turn_and_is_stored_exactly(var_dir):
    db = str(var_dir / "tracker.db")
    store = SQLiteTrackerStore(domain=DOMAIN, db=db)
    statements: List[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    per_turn = []
    for number in range(1, 101):
        before = len(statements)
        tracker = await talk(store, "web:long", number)
        per_turn.append(len(statements) - before)
    # From the third turn on, each turn is one indexed lookup and one insert batch,
    # whatever the length of the conversation (Rasa's store re-reads it all).
    assert max(per_turn[2:]) == per_turn[2] and per_turn[99] <= 8
    assert not any("SELECT events.id AS events_id" in s for s in statements[-per_turn[99]:])

    fresh = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    reread = await fresh.retrieve("web:long")
    assert [e.as_dict() for e in reread.events] == [e.as_dict() for e in tracker.events]
    assert reread.get_slot("product_company") == "公司100"
    fresh.engine.dispose()


async def test_another_writer_unsaved_changes_and_new_sessions_are_read_from_the_database(var_dir):
    db = str(var_dir / "tracker.db")
    store = SQLiteTrackerStore(domain=DOMAIN, db=db)
    other_replica = SQLiteTrackerStore(domain=DOMAIN, db=db)
    for number in range(3):
        await talk(store, "web:shared", number)

    # Another Rasa replica answered the next turn: this one must see it.
    await talk(other_replica, "web:shared", 3)
    tracker = await store.retrieve("web:shared")
    assert tracker.get_slot("product_company") == "公司3"

    # A turn that failed half-way (changed, never saved) is not served again.
    tracker.update(UserUttered("没有保存的消息", timestamp=time.time()))
    again = await store.retrieve("web:shared")
    assert "没有保存的消息" not in [getattr(e, "text", None) for e in again.events]

    # A new session: the tracker holds the new session only, as Rasa's own store has it.
    again.update(ActionExecuted("action_session_start", timestamp=time.time() + 1))
    again.update(SessionStarted(timestamp=time.time() + 1))
    again.update(ActionExecuted("action_listen", timestamp=time.time() + 1))
    await store.save(again)
    for event in turn(9, later_s=2):
        again.update(event)
    await store.save(again)
    latest = await store.retrieve("web:shared")
    fresh = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    expected = await fresh.retrieve("web:shared")
    assert [e.as_dict() for e in latest.events] == [e.as_dict() for e in expected.events]
    assert [getattr(e, "text", None) for e in latest.events if isinstance(e, UserUttered)] == ["第9个问题"]
    fresh.engine.dispose()


async def test_the_event_broker_gets_each_new_event_once_in_order(var_dir):
    broker = SQLEventBroker(db=str(var_dir / "broker.db"))
    store = SQLiteTrackerStore(domain=DOMAIN, db=str(var_dir / "tracker.db"), event_broker=broker)
    for number in range(4):
        await talk(store, "web:broker", number)
    with broker.engine.connect() as conn:
        published = [row[0] for row in conn.execute(sa.text("SELECT data FROM events ORDER BY id"))]
    with store.engine.connect() as conn:
        stored = [row[0] for row in conn.execute(sa.text("SELECT data FROM events ORDER BY id"))]
    assert [json.loads(p)["timestamp"] for p in published] == [json.loads(s)["timestamp"] for s in stored]
    assert [json.loads(p)["event"] for p in published] == [json.loads(s)["event"] for s in stored]


async def test_a_turn_saved_twice_stores_each_event_once_even_as_it_starts_the_conversation(var_dir):
    """The Rasa server saves a turn twice: the user's message as soon as it is understood
    (so that staff see it at once), then the reply."""
    db = str(var_dir / "tracker.db")
    store = SQLiteTrackerStore(domain=DOMAIN, db=db)
    for number in (1, 2):
        tracker = await store.retrieve("web:twice")
        if tracker is None:  # what Rasa's processor does for a new conversation
            tracker = await store.create_tracker("web:twice", append_action_listen=False)
            for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
                tracker.update(event)
        message, *reply = turn(number)
        tracker.update(message)
        await store.save(tracker)
        for event in reply:
            tracker.update(event)
        await store.save(tracker)
    fresh = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=db)
    stored = await fresh.retrieve("web:twice")
    assert [e.text for e in stored.events if isinstance(e, UserUttered)] == ["第1个问题", "第2个问题"]
    assert [e.as_dict() for e in stored.events] == [e.as_dict() for e in tracker.events]
    fresh.engine.dispose()
