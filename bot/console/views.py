"""The console's pages and JSON API (all behind :func:`bot.console.security.console_guard`).

Staff actions go through :class:`~bot.handoff.rasa_client.RasaClient` first (pause,
deliver, resume) and are recorded in the store and the audit log only once Rasa
accepted them, so the console never shows a state the user's conversation is not in.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from aiohttp import web

from bot.channels.common import has_lone_surrogates, staff_reply_event, without_control_characters
from bot.console.security import (
    CONFIG_KEY,
    PREFIX,
    STORE_KEY,
    current_staff,
    login_form,
    login_submit,
    logout,
    require_supervisor,
)
from bot.console.tasks import TaskBoard
from bot.handoff.ingest import Ingestor, LiveHub
from bot.handoff.rasa_client import RasaApiError, RasaClient
from bot.handoff.store import STATUS_STAFF, STATUSES, HandoffError, HandoffStore
from bot.messages import user_text

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_REPLY_CHARS = 2000

#: What the user is told when staff join, leave or close (texts in bot/messages.py).
TAKEOVER_GREETING = user_text("staff.takeover_greeting")
HAND_BACK_NOTICE = user_text("staff.hand_back_notice")
CLOSE_NOTICE = user_text("staff.close_notice")

HUB_KEY = web.AppKey("console_hub", LiveHub)
RASA_KEY = web.AppKey("console_rasa", RasaClient)
INGESTOR_KEY = web.AppKey("console_ingestor", Ingestor)
TASKS_KEY = web.AppKey("console_tasks", TaskBoard)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _error(message: str, status: int) -> web.Response:
    return _json({"error": message}, status=status)


def _store(request: web.Request) -> HandoffStore:
    return request.app[STORE_KEY]


async def _text_field(request: web.Request, name: str = "text") -> str:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text='{"error": "JSON body expected"}', content_type="application/json") from None
    value = body.get(name) if isinstance(body, dict) else None
    if isinstance(value, str):
        if has_lone_surrogates(value):  # would fail in the store and on every channel
            raise web.HTTPBadRequest(
                text=f'{{"error": "{name} holds characters that cannot be sent (lone surrogates)"}}',
                content_type="application/json",
            )
        value = without_control_characters(value)
    if not isinstance(value, str) or not value.strip():
        raise web.HTTPBadRequest(text=f'{{"error": "{name} must be non-empty text"}}', content_type="application/json")
    if len(value) > MAX_REPLY_CHARS:
        raise web.HTTPBadRequest(
            text=f'{{"error": "{name} is longer than {MAX_REPLY_CHARS} characters"}}',
            content_type="application/json",
        )
    return value.strip()


# --- pages ---------------------------------------------------------------------------------


def _page(name: str):
    async def handler(_: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / name, headers={"Content-Type": "text/html; charset=utf-8"})

    handler.__name__ = f"page_{name.split('.')[0]}"
    return handler


async def console_root(_: web.Request) -> web.Response:
    """/console → /console/ (the conversation list)."""
    return web.Response(status=308, headers={"Location": f"{PREFIX}/"})


# --- API -------------------------------------------------------------------------------------


async def me(request: web.Request) -> web.Response:
    """Who is logged in, their role and the CSRF token for changes."""
    member = current_staff(request)
    config = request.app[CONFIG_KEY]
    return _json(
        {
            "username": member.username,
            "role": member.role,
            "csrf_token": request["csrf"],
            "session_idle_s": config.idle_s,
        }
    )


async def list_conversations(request: web.Request) -> web.Response:
    """Conversations (optionally ``?status=``), waiting ones first."""
    status = request.query.get("status") or None
    if status and status not in STATUSES:
        return _error(f"status must be one of {', '.join(STATUSES)}", 400)
    rows = await asyncio.to_thread(_store(request).list_conversations, status)
    return _json({"conversations": rows, "now": time.time()})


async def conversation_detail(request: web.Request) -> web.Response:
    """One conversation: summary, transcript (with intents) and handoff history."""
    sender_id = request.match_info["sender_id"]
    store = _store(request)
    conversation = await asyncio.to_thread(store.get_conversation, sender_id)
    if conversation is None:
        return _error("no such conversation", 404)
    transcript = await asyncio.to_thread(store.transcript, sender_id)
    return _json(
        {
            "conversation": conversation,
            "messages": transcript,
            "handoffs": await asyncio.to_thread(store.handoff_history, sender_id),
            "now": time.time(),
        }
    )


async def _after_change(request: web.Request, sender_id: str, new_message: bool = False) -> None:
    await request.app[INGESTOR_KEY].announce(sender_id, new_message=new_message)


def _rasa_failed(error: RasaApiError) -> web.Response:
    logger.error("Rasa refused a console action: %s", error)
    return _error("智能助手服务暂时无法处理该操作，请稍后重试。", 502)


async def take_over(request: web.Request) -> web.Response:
    """Take the conversation: pause the assistant and greet the user as staff."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    store = _store(request)
    conversation = await asyncio.to_thread(store.get_conversation, sender_id)
    if conversation is None:
        return _error("no such conversation", 404)
    if conversation["status"] == STATUS_STAFF and conversation["assigned_to"] not in (None, member.username):
        return _error(f"{conversation['assigned_to']} 正在接待该对话", 409)
    try:
        await request.app[RASA_KEY].append_events(
            sender_id,
            [
                {"event": "pause"},
                staff_reply_event(TAKEOVER_GREETING, member.username),
            ],
            deliver=True,
        )
    except RasaApiError as error:
        return _rasa_failed(error)
    try:
        row = await asyncio.to_thread(store.take_over, sender_id, member.username)
    except HandoffError as error:
        return _error(str(error), 409)
    await asyncio.to_thread(store.audit, member.username, "take_over", sender_id)
    await _after_change(request, sender_id)
    return _json({"conversation": row})


async def reply(request: web.Request) -> web.Response:
    """Send a staff reply to the user on their channel."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    text = await _text_field(request)
    store = _store(request)
    conversation = await asyncio.to_thread(store.get_conversation, sender_id)
    if conversation is None:
        return _error("no such conversation", 404)
    if conversation["status"] != STATUS_STAFF or conversation["assigned_to"] != member.username:
        return _error("请先接管该对话再回复。", 409)
    try:
        await request.app[RASA_KEY].send_staff_message(sender_id, text, member.username)
    except RasaApiError as error:
        return _rasa_failed(error)
    await asyncio.to_thread(store.audit, member.username, "reply", sender_id, text)
    return _json({"ok": True})


async def add_note(request: web.Request) -> web.Response:
    """A private note on the conversation (never sent to the user)."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    text = await _text_field(request)
    try:
        note = await asyncio.to_thread(_store(request).add_note, sender_id, member.username, text)
    except HandoffError as error:
        return _error(str(error), 404)
    await asyncio.to_thread(_store(request).audit, member.username, "note", sender_id)
    await _after_change(request, sender_id, new_message=True)
    return _json({"note": note})


async def _end(request: web.Request, close: bool) -> web.Response:
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    store = _store(request)
    conversation = await asyncio.to_thread(store.get_conversation, sender_id)
    if conversation is None:
        return _error("no such conversation", 404)
    holder = conversation["assigned_to"]
    if conversation["status"] == STATUS_STAFF and holder not in (None, member.username) and not member.is_supervisor:
        return _error(f"{holder} 正在接待该对话", 409)
    try:
        await request.app[RASA_KEY].append_events(
            sender_id,
            [
                {"event": "resume"},
                {
                    "event": "bot",
                    "text": CLOSE_NOTICE if close else HAND_BACK_NOTICE,
                    "metadata": {"handoff_notice": True},
                },
                # While paused, Rasa logged user messages without listening in between;
                # without this the policies see no "action_listen" before the next
                # message, no rule applies, and the fallback repeats until the
                # circuit breaker stops it.
                {"event": "action", "name": "action_listen"},
            ],
            deliver=True,
        )
    except RasaApiError as error:
        return _rasa_failed(error)
    row = await asyncio.to_thread(store.end_handoff, sender_id, member.username, close=close)
    await asyncio.to_thread(store.audit, member.username, "close" if close else "hand_back", sender_id)
    await _after_change(request, sender_id)
    return _json({"conversation": row})


async def hand_back(request: web.Request) -> web.Response:
    """Give the conversation back to the assistant (slots and history intact)."""
    return await _end(request, close=False)


async def close(request: web.Request) -> web.Response:
    """Close the conversation (the assistant answers if the user writes again)."""
    return await _end(request, close=True)


def _iso(at: Optional[float]) -> Optional[str]:
    return datetime.fromtimestamp(at, timezone.utc).isoformat() if at else None


async def export(request: web.Request) -> web.Response:
    """Download a conversation (``?format=json`` default, or ``txt``)."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    store = _store(request)
    conversation = await asyncio.to_thread(store.get_conversation, sender_id)
    if conversation is None:
        return _error("no such conversation", 404)
    messages = await asyncio.to_thread(store.transcript, sender_id)
    fmt = request.query.get("format", "json")
    safe_name = "".join(c if c.isalnum() or c in "-_" else "_" for c in sender_id)[:80]
    await asyncio.to_thread(store.audit, member.username, "export", sender_id, fmt)
    if fmt == "txt":
        lines = [
            f"对话 {sender_id}（渠道：{conversation['channel'] or '未知'}，企业：{conversation['company'] or '未知'}）"
        ]
        labels = {"user": "用户", "bot": "助手", "staff": "工作人员", "note": "内部备注", "system": "系统"}
        for m in messages:
            who = labels.get(m["kind"], m["kind"]) + (f"·{m['author']}" if m["author"] else "")
            lines.append(f"[{_iso(m['at'])}] {who}: {m['text']}")
        body, ctype, ext = "\n".join(lines) + "\n", "text/plain", "txt"
    elif fmt == "json":
        payload = {
            "conversation": {**conversation, "started_at": _iso(conversation["started_at"])},
            "handoffs": await asyncio.to_thread(store.handoff_history, sender_id),
            "messages": [{**m, "at": _iso(m["at"])} for m in messages],
            "exported_by": member.username,
            "exported_at": _iso(time.time()),
        }
        body, ctype, ext = json.dumps(payload, ensure_ascii=False, indent=2), "application/json", "json"
    else:
        return _error("format must be json or txt", 400)
    return web.Response(
        text=body,
        content_type=ctype,
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="conversation-{safe_name}.{ext}"'},
    )


async def search(request: web.Request) -> web.Response:
    """Messages containing ``?q=`` across all transcripts."""
    query = request.query.get("q", "").strip()
    if not query:
        return _json({"results": []})
    if len(query) > 100:
        return _error("query longer than 100 characters", 400)
    if has_lone_surrogates(query):
        return _error("query holds characters that cannot be searched", 400)
    results = await asyncio.to_thread(_store(request).search, query)
    return _json({"results": results})


async def tasks(request: web.Request) -> web.Response:
    """Expert-contact requests, published demands and registered products to handle."""
    board = request.app[TASKS_KEY]
    return _json(await asyncio.to_thread(board.list))


async def task_done(request: web.Request) -> web.Response:
    """Mark a task done."""
    member = current_staff(request)
    kind, item_id = request.match_info["kind"], request.match_info["item_id"]
    board = request.app[TASKS_KEY]
    try:
        await asyncio.to_thread(board.mark_done, kind, item_id, member.username)
    except KeyError as error:
        return _error(str(error.args[0]), 404)
    await asyncio.to_thread(_store(request).audit, member.username, "task_done", None, f"{kind}:{item_id}")
    return _json({"ok": True})


async def figures(request: web.Request) -> web.Response:
    """Supervisor figures over ``?days=`` (default 30)."""
    require_supervisor(request)
    try:
        days = max(1, min(365, int(request.query.get("days", "30"))))
    except ValueError:
        return _error("days must be a number", 400)
    return _json(await asyncio.to_thread(_store(request).figures, days))


async def audit_entries(request: web.Request) -> web.Response:
    """The audit log, newest first (supervisors)."""
    require_supervisor(request)
    return _json({"entries": await asyncio.to_thread(_store(request).audit_entries, 300)})


async def live_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: conversation updates and handoff alerts, as they happen."""
    hub = request.app[HUB_KEY]
    store = _store(request)
    config = request.app[CONFIG_KEY]
    token = request["session_token"]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    queue = hub.subscribe()
    try:
        await response.write(b"event: ready\ndata: {}\n\n")
        while hub.is_subscribed(queue):
            try:
                update = await asyncio.wait_for(queue.get(), timeout=15)
            except asyncio.TimeoutError:
                session = await asyncio.to_thread(store.resolve_session, token, config.idle_s, config.max_age_s, False)
                if session is None:
                    await response.write(b"event: logout\ndata: {}\n\n")
                    break
                await response.write(b": ping\n\n")
                continue
            data = json.dumps(update, ensure_ascii=False)
            await response.write(f"event: {update['type']}\ndata: {data}\n\n".encode("utf-8"))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(queue)
    return response


def add_routes(app: web.Application) -> None:
    """Register the console's pages and API on ``app`` under ``/console``."""
    api = f"{PREFIX}/api"
    conv = f"{api}/conversations/{{sender_id}}"
    app.router.add_get(PREFIX, console_root)
    app.router.add_get(f"{PREFIX}/login", login_form)
    app.router.add_post(f"{PREFIX}/login", login_submit)
    app.router.add_post(f"{PREFIX}/logout", logout)
    app.router.add_get(f"{PREFIX}/", _page("index.html"))
    app.router.add_get(f"{PREFIX}/tasks", _page("tasks.html"))
    app.router.add_get(f"{PREFIX}/search", _page("search.html"))
    app.router.add_get(f"{PREFIX}/figures", _page("figures.html"))
    app.router.add_static(f"{PREFIX}/static", STATIC_DIR, append_version=False)
    app.router.add_get(f"{api}/me", me)
    app.router.add_get(f"{api}/conversations", list_conversations)
    app.router.add_get(conv, conversation_detail)
    app.router.add_post(f"{conv}/take-over", take_over)
    app.router.add_post(f"{conv}/reply", reply)
    app.router.add_post(f"{conv}/notes", add_note)
    app.router.add_post(f"{conv}/hand-back", hand_back)
    app.router.add_post(f"{conv}/close", close)
    app.router.add_get(f"{conv}/export", export)
    app.router.add_get(f"{api}/events", live_events)
    app.router.add_get(f"{api}/search", search)
    app.router.add_get(f"{api}/tasks", tasks)
    app.router.add_post(f"{api}/tasks/{{kind}}/{{item_id}}/done", task_done)
    app.router.add_get(f"{api}/figures", figures)
    app.router.add_get(f"{api}/audit", audit_entries)


__all__ = ["add_routes", "HUB_KEY", "RASA_KEY", "INGESTOR_KEY", "TASKS_KEY"]
