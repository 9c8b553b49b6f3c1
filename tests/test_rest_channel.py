"""The REST webhook at its boundary: who may call, whose conversation, what may go in,
and what a user hears when the action server is down."""
from __future__ import annotations

import json
import re
from typing import Any, List

import httpx
import pytest
from aiohttp import web
from rasa.core.channels.channel import UserMessage

from bot.channels.rest import CheckedRestInput
from bot.channels.rest_calls import CONSOLE_MESSAGE_ID_HEADER, CONSOLE_MESSAGE_TAKEN_HEADER, new_console_message_id
from bot.handoff.store import HandoffStore
from bot.messages import user_text
from tests.support.sanic_server import free_port, serving

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


class Assistant:
    """Stands in for Rasa: records each message and answers it (or stays silent)."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.fail = False
        self.received: List[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        if self.fail:
            raise RuntimeError("the turn failed")
        if self.answer:
            await message.output_channel.send_response(message.sender_id, {"text": f"echo:{message.text}"})


@pytest.fixture
def handoff_db(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    monkeypatch.setenv("HANDOFF_DATABASE_URL", url)
    monkeypatch.setenv("CYBOT_VAR_DIR", str(tmp_path))
    return url


async def post(url: str, body: Any, headers: Any = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient() as client:
        return await client.post(f"{url}/webhook", content=content, headers=headers or {}, timeout=30)


async def test_sender_lives_in_the_rest_namespace_and_input_channel_is_fixed(handoff_db):
    assistant = Assistant()
    async with serving(CheckedRestInput().blueprint(assistant)) as url:
        answer = await post(url, {"sender": "telegram:42", "message": "只要重庆的", "input_channel": "telegram"})
    assert answer.status_code == 200
    (message,) = assistant.received
    assert message.sender_id == "rest:telegram:42"  # never the Telegram user's conversation
    assert message.input_channel == "rest"
    assert answer.json() == [{"recipient_id": "telegram:42", "text": "echo:只要重庆的"}]


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"", "empty body"),
        (b"   ", "empty body"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"hello"', "JSON object"),
        (b"null", "JSON object"),
        ({"message": "你好"}, "\"sender\" is required"),
        ({"sender": "", "message": "你好"}, "\"sender\" is required"),
        ({"sender": "   ", "message": "你好"}, "\"sender\" is required"),
        ({"sender": "x" * 129, "message": "你好"}, "\"sender\" must be"),
        ({"sender": "a\x00b", "message": "你好"}, "\"sender\" must be"),
        ({"sender": ["x"], "message": "你好"}, "\"sender\" must be"),
        ({"sender": {"id": 1}, "message": "你好"}, "\"sender\" must be"),
        ({"sender": "ok", "message": "你好", "metadata": "x"}, "\"metadata\" must be a JSON object"),
        ({"sender": "ok", "message": "你好", "metadata": [1]}, "\"metadata\" must be a JSON object"),
        ({"sender": "ok", "message": "你好", "metadata": {"k": "v" * 5000}}, "larger than"),
        (b'{"sender": "ok", "message": "hi", "metadata": {"k": "\\ud800"}}', "cannot be stored"),
        (b'{"sender": "x\\ud800", "message": "hi"}', "\"sender\" must be"),
    ],
)
async def test_malformed_requests_are_refused_with_a_reason(handoff_db, body, reason):
    assistant = Assistant()
    async with serving(CheckedRestInput().blueprint(assistant)) as url:
        answer = await post(url, body)
    assert answer.status_code == 400
    assert reason in answer.json()["error"]
    assert assistant.received == []


async def test_a_sender_with_other_characters_gets_a_stable_conversation_of_its_own(handoff_db):
    assistant = Assistant()
    async with serving(CheckedRestInput().blueprint(assistant)) as url:
        for sender in ("会话 1", "../conversations/x", "a,b", "会话 1", 42):
            answer = await post(url, {"sender": sender, "message": "你好"})
            assert answer.status_code == 200 and answer.json()[0]["recipient_id"] == str(sender)
    ids = [message.sender_id for message in assistant.received]
    assert ids[0] == ids[3] and len(set(ids)) == 4  # the same sender, the same conversation
    assert all(id_.startswith("rest:") for id_ in ids) and ids[4] == "rest:42"
    assert all(re.fullmatch(r"rest:[A-Za-z0-9_.~:@-]+", id_) for id_ in ids)


async def test_lone_surrogates_are_refused_and_control_characters_removed(handoff_db):
    assistant = Assistant()
    async with serving(CheckedRestInput().blueprint(assistant)) as url:
        surrogate = await post(url, b'{"sender": "x", "message": "\\u4f60\\ud800"}')
        controls = await post(url, {"sender": "x", "message": "\x00\x1b[31m你好\x7f"})
    assert surrogate.status_code == 200
    assert surrogate.json()[0]["text"] == user_text("input.invalid_characters")
    assert [m.text for m in assistant.received] == ["[31m你好"]
    assert controls.json()[0]["text"] == "echo:[31m你好"


async def test_without_a_key_only_loopback_callers_are_served(handoff_db):
    assistant = Assistant()
    async with serving(CheckedRestInput().blueprint(assistant)) as url:
        local = await post(url, {"sender": "a", "message": "你好"})
        # The gateway appends the peer it saw; a caller's own header comes before it.
        spoofed = await post(
            url, {"sender": "a", "message": "你好"}, {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}
        )
        remote = await post(url, {"sender": "a", "message": "你好"}, {"X-Forwarded-For": "203.0.113.5"})
        proxied_local = await post(url, {"sender": "a", "message": "你好"}, {"X-Forwarded-For": "127.0.0.1"})
    assert local.status_code == 200 and proxied_local.status_code == 200
    assert spoofed.status_code == 403 and remote.status_code == 403
    assert "REST_API_KEY" in remote.json()["error"]
    assert len(assistant.received) == 2


async def test_with_a_key_every_caller_must_present_it(handoff_db, monkeypatch):
    monkeypatch.setenv("REST_API_KEY", "k3y-for-integrations")
    assistant = Assistant()
    body = {"sender": "a", "message": "你好"}
    async with serving(CheckedRestInput().blueprint(assistant)) as url:
        missing = await post(url, body)
        wrong = await post(url, body, {"Authorization": "Bearer guess"})
        bearer = await post(url, body, {"Authorization": "Bearer k3y-for-integrations"})
        header = await post(url, body, {"X-API-Key": "k3y-for-integrations", "X-Forwarded-For": "203.0.113.5"})
    assert missing.status_code == 401 and "API key" in missing.json()["error"]
    assert wrong.status_code == 403
    assert bearer.status_code == 200 and header.status_code == 200
    assert len(assistant.received) == 2


async def test_action_server_down_tells_the_user_and_counts_it_for_staff(handoff_db, monkeypatch):
    monkeypatch.setenv("ACTION_SERVER_URL", f"http://127.0.0.1:{free_port()}/webhook")  # nothing listens
    silent = Assistant(answer=False)  # what Rasa does when a custom action cannot be reached
    async with serving(CheckedRestInput().blueprint(silent)) as url:
        answer = await post(url, {"sender": "busy-user", "message": "找供应商"})
    assert answer.status_code == 200
    assert [m["text"] for m in answer.json()] == [user_text("service.busy")]
    figures = HandoffStore(handoff_db).figures()
    assert figures["service_busy_notices"] == 1


async def test_a_silent_turn_with_the_action_server_up_stays_silent(handoff_db, monkeypatch):
    health = web.Application()
    health.router.add_get("/health", lambda _: web.json_response({"status": "ok"}))
    runner = web.AppRunner(health)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    monkeypatch.setenv("ACTION_SERVER_URL", f"http://127.0.0.1:{port}/webhook")
    try:
        async with serving(CheckedRestInput().blueprint(Assistant(answer=False))) as url:
            answer = await post(url, {"sender": "paused-user", "message": "你好"})
    finally:
        await runner.cleanup()
    assert answer.json() == []  # e.g. a conversation staff have taken over
    assert HandoffStore(handoff_db).figures()["service_busy_notices"] == 0


class ReadyAgent:
    """What the channel asks of Rasa's agent here: whether a model is loaded."""

    def is_ready(self) -> bool:
        return True


async def test_a_message_the_gateway_showed_keeps_its_id_and_the_answer_confirms_the_turn(handoff_db):
    shown = new_console_message_id()
    async with serving(CheckedRestInput().blueprint(Assistant()), agent=ReadyAgent()) as url:
        answer = await post(url, {"sender": "company-7", "message": "你好"}, {CONSOLE_MESSAGE_ID_HEADER: shown})
    assert answer.headers.get(CONSOLE_MESSAGE_TAKEN_HEADER) == shown

    failing = Assistant()
    failing.fail = True
    async with serving(CheckedRestInput().blueprint(failing), agent=ReadyAgent()) as url:
        answer = await post(url, {"sender": "company-7", "message": "你好"}, {CONSOLE_MESSAGE_ID_HEADER: shown})
    # The turn failed: the user is told, and the gateway takes the shown message back.
    assert answer.status_code == 200 and answer.json()[0]["text"] == user_text("channel.turn_failed", "zh")
    assert CONSOLE_MESSAGE_TAKEN_HEADER not in answer.headers
    assert failing.received[0].message_id == shown

    assistant = Assistant()
    async with serving(CheckedRestInput().blueprint(assistant), agent=ReadyAgent()) as url:
        answer = await post(url, {"sender": "company-7", "message": "你好"}, {CONSOLE_MESSAGE_ID_HEADER: "console-x"})
    assert assistant.received[0].message_id != "console-x"  # not an id the gateway gives
    assert CONSOLE_MESSAGE_TAKEN_HEADER not in answer.headers
