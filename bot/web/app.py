"""The public web gateway: the only thing users and staff reach over HTTP.

It serves the staff console (``/console``), lets the widget package mount its assets
and demo portal (``bot.widget.routes.setup(app)``), and
reverse-proxies exactly the channel endpoints of the Rasa server: ``/webhooks/*``
(HTTP) and ``/socket.io/*`` (long-polling and websocket). A REST user's message is
shown in the console as it passes through, before Rasa has understood it
(:func:`_show_rest_message`). Rasa's own API
(``/conversations``, ``/model``, …) stays on loopback behind its token, reachable only
through :class:`bot.handoff.rasa_client.RasaClient`.

It also follows what Rasa stores in the background and feeds the console
(:mod:`bot.handoff.events`; ``/healthz/feed`` says how far behind that feed is), and
answers ``/healthz`` and ``/readyz`` (:mod:`bot.web.health`). With several gateways
(production profile) the console's live updates travel through Redis, so staff see
every conversation whichever gateway their browser is on.
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Optional, Tuple

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from bot.channels.common import REST_CHANNEL_PREFIX, checked_user_text
from bot.channels.payloads import is_payload
from bot.channels.rest_calls import (
    CONSOLE_MESSAGE_ID_HEADER,
    CONSOLE_MESSAGE_TAKEN_HEADER,
    RestRequestRefused,
    new_console_message_id,
    read_call,
)
from bot.console import ConsoleConfig, setup_console
from bot.console.desk import RedisPresence, presence_for
from bot.console.tasks import TaskBoard
from bot.handoff.doorbell import SOCKET_NAME
from bot.handoff.events import TrackerEventFeed, feed_for, follow
from bot.handoff.ingest import FOLLOWED_SLOTS, Ingestor, LiveHub, RedisLiveHub
from bot.handoff.rasa_client import RasaClient
from bot.handoff.store import HandoffStore, LoginPolicy
from bot.messages import user_text
from bot.metrics import FeedObserver
from bot.settings import Settings
from bot.shared_state import RedisState, channel_state
from bot.web.health import Readiness, healthz, readyz_handler
from bot.widget import routes as widget_routes

logger = logging.getLogger(__name__)

#: Path prefixes forwarded to Rasa. Nothing else of Rasa is reachable through here.
PROXIED_PREFIXES = ("/webhooks/", "/socket.io/")

#: Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus those
#: aiohttp recomputes.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
    }
)
#: Paths that could be re-interpreted upstream (dot segments, encoded slashes) are refused.
_SUSPICIOUS_PATH = re.compile(r"(^|/)\.\.?(/|$)|%2e|%2f|%5c|\\|//", re.IGNORECASE)
MAX_PROXIED_BODY = 1024 * 1024
#: Answers of a load balancer in front of Rasa meaning "no Rasa server answered".
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
#: Seconds after which a user (or client) should send again when Rasa is unavailable.
RETRY_AFTER_S = 3

#: The REST channel's webhook: its messages are shown in the console as they arrive.
REST_WEBHOOK_PATH = "/webhooks/rest/webhook"
#: Longest wait (seconds) for the console database before a REST message goes on to Rasa.
SHOW_TIMEOUT_S = 1.0
_CONSOLE_MESSAGE_ID_LOWER = CONSOLE_MESSAGE_ID_HEADER.lower()
#: Upstream headers not passed back: hop-by-hop ones and the REST channel's note to us.
_NOT_PASSED_BACK = HOP_BY_HOP | {CONSOLE_MESSAGE_TAKEN_HEADER.lower()}

UPSTREAM_KEY = web.AppKey("gateway_upstream", str)
REST_API_KEY_KEY = web.AppKey("rest_api_key", str)
HTTP_KEY = web.AppKey("gateway_http", aiohttp.ClientSession)
FEED_KEY = web.AppKey("console_feed", TrackerEventFeed)
INGESTOR_APP_KEY = web.AppKey("console_feed_ingestor", Ingestor)
LAG_ALERT_KEY = web.AppKey("console_feed_lag_alert_s", float)


def _upstream_path(request: web.Request) -> Optional[str]:
    raw_path = request.raw_path
    path_only = raw_path.split("?", 1)[0]
    if not path_only.startswith(PROXIED_PREFIXES) or _SUSPICIOUS_PATH.search(path_only):
        return None
    return raw_path


def _forward_headers(request: web.Request) -> dict:
    headers = {
        k: v
        for k, v in request.headers.items()
        if k.lower() not in HOP_BY_HOP and k.lower() != _CONSOLE_MESSAGE_ID_LOWER
    }
    # Keep Host as the browser sent it, so python-socketio's same-origin check sees
    # the origin the browser really talks to.
    headers["Host"] = request.host
    forwarded_for = request.headers.get("X-Forwarded-For")
    peer = request.remote or ""
    headers["X-Forwarded-For"] = f"{forwarded_for}, {peer}" if forwarded_for else peer
    headers["X-Forwarded-Proto"] = request.scheme
    return headers


async def proxy_to_rasa(request: web.Request) -> web.StreamResponse:
    """Forward a channel request (HTTP or websocket) to the Rasa server."""
    path = _upstream_path(request)
    if path is None:
        raise web.HTTPNotFound()
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _proxy_websocket(request, path)
    if request.content_length and request.content_length > MAX_PROXIED_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_PROXIED_BODY, request.content_length)
    body = await request.read()
    if len(body) > MAX_PROXIED_BODY:
        raise web.HTTPRequestEntityTooLarge(MAX_PROXIED_BODY, len(body))
    url = request.app[UPSTREAM_KEY] + path
    forwarded = _forward_headers(request)
    is_rest_message = request.method == "POST" and request.path == REST_WEBHOOK_PATH
    shown = await _show_rest_message(request, body) if is_rest_message else None
    if shown is not None:
        forwarded[CONSOLE_MESSAGE_ID_HEADER] = shown[1]
    taken = False
    try:
        async with request.app[HTTP_KEY].request(
            request.method,
            url,
            headers=forwarded,
            data=body if body else None,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _NOT_PASSED_BACK}
            # The body is passed on still compressed (auto_decompress=False), so its
            # Content-Encoding must go with it: engine.io gzips polling answers > 1 KiB.
            if "Content-Encoding" in upstream.headers:
                headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
            upstream_status = upstream.status
            taken = shown is not None and upstream.headers.get(CONSOLE_MESSAGE_TAKEN_HEADER) == shown[1]
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        logger.error("Rasa did not answer %s %s: %s", request.method, path.split("?")[0], error)
        return await _after_undelivered(request, shown, unavailable(path))
    if upstream_status in UNAVAILABLE_STATUSES:
        logger.error("Rasa unavailable for %s %s: HTTP %s", request.method, path.split("?")[0], upstream_status)
        return await _after_undelivered(request, shown, unavailable(path))
    answer = web.Response(status=upstream_status, body=payload, headers=headers)
    return answer if taken or shown is None else await _after_undelivered(request, shown, answer)


async def _after_undelivered(
    request: web.Request, shown: Optional[Tuple[str, str]], answer: web.Response
) -> web.Response:
    """``answer``, after taking back from the console the message shown as it arrived
    when the assistant did not take its turn (no Rasa server answered, the turn failed,
    no model is loaded). Should Rasa have stored it after all, the feed stores it again."""
    if shown is not None:
        try:
            await request.app[INGESTOR_APP_KEY].withdraw_user_message(*shown)
        except sa.exc.SQLAlchemyError:
            logger.exception("could not take back %s's undelivered message from the console", shown[0])
    return answer


async def _show_rest_message(request: web.Request, body: bytes) -> Optional[Tuple[str, str]]:
    """Show a REST user's message in the staff console now, before Rasa (which may be
    busy with other users' turns) has understood it. Returns the conversation and the id
    Rasa is to give the message, or None when the call is one the REST channel refuses
    or answers without the assistant (it is then stored, if at all, the usual way)."""
    try:
        call = read_call(request.headers, request.remote or "", body, request.app[REST_API_KEY_KEY])
    except RestRequestRefused:
        return None
    text, rejection = checked_user_text(call.message)
    if rejection or is_payload(text):
        return None
    message_id = new_console_message_id()
    show = asyncio.ensure_future(
        request.app[INGESTOR_APP_KEY].show_user_message(call.conversation_id, message_id, text, REST_CHANNEL_PREFIX)
    )
    try:
        await asyncio.wait_for(asyncio.shield(show), SHOW_TIMEOUT_S)
    except asyncio.TimeoutError:
        # A slow console database must not hold the reply. The message is stored when the
        # write ends; Rasa's event, carrying the id, completes it (or stores it, if first).
        logger.warning("showing %s's message in the console took over %s s", call.conversation_id, SHOW_TIMEOUT_S)
        show.add_done_callback(_log_late_failure)
    except sa.exc.SQLAlchemyError:
        # The console database is away: Rasa stores the message and the feed brings it later.
        logger.exception("could not show %s's message in the console as it arrived", call.conversation_id)
        return None
    return call.conversation_id, message_id


def _log_late_failure(show: "asyncio.Future[None]") -> None:
    if not show.cancelled() and show.exception() is not None:
        logger.error("showing a message in the console failed late: %r", show.exception())


def unavailable(path: str) -> web.Response:
    """What a user gets when no Rasa server could answer (one died mid-turn, all are
    restarting): at once, a clear message and when to try again, never a hang.

    REST clients get it as the assistant's reply (``text``), so a chat front end
    shows it like any answer; other channels get it as ``error``."""
    text = user_text("channel.unavailable")
    headers = {"Retry-After": str(RETRY_AFTER_S)}
    if path.startswith("/webhooks/rest/"):
        return web.json_response([{"text": text, "unavailable": True}], status=503, headers=headers)
    return web.json_response({"error": text}, status=503, headers=headers)


async def _proxy_websocket(request: web.Request, path: str) -> web.StreamResponse:
    headers = {
        k: v
        for k, v in _forward_headers(request).items()
        if k.lower() not in {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
    }
    url = request.app[UPSTREAM_KEY].replace("http", "ws", 1) + path
    try:
        upstream = await request.app[HTTP_KEY].ws_connect(url, headers=headers, autoping=False)
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        logger.error("Rasa refused the websocket %s: %s", path.split("?")[0], error)
        return unavailable(path)
    client = web.WebSocketResponse(autoping=False)
    await client.prepare(request)

    async def pump(source, target) -> None:
        async for message in source:
            if message.type == aiohttp.WSMsgType.TEXT:
                await target.send_str(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await target.send_bytes(message.data)
            elif message.type == aiohttp.WSMsgType.PING:
                await target.ping(message.data)
            elif message.type == aiohttp.WSMsgType.PONG:
                await target.pong(message.data)
            else:
                break

    tasks = [asyncio.ensure_future(pump(client, upstream)), asyncio.ensure_future(pump(upstream, client))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await upstream.close()
        await client.close()
    return client


def _redirect(location: str):
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=303, headers={"Location": location})

    return handler


async def feed_health(request: web.Request) -> web.Response:
    """How far the console is behind what Rasa stored: 200 when it keeps up, 503 when
    the oldest event not taken in is older than the alert threshold or the feed is not
    running. Also counts events set aside (could not be stored; kept for inspection)."""
    feed = request.app.get(FEED_KEY)
    if feed is None:
        return web.json_response({"ok": False, "reason": "the console feed is off"}, status=503)
    state = feed.state
    try:
        lag = await asyncio.to_thread(feed.lag)
    except sa.exc.SQLAlchemyError as error:
        lag = {"pending_events": None, "oldest_pending_age_s": None, "error": str(error.__class__.__name__)}
    threshold = request.app[LAG_ALERT_KEY]
    age = lag.get("oldest_pending_age_s")
    lagging = age is not None and age > threshold
    body = {
        "ok": state.running and not lagging,
        "running": state.running,
        "position": state.position,
        **lag,
        "lag_alert_s": threshold,
        "events_taken_in": state.events,
        "set_aside": request.app[INGESTOR_APP_KEY].set_aside_count,
        "errors": state.errors,
        "last_error": state.last_error,
    }
    return web.json_response(body, status=200 if body["ok"] else 503)


def create_app(settings: Settings, *, follow_events: bool = True) -> web.Application:
    """The gateway application for ``settings`` (console, widget, channel proxy).

    ``follow_events=False`` leaves the event broker alone (tests of the console's
    security that have no Rasa).
    """
    app = web.Application(client_max_size=MAX_PROXIED_BODY)
    store = HandoffStore(
        settings.handoff_database_url,
        settings.office_timezone,
        login_policy=LoginPolicy(free_failures=settings.console_login_attempts),
    )
    hub = (
        RedisLiveHub(settings.redis_url, f"{settings.redis_key_prefix}:console")
        if settings.shares_state
        else LiveHub()
    )
    rasa = RasaClient(settings.rasa_url, settings.rasa_api_token())
    ingestor = Ingestor(store, hub, rasa)
    presence = presence_for(settings)
    shared_state = channel_state(settings)
    # The channel proxy first: aiohttp tries routes in the order they were added, and
    # every user message comes this way (none of the console's routes starts alike).
    for prefix in PROXIED_PREFIXES:
        app.router.add_route("*", prefix + "{tail:.*}", proxy_to_rasa)
    setup_console(
        app,
        store=store,
        hub=hub,
        rasa=rasa,
        ingestor=ingestor,
        config=ConsoleConfig(
            idle_s=settings.console_session_idle_minutes * 60,
            max_age_s=settings.console_session_max_hours * 3600,
            cookie_secure=settings.console_cookie_secure,
            agent_cap=settings.console_agent_cap,
            sla_first_reply_s=settings.console_sla_first_reply_seconds,
            sla_waiting_s=settings.console_sla_waiting_seconds,
        ),
        tasks=TaskBoard(store, settings.platform_database_url),
        presence=presence,
        shared_state=shared_state,
    )
    app[UPSTREAM_KEY] = settings.rasa_url.rstrip("/")
    app[REST_API_KEY_KEY] = settings.rest_api_key
    readiness = Readiness(settings, lambda: app[HTTP_KEY])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz_handler(readiness))
    app.router.add_get("/healthz/feed", feed_health)
    app[INGESTOR_APP_KEY] = ingestor
    app[LAG_ALERT_KEY] = settings.console_feed_lag_alert_s
    feed = None
    if follow_events:
        feed = feed_for(
            settings.console_feed_url, store,
            broker_url=settings.event_broker_url, queue=settings.event_broker_queue,
            doorbell=settings.var_dir / SOCKET_NAME, check_s=settings.console_feed_check_s,
            followed_slots=FOLLOWED_SLOTS,
        )
        app[FEED_KEY] = feed
    widget_routes.setup(app)
    app.router.add_get("/", _redirect("/portal/"))  # the front page: the demo portal

    async def lifecycle(app: web.Application):
        app[HTTP_KEY] = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120), auto_decompress=False
        )
        background = []
        if isinstance(hub, RedisLiveHub):
            background.append(asyncio.create_task(hub.relay()))
        if feed is not None:
            logger.info("console follows %s, woken by %s", feed.description, feed.wakeup.description)
            background.append(asyncio.create_task(follow(feed, FeedObserver(ingestor, store.queue_state))))
        yield
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if feed is not None:
            feed.dispose()
        readiness.dispose()
        await app[HTTP_KEY].close()
        await rasa.close()
        if isinstance(presence, RedisPresence):
            await presence.close()
        if isinstance(shared_state, RedisState):
            await shared_state.close()
        store.dispose()

    app.cleanup_ctx.append(lifecycle)
    return app
