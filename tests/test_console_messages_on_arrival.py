"""A REST user's message reaches the staff console as it passes the web gateway, before
Rasa (busy with other users' turns) has understood it; Rasa's event of it then adds the
intent instead of a second copy, and a message no Rasa server received is taken back."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.channels.rest_calls import CONSOLE_MESSAGE_ID_HEADER, CONSOLE_MESSAGE_TAKEN_HEADER, is_console_message_id
from bot.handoff.store import HandoffStore
from bot.settings import get_settings
from bot.web.app import INGESTOR_APP_KEY, create_app

pytestmark = pytest.mark.asyncio

CONVERSATION = "rest:company-7"


class FakeRasa:
    """Stands in for the Rasa server behind the gateway: holds each REST call until
    released, then answers ``status``, confirming the turn as the REST channel does
    unless ``takes_turn`` is off (the turn failed); records the headers it was sent."""

    def __init__(self) -> None:
        self.status = 200
        self.takes_turn = True
        self.release = asyncio.Event()
        self.received: List[Dict[str, str]] = []
        self.arrived = asyncio.Event()

    async def webhook(self, request: web.Request) -> web.Response:
        self.received.append(dict(request.headers))
        self.arrived.set()
        await self.release.wait()
        if self.status != 200:
            return web.Response(status=self.status)
        message_id = request.headers.get(CONSOLE_MESSAGE_ID_HEADER)
        headers = {CONSOLE_MESSAGE_TAKEN_HEADER: message_id} if message_id and self.takes_turn else {}
        return web.json_response([{"recipient_id": "company-7", "text": "基金规模为 300 亿元。"}], headers=headers)


@pytest_asyncio.fixture
async def gateway(tmp_path: Path, request):
    rasa = FakeRasa()
    upstream_app = web.Application()
    upstream_app.router.add_post("/webhooks/rest/webhook", rasa.webhook)
    upstream = TestServer(upstream_app)
    await upstream.start_server()
    settings = get_settings().replace(
        var_dir=tmp_path,
        handoff_database_url=f"sqlite:///{tmp_path / 'handoff.db'}",
        platform_database_url=f"sqlite:///{tmp_path / 'platform.db'}",
        rasa_url=str(upstream.make_url("")).rstrip("/"),
        rasa_token="test-token",
        rest_api_key=getattr(request, "param", ""),
    )
    app = create_app(settings, follow_events=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    store = HandoffStore(settings.handoff_database_url)
    yield client, rasa, store, app
    await client.close()
    await upstream.close()
    store.dispose()


def said(store: HandoffStore, sender_id: str = CONVERSATION) -> List[tuple]:
    return [(m["kind"], m["text"], m["intent"]) for m in store.transcript(sender_id)]


def rasa_events(message_id: Optional[str], at: float) -> List[Dict[str, Any]]:
    """What Rasa stores for the turn: the user's message (with the id it was given) and the reply."""
    return [
        {
            "sender_id": CONVERSATION, "event": "user", "timestamp": at, "text": "发展基金规模多大",
            "message_id": message_id, "input_channel": "rest",
            "parse_data": {"intent": {"name": "ask_policy", "confidence": 0.97}},
        },
        {"sender_id": CONVERSATION, "event": "bot", "timestamp": at + 0.1, "text": "基金规模为 300 亿元。"},
    ]


async def test_the_message_is_in_the_console_before_rasa_answers_and_is_stored_once(gateway):
    client, rasa, store, app = gateway
    # A caller cannot choose the id under which the console keeps its message.
    reply = asyncio.create_task(client.post(
        "/webhooks/rest/webhook", json={"sender": "company-7", "message": "发展基金规模多大"},
        headers={CONSOLE_MESSAGE_ID_HEADER: "console-" + "0" * 32},
    ))
    await asyncio.wait_for(rasa.arrived.wait(), 10)
    assert said(store) == [("user", "发展基金规模多大", None)]  # shown while Rasa still works on it
    assert store.get_conversation(CONVERSATION)["message_count"] == 1
    message_id = rasa.received[0][CONSOLE_MESSAGE_ID_HEADER]
    assert is_console_message_id(message_id) and message_id != "console-" + "0" * 32

    rasa.release.set()
    response = await reply
    assert response.status == 200 and (await response.json())[0]["text"] == "基金规模为 300 亿元。"
    assert CONSOLE_MESSAGE_TAKEN_HEADER not in response.headers  # a note to the gateway only
    assert said(store) == [("user", "发展基金规模多大", None)]

    ingestor = app[INGESTOR_APP_KEY]
    events = rasa_events(message_id, time.time())
    await ingestor(events)
    await ingestor(events)  # a redelivery changes nothing
    assert said(store) == [("user", "发展基金规模多大", "ask_policy"), ("bot", "基金规模为 300 亿元。", None)]
    assert store.get_conversation(CONVERSATION)["message_count"] == 2


async def test_a_message_of_another_channel_or_not_shown_is_stored_from_rasas_event(gateway):
    _, _, store, app = gateway
    await app[INGESTOR_APP_KEY](rasa_events("3f2a9c", time.time()))
    assert said(store) == [("user", "发展基金规模多大", "ask_policy"), ("bot", "基金规模为 300 亿元。", None)]


@pytest.mark.parametrize("status, taken, answered", [
    (502, True, 503),  # no Rasa server answered
    (503, True, 503),
    (500, True, 500),  # Rasa failed outside the turn
    (200, False, 200),  # the turn failed, or no model is loaded: the user was told
])
async def test_a_message_the_assistant_did_not_take_is_taken_back(gateway, status, taken, answered):
    client, rasa, store, _ = gateway
    rasa.status, rasa.takes_turn = status, taken
    rasa.release.set()
    store.record_message(CONVERSATION, "user", "你好", time.time() - 60, event_key="earlier")
    store.add_note(CONVERSATION, "staff-1", "a private note", time.time() - 30)
    response = await client.post("/webhooks/rest/webhook", json={"sender": "company-7", "message": "发展基金规模多大"})
    assert response.status == answered
    assert [m for m in said(store) if m[0] == "user"] == [("user", "你好", None)]
    conversation = store.get_conversation(CONVERSATION)
    assert (conversation["message_count"], conversation["last_text"], conversation["unread"]) == (1, "你好", 1)


async def test_a_message_rasa_stored_after_all_is_kept_once(gateway):
    """Taking back races with the feed: a message the feed completed stays, and one the
    feed reads after it was taken back is stored from Rasa's event."""
    client, rasa, store, app = gateway
    rasa.takes_turn = False
    rasa.release.set()
    ingestor = app[INGESTOR_APP_KEY]
    await ingestor.show_user_message(CONVERSATION, "console-" + "1" * 32, "发展基金规模多大", "rest")
    await ingestor(rasa_events("console-" + "1" * 32, time.time()))
    await ingestor.withdraw_user_message(CONVERSATION, "console-" + "1" * 32)
    assert said(store) == [("user", "发展基金规模多大", "ask_policy"), ("bot", "基金规模为 300 亿元。", None)]

    await client.post("/webhooks/rest/webhook", json={"sender": "company-7", "message": "发展基金规模多大"})
    message_id = rasa.received[-1][CONSOLE_MESSAGE_ID_HEADER]
    assert len(said(store)) == 2  # taken back: the turn was not confirmed
    await ingestor(rasa_events(message_id, time.time() + 1))
    assert len(said(store)) == 4 and store.get_conversation(CONVERSATION)["message_count"] == 4


async def test_what_the_assistant_answered_goes_to_the_message_it_answered(gateway):
    """A message shown as it arrived is not yet the one the assistant is answering: the
    previous turn's action and "unanswered" mark stay with the previous message."""
    _, _, store, app = gateway
    ingestor = app[INGESTOR_APP_KEY]
    await ingestor(rasa_events("3f2a9c", time.time())[:1])
    await ingestor.show_user_message(CONVERSATION, "console-" + "2" * 32, "推荐几位专家", "rest")
    await ingestor([
        {"sender_id": CONVERSATION, "event": "action", "name": "action_answer_policy", "timestamp": time.time()},
        {"sender_id": CONVERSATION, "event": "slot", "name": "unanswered", "value": "not_found",
         "timestamp": time.time()},
    ])
    first, second = [m for m in store.transcript(CONVERSATION) if m["kind"] == "user"]
    assert (first["next_action"], first["unanswered"]) == ("action_answer_policy", "not_found")
    assert (second["next_action"], second["unanswered"]) == (None, None)


@pytest.mark.parametrize("gateway", ["a-long-rest-api-key"], indirect=True)
async def test_with_an_api_key_only_calls_that_carry_it_are_shown(gateway):
    client, rasa, store, _ = gateway
    rasa.release.set()
    body = {"sender": "company-7", "message": "发展基金规模多大"}
    await client.post("/webhooks/rest/webhook", json=body, headers={"X-API-Key": "wrong"})
    await client.post("/webhooks/rest/webhook", json=body)
    assert said(store) == []
    await client.post("/webhooks/rest/webhook", json=body, headers={"Authorization": "Bearer a-long-rest-api-key"})
    assert said(store) == [("user", "发展基金规模多大", None)]


@pytest.mark.parametrize(
    "body, headers",
    [
        ({"sender": "company-7", "message": "发展基金规模多大"}, {"X-Forwarded-For": "203.0.113.9"}),  # not loopback
        ({"sender": "company-7", "message": "   "}, {}),  # empty: the channel answers it
        ({"sender": "company-7", "message": "x" * 5000}, {}),  # too long: the channel answers it
        ({"sender": "company-7", "message": "/greet"}, {}),  # a button's payload, not text
        ({"message": "发展基金规模多大"}, {}),  # no sender
        ({"sender": "company-7", "message": "你好", "metadata": "x"}, {}),  # bad metadata
    ],
)
async def test_calls_the_rest_channel_does_not_pass_on_are_not_shown(gateway, body, headers):
    client, rasa, store, _ = gateway
    rasa.release.set()
    await client.post("/webhooks/rest/webhook", json=body, headers=headers)
    assert said(store) == []
    assert CONSOLE_MESSAGE_ID_HEADER not in rasa.received[0]


async def test_a_conversation_whose_only_message_is_taken_back_leaves_the_console(gateway):
    client, rasa, store, app = gateway
    rasa.status = 502
    rasa.release.set()
    staff = app[INGESTOR_APP_KEY].hub.subscribe()
    await client.post("/webhooks/rest/webhook", json={"sender": "company-7", "message": "发展基金规模多大"})
    assert store.get_conversation(CONVERSATION) is None and said(store) == []
    updates = [staff.get_nowait() for _ in range(staff.qsize())]
    assert [u["type"] for u in updates] == ["conversation", "conversation_removed"]
    assert updates[-1]["sender_id"] == CONVERSATION
