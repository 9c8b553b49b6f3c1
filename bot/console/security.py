"""Console security: login, sessions, CSRF, rate limiting and response headers.

Every route under ``/console`` passes :func:`console_guard`. Apart from the login form
and its stylesheet (:data:`PUBLIC_ROUTES`), a request needs a live session cookie;
a request that changes anything also needs the session's CSRF token in the
``X-CSRF-Token`` header and, when the browser sends one, a same-origin ``Origin``.
"""
from __future__ import annotations

import asyncio
import html
import logging
import math
import secrets
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Dict, Optional, Set
from urllib.parse import quote, urlsplit

from aiohttp import web

from bot.handoff.store import HandoffStore, StaffMember

logger = logging.getLogger(__name__)

PREFIX = "/console"
SESSION_COOKIE = "cybot_console_session"
LOGIN_CSRF_COOKIE = "cybot_console_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
#: Sent by the console's own timers: such requests do not keep a session alive.
BACKGROUND_HEADER = "X-Console-Background"

#: (method, path) pairs reachable without a session: only the login form itself.
PUBLIC_ROUTES = frozenset(
    {
        ("GET", f"{PREFIX}/login"),
        ("POST", f"{PREFIX}/login"),
        ("GET", f"{PREFIX}/static/console.css"),
        ("GET", f"{PREFIX}/static/login.js"),
    }
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; media-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class ConsoleConfig:
    """What the console's security needs from settings."""

    idle_s: float
    max_age_s: float
    cookie_secure: bool
    #: Conversations an agent may hold at once.
    agent_cap: int = 5
    #: Targets (seconds) for the first human reply and for waiting; breaches are highlighted.
    sla_first_reply_s: float = 120
    sla_waiting_s: float = 300


@dataclass
class SessionStreams:
    """The live event streams open per session, so that logging out ends them at once
    (the stream also re-checks its session periodically, for logouts elsewhere)."""

    _queues: Dict[str, Set[asyncio.Queue]] = field(default_factory=dict)

    def register(self, token: str, queue: asyncio.Queue) -> None:
        self._queues.setdefault(token, set()).add(queue)

    def unregister(self, token: str, queue: asyncio.Queue) -> None:
        queues = self._queues.get(token)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[token]

    def end(self, token: str) -> None:
        """Tell every stream of ``token``'s session that it logged out."""
        for queue in self._queues.pop(token, set()):
            try:
                queue.put_nowait({"type": "logout"})
            except asyncio.QueueFull:
                queue.get_nowait()
                queue.put_nowait({"type": "logout"})


STORE_KEY = web.AppKey("console_store", HandoffStore)
CONFIG_KEY = web.AppKey("console_config", ConsoleConfig)
STREAMS_KEY = web.AppKey("console_streams", SessionStreams)


def current_staff(request: web.Request) -> StaffMember:
    """The logged-in staff member (set by :func:`console_guard`)."""
    return request["staff"]


def client_address(request: web.Request) -> str:
    """The peer address (the gateway is the public entry point, so no proxy header
    is trusted: a forged X-Forwarded-For must not dodge the login limit)."""
    return request.remote or "unknown"


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser-initiated cross-site request
        return True
    parts = urlsplit(origin)
    return parts.scheme == request.scheme and parts.netloc == request.host


def _is_public(request: web.Request) -> bool:
    return (request.method, request.path) in PUBLIC_ROUTES or (
        request.method == "HEAD" and ("GET", request.path) in PUBLIC_ROUTES
    )


def _refuse_without_login(request: web.Request) -> web.StreamResponse:
    if request.path.startswith(f"{PREFIX}/api/") or request.method not in SAFE_METHODS:
        return web.json_response({"error": "login required"}, status=401)
    target = quote(request.path_qs, safe="")
    return web.Response(status=303, headers={"Location": f"{PREFIX}/login?next={target}"})


@web.middleware
async def console_guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Login, CSRF and security headers for every ``/console`` route."""
    if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")):
        return await handler(request)
    response = await _guarded(request, handler)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _guarded(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.method not in SAFE_METHODS and not _same_origin(request):
        return web.json_response({"error": "cross-origin request refused"}, status=403)
    if _is_public(request):
        return await handler(request)
    token = request.cookies.get(SESSION_COOKIE)
    store = request.app[STORE_KEY]
    config = request.app[CONFIG_KEY]
    touch = request.headers.get(BACKGROUND_HEADER) != "1" and request.path != f"{PREFIX}/api/events"
    resolved = (
        await asyncio.to_thread(store.resolve_session, token, config.idle_s, config.max_age_s, touch)
        if token
        else None
    )
    if resolved is None:
        return _refuse_without_login(request)
    member, csrf = resolved
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not secrets.compare_digest(sent, csrf):
            logger.warning("CSRF token missing or wrong for %s %s (%s)", request.method, request.path, member.username)
            return web.json_response({"error": "CSRF token missing or wrong"}, status=403)
    request["staff"] = member
    request["csrf"] = csrf
    request["session_token"] = token
    return await handler(request)


def require_supervisor(request: web.Request) -> StaffMember:
    """The staff member, if supervisor or admin; else 403."""
    member = current_staff(request)
    if not member.is_supervisor:
        raise web.HTTPForbidden(
            text='{"error": "仅主管和管理员可以查看或操作此项。"}', content_type="application/json"
        )
    return member


def require_admin(request: web.Request) -> StaffMember:
    """The staff member, if admin; else 403."""
    member = current_staff(request)
    if not member.is_admin:
        raise web.HTTPForbidden(text='{"error": "仅管理员可以管理账号。"}', content_type="application/json")
    return member


# --- login / logout -----------------------------------------------------------------------

_LOGIN_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 · 成渝助手工作台</title>
<link rel="stylesheet" href="{prefix}/static/console.css">
<script src="{prefix}/static/login.js" defer></script></head>
<body class="login-page"><main class="login-box">
<h1>成渝助手 · 人工工作台</h1>
{message}
<form method="post" action="{prefix}/login">
<input type="hidden" name="csrf_token" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label for="username">用户名</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">密码</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">登录</button>
</form></main></body></html>"""


def _safe_next(value: Optional[str]) -> str:
    """Only same-site console paths are followed after login."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/"


def _login_page(request: web.Request, message: str = "", status: int = 200, next_path: str = "") -> web.Response:
    csrf = secrets.token_urlsafe(24)
    body = _LOGIN_PAGE.format(
        prefix=PREFIX,
        csrf=csrf,
        next=html.escape(_safe_next(next_path or request.query.get("next")), quote=True),
        message=f'<p class="error" role="alert">{html.escape(message)}</p>' if message else "",
    )
    response = web.Response(text=body, content_type="text/html", status=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="Strict",
        path=f"{PREFIX}/login",
        secure=request.app[CONFIG_KEY].cookie_secure,
    )
    return response


async def login_form(request: web.Request) -> web.Response:
    """GET /console/login: the login form."""
    return _login_page(request)


async def login_submit(request: web.Request) -> web.StreamResponse:
    """POST /console/login: check the password (rate-limited) and open a session."""
    form = await request.post()
    next_path = _safe_next(str(form.get("next", "")))
    cookie_csrf = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    form_csrf = str(form.get("csrf_token", ""))
    if not cookie_csrf or not secrets.compare_digest(cookie_csrf, form_csrf):
        return _login_page(request, "页面已过期，请重新登录。", status=403, next_path=next_path)
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))
    store = request.app[STORE_KEY]
    config = request.app[CONFIG_KEY]
    address = client_address(request)
    wait_s = await asyncio.to_thread(store.login_wait_s, username, address)
    if wait_s > 0:
        seconds = math.ceil(wait_s)
        response = _login_page(
            request, f"登录失败次数过多，请 {seconds} 秒后再试。", status=429, next_path=next_path
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    member = await asyncio.to_thread(store.check_login, username, password, address)
    if member is None:
        return _login_page(request, "用户名或密码不正确。", status=401, next_path=next_path)
    token, _ = await asyncio.to_thread(store.create_session, member)
    await asyncio.to_thread(store.audit, member.username, "login", None, address)
    response = web.Response(status=303, headers={"Location": next_path})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        path=PREFIX,
        secure=config.cookie_secure,
        max_age=int(config.max_age_s),
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path=f"{PREFIX}/login")
    return response


async def logout(request: web.Request) -> web.Response:
    """POST /console/logout: end the session."""
    store = request.app[STORE_KEY]
    token = request["session_token"]
    await asyncio.to_thread(store.end_session, token)
    request.app[STREAMS_KEY].end(token)
    await asyncio.to_thread(store.audit, current_staff(request).username, "logout")
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path=PREFIX)
    return response
