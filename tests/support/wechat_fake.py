"""A local fake of WeChat's and WeCom's outbound APIs (aiohttp), for the channel tests.

It behaves like the real services where our code depends on it: ``token`` /
``gettoken`` issue access tokens, and issuing a new token invalidates the previous
one (errcode 40001 afterwards), so competing refreshes break each other's sends;
``message/custom/send`` (Official Account) and ``message/send`` (WeCom) record what
reached each user, ``message/custom/typing`` the typing signals.
"""
from __future__ import annotations

import asyncio
import itertools
import threading
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Dict, Iterator, List, Set, Tuple

from aiohttp import web

from tests.support.sanic_server import free_port


@dataclass
class SentText:
    user_id: str
    text: str


@dataclass
class FakeWeChatApi:
    """State of the fake: issued tokens and delivered messages."""

    #: Seconds a token request takes (makes concurrent refreshes overlap for real).
    token_latency: float = 0.2
    token_requests: int = 0
    sent: List[SentText] = field(default_factory=list)
    #: ``message/custom/typing`` commands accepted: (user id, "Typing" or "CancelTyping").
    typing: List[Tuple[str, str]] = field(default_factory=list)
    credentials: Dict[str, str] = field(default_factory=dict)
    #: Users who last wrote more than 48 h ago: customer-service messages are refused.
    out_of_window: Set[str] = field(default_factory=set)
    _valid_token: str = ""
    _serial: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))

    def revoke_token(self) -> None:
        """Make the current token invalid, as expiry or a refresh elsewhere would."""
        self._valid_token = ""

    def texts_to(self, user_id: str) -> List[str]:
        return [message.text for message in self.sent if message.user_id == user_id]

    async def _issue_token(self, app_id: str, secret: str) -> web.Response:
        self.token_requests += 1
        await asyncio.sleep(self.token_latency)
        if self.credentials.get(app_id) != secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        self._valid_token = f"TOKEN-{next(self._serial)}"
        return web.json_response({"access_token": self._valid_token, "expires_in": 7200})

    def _token_ok(self, request: web.Request) -> bool:
        return bool(self._valid_token) and request.query.get("access_token") == self._valid_token

    async def official_account_token(self, request: web.Request) -> web.Response:
        return await self._issue_token(request.query.get("appid", ""), request.query.get("secret", ""))

    async def wecom_token(self, request: web.Request) -> web.Response:
        return await self._issue_token(
            request.query.get("corpid", ""), request.query.get("corpsecret", "")
        )

    async def custom_send(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        body = await request.json()
        if body["touser"] in self.out_of_window:
            return web.json_response({"errcode": 45015, "errmsg": "response out of time limit"})
        self.sent.append(SentText(body["touser"], body["text"]["content"]))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def custom_typing(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        body = await request.json()
        if body["touser"] in self.out_of_window:
            return web.json_response({"errcode": 45047, "errmsg": "out of response count limit"})
        if body.get("command") not in ("Typing", "CancelTyping"):
            return web.json_response({"errcode": 40001, "errmsg": "invalid command"})
        self.typing.append((body["touser"], body["command"]))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def wecom_send(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        body = await request.json()
        self.sent.append(SentText(body["touser"], body["text"]["content"]))
        return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": ""})


@asynccontextmanager
async def fake_wechat_api(credentials: Dict[str, str]) -> AsyncIterator[tuple]:
    """Serve the fake on a free port; yield ``(fake, api base URL ending in /cgi-bin/)``.

    ``credentials`` maps app ids / corp ids to their secrets.
    """
    fake = FakeWeChatApi(credentials=dict(credentials))
    app = web.Application()
    app.router.add_get("/cgi-bin/token", fake.official_account_token)
    app.router.add_get("/cgi-bin/gettoken", fake.wecom_token)
    app.router.add_post("/cgi-bin/message/custom/send", fake.custom_send)
    app.router.add_post("/cgi-bin/message/custom/typing", fake.custom_typing)
    app.router.add_post("/cgi-bin/message/send", fake.wecom_send)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield fake, f"http://127.0.0.1:{port}/cgi-bin/"
    finally:
        await runner.cleanup()


@contextmanager
def fake_wechat_api_in_thread(credentials: Dict[str, str]) -> Iterator[tuple]:
    """Like :func:`fake_wechat_api`, served from its own thread and event loop, for
    tests whose callers are other processes (the running assistant)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    serving = fake_wechat_api(credentials)
    try:
        yield asyncio.run_coroutine_threadsafe(serving.__aenter__(), loop).result(timeout=30)
    finally:
        asyncio.run_coroutine_threadsafe(serving.__aexit__(None, None, None), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
