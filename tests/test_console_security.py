"""Console security, through the real gateway application and its route table:
login on every route, CSRF, origin check, login rate limit, session expiry, roles."""
from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import List, Tuple

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.console.security import PUBLIC_ROUTES, SESSION_COOKIE
from bot.handoff.store import HandoffStore
from bot.settings import Settings, get_settings
from bot.web.app import create_app

pytestmark = pytest.mark.asyncio

PASSWORD = "a long enough password"


def make_settings(tmp_path: Path, **overrides) -> Settings:
    return get_settings().replace(
        var_dir=tmp_path,
        handoff_database_url=f"sqlite:///{tmp_path / 'handoff.db'}",
        console_feed_url=f"sqlite:///{tmp_path / 'events.db'}",
        platform_database_url=f"sqlite:///{tmp_path / 'platform.db'}",
        rasa_url="http://127.0.0.1:9",  # nothing listens: security must not depend on Rasa
        rasa_token="test-token",
        **overrides,
    )


@pytest_asyncio.fixture
async def console(tmp_path):
    settings = make_settings(tmp_path)
    store = HandoffStore(settings.handoff_database_url)
    store.add_staff("agent1", PASSWORD, "agent")
    store.add_staff("boss", PASSWORD, "supervisor")
    store.record_message("web:victim", "user", "你好", time.time(), event_key="v1")
    app = create_app(settings, follow_events=False)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client, store, app
    await client.close()
    store.dispose()


async def login(client: TestClient, username: str = "agent1", password: str = PASSWORD):
    page = await client.get("/console/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    return await client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": csrf, "next": "/console/"},
        allow_redirects=False,
    )


async def api_csrf(client: TestClient) -> str:
    response = await client.get("/console/api/me")
    assert response.status == 200
    return (await response.json())["csrf_token"]


def console_routes(app: web.Application) -> List[Tuple[str, str]]:
    """(method, concrete path) of every console route in the router."""
    routes = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        if "prefix" in info:  # static files
            path = f"{info['prefix']}/console.js"
        else:
            path = info.get("path") or info.get("formatter")
            path = re.sub(r"\{[^}]+\}", "web:victim", path) if path else None
        if path and path.startswith("/console"):
            routes.append((route.method, path))
    return routes


async def test_every_console_route_refuses_without_login(console):
    client, store, app = console
    routes = console_routes(app)
    assert len(routes) >= 20  # the table really was enumerated
    assert {("GET", "/console/login"), ("POST", "/console/login")} <= set(routes)
    checked = 0
    for method, path in routes:
        if (method, path) in PUBLIC_ROUTES or method == "HEAD":
            continue
        response = await client.request(method, path, allow_redirects=False, json={"text": "hi"})
        body = await response.text()
        assert response.status in (401, 303), f"{method} {path} answered {response.status} without login"
        if response.status == 303:
            assert response.headers["Location"].startswith("/console/login")
        assert "web:victim" not in body and "你好" not in body
        checked += 1
    assert checked >= 18
    # nothing happened to the conversation
    assert store.get_conversation("web:victim")["status"] == "bot"
    assert store.audit_entries() == []


async def test_only_the_login_form_is_public():
    assert PUBLIC_ROUTES == {
        ("GET", "/console/login"),
        ("POST", "/console/login"),
        ("GET", "/console/static/console.css"),
        ("GET", "/console/static/login.js"),  # keeps a deep link's conversation through the login
    }


async def test_login_then_pages_and_api_work(console):
    client, _, _ = console
    response = await login(client)
    assert response.status == 303 and response.headers["Location"] == "/console/"
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    page = await client.get("/console/")
    assert page.status == 200 and "对话" in await page.text()
    data = await (await client.get("/console/api/conversations")).json()
    assert [c["sender_id"] for c in data["conversations"]] == ["web:victim"]


async def test_forged_csrf_is_refused(console):
    client, store, _ = console
    await login(client)
    good = await api_csrf(client)
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": good[:-1] + "x"}):
        response = await client.post("/console/api/conversations/web:victim/notes", json={"text": "x"}, headers=headers)
        assert response.status == 403, headers
    # a cross-site form post with the right cookie but another Origin
    response = await client.post(
        "/console/api/conversations/web:victim/notes",
        json={"text": "x"},
        headers={"X-CSRF-Token": good, "Origin": "http://evil.example"},
    )
    assert response.status == 403
    assert [m["kind"] for m in store.transcript("web:victim")] == ["user"]
    # the real token works
    response = await client.post(
        "/console/api/conversations/web:victim/notes", json={"text": "已电话联系"}, headers={"X-CSRF-Token": good}
    )
    assert response.status == 200
    assert [m["kind"] for m in store.transcript("web:victim")] == ["user", "note"]
    assert [e["action"] for e in store.audit_entries()][:1] == ["note"]


async def test_login_form_without_its_csrf_token_is_refused(console):
    client, _, _ = console
    response = await client.post(
        "/console/login", data={"username": "agent1", "password": PASSWORD}, allow_redirects=False
    )
    assert response.status == 403
    assert SESSION_COOKIE not in response.cookies


async def test_wrong_passwords_are_rate_limited(console):
    client, _, _ = console
    for _ in range(5):
        response = await login(client, password="wrong password!")
        assert response.status == 401
        assert "用户名或密码不正确" in await response.text()
    response = await login(client)  # the next attempt from this address must wait
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert "登录失败次数过多" in await response.text() and "秒后再试" in await response.text()
    assert SESSION_COOKIE not in response.cookies
    # another account from the same address waits too (the delay is per address)
    assert (await login(client, username="boss")).status == 429


async def test_sessions_expire(tmp_path):
    # Sessions that expire at once: below the 1 minute a configuration may set.
    settings = make_settings(tmp_path).copy(update={"console_session_idle_minutes": 0})
    store = HandoffStore(settings.handoff_database_url)
    store.add_staff("agent1", PASSWORD, "agent")
    client = TestClient(TestServer(create_app(settings, follow_events=False)))
    await client.start_server()
    try:
        assert (await login(client)).status == 303
        await asyncio.sleep(0.01)
        assert (await client.get("/console/api/me")).status == 401
    finally:
        await client.close()
        store.dispose()


async def test_logout_ends_the_session(console):
    client, _, _ = console
    await login(client)
    csrf = await api_csrf(client)
    assert (await client.post("/console/logout", headers={"X-CSRF-Token": csrf})).status == 200
    assert (await client.get("/console/api/me")).status == 401


async def test_figures_and_audit_are_for_supervisors(console):
    client, _, _ = console
    await login(client)
    assert (await client.get("/console/api/figures")).status == 403
    assert (await client.get("/console/api/audit")).status == 403
    client.session.cookie_jar.clear()
    await login(client, username="boss")
    figures = await (await client.get("/console/api/figures?days=7")).json()
    assert figures["conversations"] == 1 and figures["days"] == 7


async def test_console_responses_forbid_inline_script(console):
    client, _, _ = console
    response = await client.get("/console/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_reply_needs_the_conversation_taken_over(console):
    client, store, _ = console
    await login(client)
    csrf = await api_csrf(client)
    response = await client.post(
        "/console/api/conversations/web:victim/reply", json={"text": "您好"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status == 409
    assert "接管" in (await response.json())["error"]
    for body in ({"text": ""}, {"text": "x" * 2001}, {"nope": 1}):
        response = await client.post(
            "/console/api/conversations/web:victim/notes", json=body, headers={"X-CSRF-Token": csrf}
        )
        assert response.status == 400


async def test_staff_text_with_lone_surrogates_is_refused_and_control_characters_dropped(console):
    client, store, _ = console
    await login(client)
    csrf = await api_csrf(client)
    refused = await client.post(
        "/console/api/conversations/web:victim/notes",
        data=b'{"text": "\\u4f60\\ud800"}',
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    )
    assert refused.status == 400 and "lone surrogates" in (await refused.json())["error"]
    kept = await client.post(
        "/console/api/conversations/web:victim/notes",
        json={"text": "回访\x00\x1b客户"},
        headers={"X-CSRF-Token": csrf},
    )
    assert kept.status == 200
    detail = await (await client.get("/console/api/conversations/web:victim")).json()
    assert "回访客户" in json.dumps(detail, ensure_ascii=False)
    search = await client.get("/console/api/search?q=%ED%A0%80")  # a surrogate, percent-encoded
    assert search.status in (200, 400)
