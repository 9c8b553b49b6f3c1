"""The running assistant at its boundaries: the action server down, the action server's
secret, file modes, and a fuzz corpus of hostile requests across channels."""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import stat
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from typing import Any, Dict, List, Tuple

import httpx
import socketio

from bot.handoff.store import HandoffStore
from bot.launcher import ACTION_SECRET_HEADER, Stack
from bot.messages import user_text
from tests.helpers import send_rest
from tests.support.company_client import CompanyClient

POLICY_QUESTION = "双城经济圈发展基金规模有多大"
POLICY_FACT = "300亿元"


def texts(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(reply.get("text") or "" for reply in replies)


def test_action_server_down_every_channel_says_busy_and_recovers(start_stack):
    stack = start_stack()
    widget = CompanyClient(stack.web_url).connect()
    actions = stack.processes["actions"]
    os.killpg(actions.pid, signal.SIGKILL)
    actions.wait()

    assert texts(send_rest(stack, "busy-rest", POLICY_QUESTION)) == user_text("service.busy")
    widget.send(POLICY_QUESTION)
    notice = widget.wait_for(lambda message: message.get("text") == user_text("service.busy"), timeout=120)
    assert notice["role"] == "bot"
    figures = HandoffStore(stack.settings.handoff_database_url).figures()
    assert figures["service_busy_notices"] >= 2  # staff see how often users were turned away

    stack.restart("actions")
    assert POLICY_FACT in texts(send_rest(stack, "busy-rest", POLICY_QUESTION))
    after = len(widget.received)
    widget.send(POLICY_QUESTION)
    assert POLICY_FACT in widget.wait_for(lambda m: POLICY_FACT in (m.get("text") or ""), after=after)["text"]


def _post(url: str, body: bytes, headers: Dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_only_rasa_may_call_the_action_server(assistant: Stack):
    call = json.dumps({"next_action": "action_answer_policy", "sender_id": "x", "tracker": {}}).encode()
    webhook = f"{assistant.action_url}/webhook"
    assert _post(webhook, call, {}) == 401
    assert _post(webhook, call, {ACTION_SECRET_HEADER: "guess"}) == 401
    with urllib.request.urlopen(f"{assistant.action_url}/health", timeout=10) as health:
        assert health.status == 200
    # Rasa itself sends the secret: custom actions still answer.
    assert POLICY_FACT in texts(send_rest(assistant, "secret-check", POLICY_QUESTION))


def test_data_files_are_owner_only(assistant: Stack):
    send_rest(assistant, "file-modes", "你好")  # the tracker store and logs exist by now
    loose = []
    for folder, directories, files in os.walk(assistant.var_dir):
        for name in directories:
            mode = stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
            if mode & 0o077:
                loose.append(f"{name}/ {oct(mode)}")
        for name in files:
            mode = stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
            if mode & 0o077:
                loose.append(f"{name} {oct(mode)}")
    assert not loose, loose


# --- the fuzz corpus ------------------------------------------------------------------------

#: Fixed seed: the same hostile requests on every run.
SEED = 20260529
REST_REQUESTS = 1200
WIDGET_MESSAGES = 300

HOSTILE_TEXTS = [
    "\u4f60\ud800", "\ud800", "\udfff\ud800", "a\udc80b", "\x00", "\x00\x01\x02", "\x1b[31m红色\x1b[0m",
    "\u202e反转文字", "\u200b\u200b", "🚗" * 500, "川渝" * 6000, "", "   ", "/restart", "/session_start",
    '/contact_expert{"expert_id":"E0001"}', '/inform{"match_text":5}', "<script>alert(1)</script>",
    "'; DROP TABLE events; --", "%s%s%n", "{{7*7}}", "${jndi:ldap://x}", "\\u0000", "\ufeff你好", "\uffff",
]
HOSTILE_VALUES: List[Any] = [None, 0, -1, 1.5, True, [], ["x"], {}, {"a": "b"}, "x" * 300, "telegram:42",
                             "web:" + "a" * 32, "../../conversations", "a b", "\ud800", "rest:x"]


def _rest_body(rng: random.Random) -> Tuple[bytes, Dict[str, str]]:
    kind = rng.randrange(12)
    sender = f"fuzz-{rng.randrange(400)}"
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))), {}
    if kind == 1:
        return rng.choice([b"", b" ", b"null", b"[]", b"[1,2]", b'"x"', b"42", b"true", b"{", b"{}"]), {}
    if kind == 2:  # nesting no real request has
        depth = rng.choice([50, 1000, 100_000])
        return (b"[" * depth + b"]" * depth), {}
    if kind == 3:  # larger than the gateway takes
        return json.dumps({"sender": sender, "message": "字" * rng.choice([100_000, 1_200_000])}).encode(), {}
    if kind == 4:
        body = {"sender": rng.choice(HOSTILE_VALUES), "message": rng.choice(HOSTILE_TEXTS)}
    elif kind == 5:
        body = {"sender": sender, "message": rng.choice(HOSTILE_VALUES)}
    elif kind == 6:
        body = {"sender": sender, "message": "你好", "metadata": rng.choice(HOSTILE_VALUES + ["\ud800"])}
    elif kind == 7:
        body = {"sender": sender, "message": "你好", "metadata": {"\ud800key": 1, "nested": [[[["\udc00"]]]]}}
    elif kind == 8:
        body = {"sender": sender, "message": "你好", "input_channel": rng.choice(["telegram", "wechat", 5])}
    elif kind == 9:
        headers = rng.choice([{"Content-Type": "text/plain"}, {"Content-Type": "application/xml"},
                              {"X-Forwarded-For": "127.0.0.1"}, {"Authorization": "Bearer wrong"}])
        return json.dumps({"sender": sender, "message": rng.choice(HOSTILE_TEXTS)}).encode(), headers
    else:
        body = {"sender": sender, "message": rng.choice(HOSTILE_TEXTS)}
    # json.dumps writes lone surrogates as \ud800 escapes, as a hostile client would.
    return json.dumps(body).encode(), {"Content-Type": "application/json"}


async def _fire_rest(url: str, rng: random.Random, statuses: Counter, failures: List[str]) -> None:
    bodies = [_rest_body(rng) for _ in range(REST_REQUESTS)]
    limit = asyncio.Semaphore(8)
    async with httpx.AsyncClient(timeout=120) as client:

        async def one(body: bytes, headers: Dict[str, str]) -> None:
            async with limit:
                try:
                    response = await client.post(url, content=body, headers=headers)
                except httpx.HTTPError as error:
                    failures.append(f"{type(error).__name__} for {body[:60]!r}")
                    return
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    failures.append(f"{response.status_code} for {body[:60]!r}: {response.text[:200]}")

        await asyncio.gather(*(one(body, headers) for body, headers in bodies))


async def _fire_widget(base_url: str, rng: random.Random, acks: Counter) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(base_url, transports=["polling"], socketio_path="socket.io")
    session_id = uuid.uuid4().hex
    await sio.emit("session_request", {"session_id": session_id})
    payloads: List[Any] = [
        rng.choice(HOSTILE_VALUES),
        {"session_id": session_id, "message": rng.choice(HOSTILE_TEXTS), "message_id": uuid.uuid4().hex},
        {"session_id": rng.choice(HOSTILE_VALUES), "message": "你好"},
        {"session_id": session_id, "message": "你好", "metadata": rng.choice(HOSTILE_VALUES + ["\ud800"]),
         "message_id": uuid.uuid4().hex},
        {"session_id": session_id, "message": "你好", "metadata": {"\ud800": "x"}, "message_id": uuid.uuid4().hex},
    ]
    for _ in range(WIDGET_MESSAGES):
        payload = rng.choice(payloads)
        try:
            ack = await sio.call("user_uttered", payload, timeout=30)
        except socketio.exceptions.TimeoutError:
            acks["never answered"] += 1
            continue
        acks["ok" if isinstance(ack, dict) and ack.get("ok") else "refused"] += 1
    await sio.disconnect()


def test_hostile_requests_get_no_5xx_and_the_console_keeps_following(assistant: Stack):
    rng = random.Random(SEED)
    statuses: Counter = Counter()
    failures: List[str] = []
    acks: Counter = Counter()

    async def fuzz() -> None:
        await asyncio.gather(
            _fire_rest(f"{assistant.web_url}/webhooks/rest/webhook", rng, statuses, failures),
            _fire_widget(assistant.web_url, random.Random(SEED + 1), acks),
        )

    asyncio.run(fuzz())
    assert not failures, failures[:20]
    assert sum(statuses.values()) == REST_REQUESTS
    assert statuses[400] > 0 and statuses[413] > 0 and statuses[200] > 0
    assert sum(acks.values()) == WIDGET_MESSAGES and acks["refused"] > 0 and acks["never answered"] == 0

    # The console still follows: a normal message afterwards reaches its transcript.
    marker = f"模具供应商 {uuid.uuid4().hex[:6]}"
    send_rest(assistant, "after-fuzz", marker)
    store = HandoffStore(assistant.settings.handoff_database_url)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if any(marker in (message.get("text") or "") for message in store.transcript("rest:after-fuzz")):
            break
        time.sleep(1)
    else:
        raise AssertionError("a message sent after the fuzz never reached the console")
