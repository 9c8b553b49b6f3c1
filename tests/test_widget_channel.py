"""The widget's Socket.IO channel, spoken to the way the widget does, through the web
gateway (the only public entry point) of the running assistant.

A python-socketio client plays the widget here (long-polling, as the widget starts);
the browser itself is driven in ``test_widget_browser.py``.
"""
from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import quote

import pytest
import socketio

from bot.handoff.rasa_client import RasaClient
from bot.launcher import Stack
from bot.messages import user_text
from bot.settings import get_settings

pytestmark = pytest.mark.timeout(600)  # includes starting the shared assistant

POLICY_QUESTION = "川渝联合研发项目支持哪些领域"


class WidgetClient:
    """A Socket.IO client speaking the widget's protocol (see bot.channels.socketio)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: List[Dict[str, Any]] = []  # every event, in order
        self.session_id: Optional[str] = None
        self._confirmed = asyncio.Event()
        for event in ("bot_uttered", "user_echo", "turn_done"):
            self.sio.on(event, self._recorder(event))
        self.sio.on("session_confirm", self._on_confirm)

    def _recorder(self, event: str) -> Callable:
        async def record(data: Any) -> None:
            self.received.append({"event": event, "data": data})

        return record

    async def _on_confirm(self, session_id: str) -> None:
        self.session_id = session_id
        self._confirmed.set()

    async def start(self, session_id: Optional[str] = None) -> str:
        await self.sio.connect(self.url, transports=["polling"], socketio_path="socket.io")
        await self.sio.emit("session_request", {"session_id": session_id})
        await asyncio.wait_for(self._confirmed.wait(), 20)
        return self.session_id

    async def say(self, text: str, message_id: Optional[str] = None) -> Dict[str, Any]:
        return await self.sio.call(
            "user_uttered",
            {"message": text, "session_id": self.session_id, "message_id": message_id or uuid.uuid4().hex},
            timeout=30,
        )

    async def history(self) -> List[Dict[str, Any]]:
        reply = await self.sio.call("history_request", {"session_id": self.session_id}, timeout=30)
        assert reply["ok"], reply
        return reply["messages"]

    def events(self, name: str) -> List[Any]:
        return [item["data"] for item in self.received if item["event"] == name]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; received: {json.dumps(self.received, ensure_ascii=False)[:2000]}")
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        # Like a closing browser tab, do not wait for the pending long-poll to return
        # (python-engineio's clean close waits for it, about 30 s).
        await self.sio.eio.disconnect(abort=True)


def rasa_tracker(stack: Stack, sender_id: str) -> Dict[str, Any]:
    """The tracker as Rasa's (token-protected, loopback) HTTP API gives it (Sanic does not
    unquote path parameters, so the ":" of a namespaced id must stay as it is)."""
    url = f"{stack.rasa_url}/conversations/{quote(sender_id, safe=':@')}/tracker?token={stack.token}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def user_events(tracker: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [event for event in tracker["events"] if event["event"] == "user"]


def test_every_tab_of_a_session_gets_the_replies_under_a_namespaced_sender(assistant: Stack):
    """Rooms work (the enter_room fix): a second tab of the same session hears the
    reply to the first tab's question, and Rasa knows the conversation as web:<id>."""

    async def scenario() -> None:
        first, second = WidgetClient(assistant.web_url), WidgetClient(assistant.web_url)
        session_id = await first.start()
        assert await second.start(session_id) == session_id
        assert await first.say(POLICY_QUESTION) == {"ok": True}
        await first.wait_for(lambda: first.events("turn_done"))
        await second.wait_for(lambda: second.events("bot_uttered"))
        assert any("来源" in (m.get("text") or "") for m in second.events("bot_uttered"))
        assert [m["text"] for m in second.events("user_echo")] == [POLICY_QUESTION]
        await first.close()
        await second.close()

        tracker = rasa_tracker(assistant, f"web:{session_id}")
        [question] = user_events(tracker)
        assert question["text"] == POLICY_QUESTION and question["input_channel"] == "socketio"
        assert user_events(rasa_tracker(assistant, session_id)) == []

    asyncio.run(scenario())


def test_a_resent_message_is_answered_once(assistant: Stack):
    """The widget re-sends unacknowledged messages after a reconnect."""

    async def scenario() -> None:
        client = WidgetClient(assistant.web_url)
        session_id = await client.start()
        message_id = uuid.uuid4().hex
        assert await client.say(POLICY_QUESTION, message_id) == {"ok": True}
        assert (await client.say(POLICY_QUESTION, message_id))["duplicate"] is True
        await client.wait_for(lambda: client.events("turn_done"))
        await asyncio.sleep(1)  # a second answer would arrive by now
        assert len(client.events("turn_done")) == 1
        await client.close()
        assert [e["message_id"] for e in user_events(rasa_tracker(assistant, f"web:{session_id}"))] == [message_id]

    asyncio.run(scenario())


def test_an_oversized_message_is_refused_with_a_clear_reply(assistant: Stack):
    limit = get_settings().max_user_message_chars

    async def scenario() -> None:
        client = WidgetClient(assistant.web_url)
        session_id = await client.start()
        message_id = uuid.uuid4().hex
        ack = await client.say("长" * (limit + 1), message_id)
        assert ack["ok"] is False and str(limit) in ack["error"]
        await client.wait_for(lambda: client.events("bot_uttered"))
        [notice] = client.events("bot_uttered")
        assert notice["role"] == "notice" and notice["rejected_message_id"] == message_id
        assert "过长" in notice["text"]
        # the conversation goes on
        assert await client.say(POLICY_QUESTION) == {"ok": True}
        await client.wait_for(lambda: client.events("turn_done"))
        await client.close()
        assert [e["text"] for e in user_events(rasa_tracker(assistant, f"web:{session_id}"))] == [POLICY_QUESTION]

    asyncio.run(scenario())


def test_a_staff_reply_sent_while_the_widget_was_away_comes_back(assistant: Stack):
    """Reconnecting (or reloading) loses nothing: the history holds what was missed,
    still marked as written by a person."""

    async def scenario() -> None:
        client = WidgetClient(assistant.web_url)
        session_id = await client.start()
        await client.say(POLICY_QUESTION)
        await client.wait_for(lambda: client.events("turn_done"))
        await client.close()

        rasa = RasaClient(assistant.rasa_url, assistant.token)
        try:
            await rasa.send_staff_message(
                f"web:{session_id}", "您好，我是经信委的工作人员，您的问题我来跟进。", "刘老师"
            )
        finally:
            await rasa.close()

        back = WidgetClient(assistant.web_url)
        assert await back.start(session_id) == session_id
        history = await back.history()
        await back.close()
        assert [m["role"] for m in history][0] == "user"
        assert history[0]["text"] == POLICY_QUESTION
        staff = history[-1]
        assert staff["role"] == "staff" and staff["staff_name"] == "刘老师"
        assert staff["text"].startswith("您好，我是经信委的工作人员")

    asyncio.run(scenario())


def test_a_session_id_a_client_makes_up_is_replaced(assistant: Stack):
    """Only long random tokens are accepted, so nobody can pick another channel's or a
    guessable conversation."""

    async def scenario() -> None:
        for made_up in ("telegram:42", "1", "../../etc"):
            client = WidgetClient(assistant.web_url)
            session_id = await client.start(made_up)
            await client.close()
            assert session_id != made_up and re.fullmatch(r"[0-9a-f]{32}", session_id)

        client = WidgetClient(assistant.web_url)
        await client.start()
        reply = await client.sio.call(
            "user_uttered",
            {"message": POLICY_QUESTION, "session_id": "telegram:42", "message_id": uuid.uuid4().hex},
            timeout=30,
        )
        await client.close()
        assert reply["ok"] is False and "刷新页面" in reply["error"]
        assert user_events(rasa_tracker(assistant, "web:telegram:42")) == []

    asyncio.run(scenario())


def test_lone_surrogates_are_refused_and_bad_metadata_dropped(assistant: Stack):
    async def scenario() -> None:
        client = WidgetClient(assistant.web_url)
        session_id = await client.start()
        ack = await client.say("你\ud800")
        assert ack["ok"] is False and ack["error"] == user_text("input.invalid_characters")
        for shape in (None, [], ["a", "b", "c"]):  # any argument shape gets an answer
            refused = await client.sio.call("user_uttered", shape, timeout=30)
            assert refused["ok"] is False
        with_metadata = {"message": POLICY_QUESTION, "session_id": session_id, "message_id": uuid.uuid4().hex,
                         "customData": {"\ud800": "x"}}
        assert await client.sio.call("user_uttered", with_metadata, timeout=30) == {"ok": True}
        await client.wait_for(lambda: client.events("turn_done"))
        await client.close()
        [event] = user_events(rasa_tracker(assistant, f"web:{session_id}"))
        assert event["text"] == POLICY_QUESTION and "\ud800" not in (event.get("metadata") or {})

    asyncio.run(scenario())
