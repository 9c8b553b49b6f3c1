"""The handoff actions: queue place, office hours, pausing, and handoff on failure."""
from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

import bot.handoff.store
from actions.handoff import ActionHandoffRequest, handoff_on_failure, start_handoff
from bot.handoff.store import HandoffStore
from tests.support.responses import rendered_text

ROUND_THE_CLOCK = "mon-sun 00:00-24:00"


@pytest.fixture
def handoff_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    monkeypatch.setenv("HANDOFF_DATABASE_URL", url)
    monkeypatch.setenv("HANDOFF_OFFICE_HOURS", ROUND_THE_CLOCK)
    store = HandoffStore(url)
    yield store
    store.dispose()


def tracker(sender_id: str, channel: str = "socketio") -> Tracker:
    latest = {"text": "转人工", "intent": {"name": "request_human", "confidence": 0.98}}
    return Tracker(
        sender_id,
        slots={"company_name": "川渝精工"},
        latest_message=latest,
        events=[{"event": "user", "text": "转人工", "input_channel": channel, "parse_data": latest}],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def run(action: Action, sender_id: str):
    dispatcher = CollectingDispatcher()
    result = action.run(dispatcher, tracker(sender_id), {})
    events = asyncio.run(result) if asyncio.iscoroutine(result) else result
    return dispatcher.messages, events


def test_request_queues_pauses_and_tells_the_place(handoff_db):
    messages, events = run(ActionHandoffRequest(), "web:first")
    assert [m["response"] for m in messages] == ["utter_handoff_queued"]
    assert messages[0]["position"] == 1
    assert events == [{"event": "pause", "timestamp": None}]
    messages, _ = run(ActionHandoffRequest(), "web:second")
    assert messages[0]["position"] == 2
    conversation = handoff_db.get_conversation("web:second")
    assert conversation["status"] == "waiting" and conversation["channel"] == "socketio"


def test_outside_office_hours_the_request_is_kept_and_the_assistant_stays(handoff_db, monkeypatch):
    # A schedule that is never open "now": one minute, on a day that is not today.
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Asia/Shanghai")).weekday()
    other_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(today + 3) % 7]
    monkeypatch.setenv("HANDOFF_OFFICE_HOURS", f"{other_day} 09:00-17:30")
    messages, events = run(ActionHandoffRequest(), "tg:night")
    assert [m["response"] for m in messages] == ["utter_handoff_after_hours"]
    assert messages[0]["office_hours"].endswith("09:00-17:30")
    assert messages[0]["next_opening"].endswith("09:00")
    assert events == []  # not paused: the assistant keeps helping meanwhile
    assert handoff_db.get_conversation("tg:night")["status"] == "waiting"  # kept for staff
    assert handoff_db.handoff_history("tg:night")[0]["in_office_hours"] is False


def test_second_miss_from_the_fallback_starts_a_handoff(handoff_db):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(start_handoff(dispatcher, tracker("web:lost"), reason="fallback"))
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff_intro_fallback", "utter_handoff_queued"]
    assert events and events[0]["event"] == "pause"
    assert handoff_db.handoff_history("web:lost")[0]["reason"] == "fallback"


class BrokenAction(Action):
    def name(self) -> str:
        return "action_broken"

    @handoff_on_failure
    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="半句话")
        raise RuntimeError("database went away")


class FineAction(Action):
    def name(self) -> str:
        return "action_fine"

    @handoff_on_failure
    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="答案")
        return []


def test_a_failing_action_hands_over_to_staff(handoff_db):
    messages, events = run(BrokenAction(), "web:broken")
    assert [m.get("response") or m.get("text") for m in messages] == [
        "utter_handoff_intro_error",
        "utter_handoff_queued",
    ]  # the half answer is withdrawn
    assert events[0]["event"] == "pause"
    assert handoff_db.handoff_history("web:broken")[0]["reason"] == "action_error"
    messages, events = run(FineAction(), "web:fine")
    assert [m["text"] for m in messages] == ["答案"] and events == []
    assert handoff_db.get_conversation("web:fine") is None


def test_handoff_store_down_gives_an_honest_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HANDOFF_OFFICE_HOURS", ROUND_THE_CLOCK)
    monkeypatch.setenv("HANDOFF_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setattr(bot.handoff.store, "_shared", {})
    messages, events = run(ActionHandoffRequest(), "web:x")
    assert [m["response"] for m in messages] == ["utter_handoff_unavailable"]
    assert "转接人工服务暂时出现问题" in rendered_text(messages)
    assert events == []
