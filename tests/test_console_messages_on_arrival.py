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

from bot.channels.rest_calls import CONSOLE_MESSAGE_ID_HEADER, is_console_message_id
from bot.handoff.store import HandoffStore
from bot.settings import get_settings
from bot.web.app import INGESTOR_APP_KEY, create_app

pytestmark = pytest.mark.asyncio

CONVERSATION = "rest:company-7"


class FakeRasa:
    """Stands in for the Rasa server behind the gateway: holds each REST call until
    released, then answers ``status``; records the headers it was sent."""

    def __init__(self) -> None:
        self.status = 200
        self.release = asyncio.Event()
        self.received: List[Dict[str, str]] = []
        self.arrived = asyncio.Event()

    async def webhook(self, request: web.Request) -> web.Response:
        self.received.append(dict(request.headers))
        self.arrived.set()
        await self.release.wait()
        if self.status != 200:
            return web.Response(status=self.status)
        return web.json_response([{"recipient_id": "company-7", "text": "基金规模为 300 亿元。"}])


@pytest_asyncio.fixture
async def gateway(tmp_path: Path):
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
        rest_api_key="",
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


@pytest.mark.parametrize("status", [502, 503])
async def test_a_message_no_rasa_server_received_is_taken_back(gateway, status):
    client, rasa, store, _ = gateway
    rasa.status = status
    rasa.release.set()
    store.record_message(CONVERSATION, "user", "你好", time.time() - 60, event_key="earlier")
    response = await client.post("/webhooks/rest/webhook", json={"sender": "company-7", "message": "发展基金规模多大"})
    assert response.status == 503 and (await response.json())[0]["unavailable"] is True
    assert said(store) == [("user", "你好", None)]
    conversation = store.get_conversation(CONVERSATION)
    assert (conversation["message_count"], conversation["last_text"], conversation["unread"]) == (1, "你好", 1)


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
