"""The public gateway forwards only the channel endpoints; Rasa's API stays private."""
from __future__ import annotations

import asyncio
import http.client
import json
import secrets
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import aiohttp
import pytest

from bot.web.app import _SUSPICIOUS_PATH


def raw_get(base_url: str, raw_path: str, method: str = "GET") -> int:
    """Status of a request whose path is sent exactly as written (no normalisation)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, raw_path)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path",
    [
        "/conversations/web:x/tracker",
        "/conversations/web:x/tracker/events",
        "/model",
        "/status",
        "/version",
        "/domain",
        "/webhooks/../conversations/web:x/tracker",
        "/webhooks/%2e%2e/conversations/web:x/tracker",
        "/webhooks/..%2Fconversations%2Fweb:x%2Ftracker",
        "/socket.io/../model",
        "/webhooks//conversations",
    ],
)
def test_rasa_api_is_not_reachable_through_the_gateway(assistant, path):
    status = raw_get(assistant.web_url, path)
    assert status == 404, f"{path} answered {status}"


def test_rasa_api_itself_needs_the_token_and_listens_on_loopback_only(assistant):
    assert urlsplit(assistant.rasa_url).hostname == "127.0.0.1"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{assistant.rasa_url}/conversations/web:x/tracker", timeout=30)
    assert refused.value.code == 401


def test_rest_webhook_is_forwarded(assistant):
    body = json.dumps({"sender": f"rest-gateway-{secrets.token_hex(4)}", "message": "你好"}).encode()
    request = urllib.request.Request(
        f"{assistant.web_url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        replies = json.loads(response.read())
    assert replies and replies[0]["text"]


def test_socketio_websocket_is_forwarded_frame_by_frame(assistant):
    """Engine.IO v4 over the gateway's websocket proxy: open, connect, a question, the answer."""

    async def converse() -> dict:
        session_id = secrets.token_hex(16)
        url = f"{assistant.web_url}/socket.io/?EIO=4&transport=websocket"
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(url) as ws:
                opened = await ws.receive_str(timeout=20)
                assert opened.startswith("0{") and '"sid"' in opened
                await ws.send_str("40")
                assert (await ws.receive_str(timeout=20)).startswith("40")
                await ws.send_str("42" + json.dumps(["session_request", {"session_id": session_id}]))
                await ws.send_str(
                    "42"
                    + json.dumps(
                        [
                            "user_uttered",
                            {"message": "你好", "session_id": session_id, "message_id": secrets.token_hex(12)},
                        ]
                    )
                )
                while True:
                    frame = await ws.receive_str(timeout=60)
                    if frame == "2":  # engine.io ping
                        await ws.send_str("3")
                        continue
                    if frame.startswith("42"):
                        name, payload = json.loads(frame[2:])[:2]
                        if name == "bot_uttered":
                            return payload

    reply = asyncio.run(converse())
    assert reply["role"] == "bot" and reply["text"]


@pytest.mark.parametrize(
    "path,suspicious",
    [
        ("/webhooks/rest/webhook", False),
        ("/socket.io/", False),
        ("/webhooks/../model", True),
        ("/webhooks/%2E%2E/model", True),
        ("/webhooks/a%2fb", True),
        ("/webhooks/a\\b", True),
        ("/webhooks//x", True),
        ("/webhooks/./x", True),
    ],
)
def test_path_guard(path, suspicious):
    assert bool(_SUSPICIOUS_PATH.search(path)) is suspicious
