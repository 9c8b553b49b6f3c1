"""The console's pages and JSON API (all behind :func:`bot.console.security.console_guard`).

Each handler only translates HTTP to the store and Rasa: whether an action is allowed
is decided by :mod:`bot.handoff.lifecycle` (one transition table, one ownership rule),
and every store call runs in a worker thread, never on the gateway's event loop.

A take-over is claimed in the store first (atomically: of two staff pressing at once,
one wins and only one greeting reaches the user), then Rasa pauses the assistant and
delivers the greeting; if Rasa refuses, the claim is undone. Hand-back and close go to
Rasa first and are recorded once it accepted them.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

from aiohttp import web

from bot.channels.common import has_lone_surrogates, staff_reply_event, without_control_characters
from bot.console.admin import add_admin_routes
from bot.console.desk import PRESENCE_KEY, add_desk_routes, conversation_filter, staff_timezone
from bot.console.matchlist import NoMatchList, asked_for_matches, last_list_kind, last_list_reply, match_list_events
from bot.console.replies import error_reply, json_object, json_reply
from bot.console.security import (
    BACKGROUND_HEADER,
    CONFIG_KEY,
    PREFIX,
    STORE_KEY,
    STREAMS_KEY,
    current_staff,
    login_form,
    login_submit,
    logout,
    require_supervisor,
)
from bot.console.tasks import TaskBoard
from bot.handoff.accounts import TEAMS
from bot.handoff.ingest import Ingestor, LiveHub
from bot.handoff.lifecycle import Action, HandoffConflict, Status, allowed_actions
from bot.handoff.rasa_client import RasaApiError, RasaClient
from bot.handoff.ratings import rating_buttons
from bot.handoff.store import STATUSES, HandoffError, HandoffStore
from bot.handoff.summary import summarise
from bot.handoff.transcripts import DEFAULT_PAGE, MAX_PAGE, masked_conversation
from bot.messages import user_text
from bot.shared_state import KeyValueState

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_REPLY_CHARS = 2000

#: What the user is told when staff join, leave or close (texts in bot/messages.py).
TAKEOVER_GREETING = user_text("staff.takeover_greeting")
HAND_BACK_NOTICE = user_text("staff.hand_back_notice")
CLOSE_NOTICE = user_text("staff.close_notice")
RATING_REQUEST = user_text("rating.request")

HUB_KEY = web.AppKey("console_hub", LiveHub)
RASA_KEY = web.AppKey("console_rasa", RasaClient)
INGESTOR_KEY = web.AppKey("console_ingestor", Ingestor)
TASKS_KEY = web.AppKey("console_tasks", TaskBoard)
#: State the gateways share (Redis on the production profile): the typing throttle.
SHARED_STATE_KEY = web.AppKey("console_shared_state", KeyValueState)

#: Least seconds between two typing signals to one conversation: the widget shows one
#: for a few seconds and Telegram's chat action lasts about five, so one per three
#: seconds keeps the signal on while staff type, without a call per keystroke.
TYPING_SIGNAL_INTERVAL_S = 3.0
#: Channels that show staff typing (:mod:`bot.channels.typing`): the widget, Telegram's
#: chat action and the Official Account's ``message/custom/typing`` (WeChat accepts that
#: only shortly after the follower wrote). WeCom's application messages have no such signal.
TYPING_CHANNELS = frozenset({"socketio", "telegram", "wechat"})
_TYPING_NAMESPACE = "console-staff-typing"


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
    return json_reply(
        {
            "username": member.username,
            "role": member.role,
            "csrf_token": request["csrf"],
            "session_idle_s": config.idle_s,
            "display_name": member.display_name,
            "teams": list(member.teams),
            "sla_first_reply_s": config.sla_first_reply_s,
            "sla_waiting_s": config.sla_waiting_s,
        }
    )


def _paging(request: web.Request) -> tuple:
    """``?limit=`` and ``?offset=`` (400 when not whole numbers)."""
    try:
        limit = int(request.query.get("limit", DEFAULT_PAGE))
        offset = int(request.query.get("offset", 0))
    except ValueError:
        raise web.HTTPBadRequest(
            text='{"error": "limit 和 offset 必须是整数"}', content_type="application/json"
        ) from None
    return max(1, min(MAX_PAGE, limit)), max(0, offset)


async def list_conversations(request: web.Request) -> web.Response:
    """One page of conversations, waiting ones first (longest waiting on top):
    ``?status= &channel= &assignee= &unanswered=1 &limit= &offset=``; the answer
    says the total so the console can page."""
    status = request.query.get("status") or None
    if status and status not in STATUSES:
        return error_reply(f"状态必须是 {', '.join(STATUSES)} 之一", 400)
    limit, offset = _paging(request)
    where = conversation_filter(request)
    page = await asyncio.to_thread(_store(request).page_conversations, where, limit, offset)
    return json_reply({**page, "now": time.time()})


async def conversation_detail(request: web.Request) -> web.Response:
    """One conversation: summary, transcript (with intents) and handoff history."""
    sender_id = request.match_info["sender_id"]
    store = _store(request)
    conversation = await asyncio.to_thread(store.get_conversation, sender_id)
    if conversation is None:
        return error_reply("没有这个对话。", 404)
    member = current_staff(request)
    transcript = await asyncio.to_thread(store.transcript, sender_id)
    history = await asyncio.to_thread(store.handoff_history, sender_id)
    if request.headers.get(BACKGROUND_HEADER) != "1":
        await asyncio.to_thread(store.mark_read, sender_id)
    return json_reply(
        {
            "conversation": conversation,
            "allowed_actions": allowed_actions(conversation, member),
            "summary": summarise(
                transcript, history[-1] if history else None, json.loads(conversation["slots"] or "{}")
            ),
            "labels": await asyncio.to_thread(store.labels_of, sender_id),
            "viewers": await request.app[PRESENCE_KEY].saw(sender_id, member.username),
            "match_list": asked_for_matches(transcript),
            "messages": transcript,
            "handoffs": history,
            "now": time.time(),
        }
    )


async def _after_change(request: web.Request, sender_id: str, new_message: bool = False) -> None:
    await request.app[INGESTOR_KEY].announce(sender_id, new_message=new_message)


def _rasa_failed(error: RasaApiError) -> web.Response:
    logger.error("Rasa refused a console action: %s", error)
    return error_reply("智能助手服务暂时无法处理该操作，请稍后重试。", 502)


def _conflict(error: HandoffError) -> web.Response:
    return error_reply(str(error), 409 if isinstance(error, HandoffConflict) else 404)


async def take_over(request: web.Request) -> web.Response:
    """Take the conversation: pause the assistant and greet the user as staff."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    store = _store(request)
    try:
        row, before = await asyncio.to_thread(store.take_over, sender_id, member, request.app[CONFIG_KEY].agent_cap)
    except HandoffError as error:
        return _conflict(error)
    if before is None:  # held by this staff member already: nothing new to tell the user
        return json_reply({"conversation": row, "allowed_actions": allowed_actions(row, member)})
    greeting = staff_reply_event(TAKEOVER_GREETING, member.public_name)
    greeting["metadata"]["handoff_notice"] = True  # a notice, not the first human reply
    try:
        await request.app[RASA_KEY].append_events(sender_id, [{"event": "pause"}, greeting], deliver=True)
    except RasaApiError as error:
        await asyncio.to_thread(store.undo_take_over, before, member)
        return _rasa_failed(error)
    await asyncio.to_thread(store.audit, member.username, "take_over", sender_id)
    await _after_change(request, sender_id)
    return json_reply({"conversation": row, "allowed_actions": allowed_actions(row, member)})


async def reply(request: web.Request) -> web.Response:
    """Send a staff reply to the user on their channel."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    text = await _text_field(request)
    store = _store(request)
    try:
        await asyncio.to_thread(store.check_action, sender_id, Action.REPLY, member)
    except HandoffError as error:
        return _conflict(error)
    try:
        await request.app[RASA_KEY].send_staff_message(sender_id, text, member.public_name)
    except RasaApiError as error:
        return _rasa_failed(error)
    await asyncio.to_thread(store.audit, member.username, "reply", sender_id, text)
    # The reply ends the typing signal on the user's side; the next keystroke starts a new one.
    try:
        await request.app[SHARED_STATE_KEY].delete(_TYPING_NAMESPACE, sender_id)
    except Exception:  # the reply is delivered: a throttle that lingers 3 s is no error for staff
        logger.warning("could not reset the typing throttle of %s", sender_id, exc_info=True)
    return json_reply({"ok": True})


async def staff_typing(request: web.Request) -> web.Response:
    """The staff member holding the conversation is typing a reply (``{"typing": true}``)
    or stopped (``false``): tell the user on their channel, at most one start per
    :data:`TYPING_SIGNAL_INTERVAL_S` per conversation. Answers ``{"sent": bool}``; a
    channel that cannot show it or a Rasa that did not answer is no error for staff."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    typing = (await json_object(request)).get("typing")
    if not isinstance(typing, bool):
        return error_reply("typing 必须是 true 或 false。", 400)
    try:
        conversation = await asyncio.to_thread(_store(request).check_action, sender_id, Action.REPLY, member)
    except HandoffError as error:
        return _conflict(error)
    channel = conversation.get("channel")
    if channel not in TYPING_CHANNELS:
        return json_reply({"sent": False})
    throttle = request.app[SHARED_STATE_KEY]
    if not typing:
        await throttle.delete(_TYPING_NAMESPACE, sender_id)
    elif not await throttle.claim(_TYPING_NAMESPACE, sender_id, TYPING_SIGNAL_INTERVAL_S):
        return json_reply({"sent": False})  # the user was told a moment ago
    try:
        shown = await request.app[RASA_KEY].staff_typing(sender_id, str(channel), typing)
    except RasaApiError as error:
        logger.warning("typing signal for %s not delivered: %s", sender_id, error)
        shown = False
    return json_reply({"sent": shown})


async def send_match_list(request: web.Request) -> web.Response:
    """Send the user the assistant's last supplier or expert list (one click), on their
    channel and in their language (:mod:`bot.console.matchlist`)."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    store = _store(request)
    try:
        await asyncio.to_thread(store.check_action, sender_id, Action.REPLY, member)
    except HandoffError as error:
        return _conflict(error)
    rasa = request.app[RASA_KEY]
    try:
        tracker = await rasa.tracker(sender_id)
    except RasaApiError as error:
        return _rasa_failed(error)
    slots = tracker.get("slots") or {}
    try:
        kind = last_list_kind(slots)
        matches = await asyncio.to_thread(last_list_reply, slots, request.app[TASKS_KEY].platform_url)
    except NoMatchList as error:
        return error_reply(str(error), 409)
    events = match_list_events(matches, tracker.get("latest_input_channel"), member.public_name)
    try:
        await rasa.append_events(sender_id, events, deliver=True)
    except RasaApiError as error:
        return _rasa_failed(error)
    await asyncio.to_thread(store.audit, member.username, "match_list", sender_id, kind)
    return json_reply({"ok": True, "kind": kind})


async def transfer(request: web.Request) -> web.Response:
    """Transfer to a colleague ``{"to": username}`` (who then holds it) or to a team's
    queue ``{"team": "重庆"}``; the user is told, the assistant stays paused."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    store = _store(request)
    body = await json_object(request)
    if not (isinstance(body.get("to"), str) or isinstance(body.get("team"), str)):
        return error_reply("请选择要转交的同事或小组。", 400)
    try:
        if isinstance(body.get("to"), str):
            colleague = await asyncio.to_thread(store.find_staff, body["to"])
            if colleague is None:
                return error_reply("没有这位同事的账号，或账号已停用。", 400)
            await asyncio.to_thread(store.check_action, sender_id, Action.TRANSFER, member)
            notice = user_text("staff.transfer_notice", name=colleague.public_name)
            apply = functools.partial(
                store.transfer, sender_id, member, colleague, request.app[CONFIG_KEY].agent_cap
            )
            detail = f"to {colleague.username}"
        else:
            team = body["team"]
            if team not in TEAMS:
                return error_reply(f"小组必须是 {'、'.join(TEAMS)} 之一。", 400)
            await asyncio.to_thread(store.check_action, sender_id, Action.TRANSFER_TEAM, member)
            notice = user_text("staff.transfer_team_notice", team=team)
            apply = functools.partial(store.transfer_to_team, sender_id, member, team)
            detail = f"to team {team}"
        row = await asyncio.to_thread(apply)
    except HandoffError as error:
        return _conflict(error)
    try:
        await request.app[RASA_KEY].append_events(
            sender_id, [{"event": "bot", "text": notice, "metadata": {"handoff_notice": True}}], deliver=True
        )
    except RasaApiError as error:
        logger.error("the transfer notice for %s was not delivered: %s", sender_id, error)
    await asyncio.to_thread(store.audit, member.username, "transfer", sender_id, detail)
    await _after_change(request, sender_id)
    return json_reply({"conversation": row, "allowed_actions": allowed_actions(row, member)})


async def colleagues(request: web.Request) -> web.Response:
    """Who a conversation can be transferred to: active staff with their teams, load and
    whether they are online (a console heartbeat within the presence lifetime)."""
    store = _store(request)
    members = await asyncio.to_thread(store.list_staff)
    held = await asyncio.to_thread(lambda: {m.username: store.held_count(m.username) for m in members})
    presence = request.app[PRESENCE_KEY]
    await presence.here(current_staff(request).username)  # the console asks every 20 s: its heartbeat
    online = set(await presence.online())
    return json_reply(
        {
            "staff": [
                {
                    "username": m.username,
                    "display_name": m.display_name,
                    "role": m.role,
                    "teams": list(m.teams),
                    "holding": held[m.username],
                    "online": m.username in online,
                }
                for m in members
            ],
            "teams": list(TEAMS),
            "agent_cap": request.app[CONFIG_KEY].agent_cap,
        }
    )


async def add_note(request: web.Request) -> web.Response:
    """A private note on the conversation (never sent to the user)."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    text = await _text_field(request)
    try:
        note = await asyncio.to_thread(_store(request).add_note, sender_id, member.username, text, time.time())
    except HandoffError as error:
        return error_reply(str(error), 404)
    await asyncio.to_thread(_store(request).audit, member.username, "note", sender_id)
    await _after_change(request, sender_id, new_message=True)
    return json_reply({"note": note})


async def _end(request: web.Request, close: bool) -> web.Response:
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    store = _store(request)
    try:
        conversation = await asyncio.to_thread(
            store.check_action, sender_id, Action.CLOSE if close else Action.HAND_BACK, member
        )
    except HandoffError as error:
        return _conflict(error)
    events: List[Dict[str, Any]] = [
        {"event": "resume"},
        {"event": "bot", "text": CLOSE_NOTICE if close else HAND_BACK_NOTICE, "metadata": {"handoff_notice": True}},
    ]
    if conversation["status"] == Status.STAFF.value:  # someone served the user: ask for a rating
        events.append(
            {
                "event": "bot",
                "text": RATING_REQUEST,
                "data": {"buttons": rating_buttons()},
                "metadata": {"handoff_notice": True},
            }
        )
    # While paused, Rasa logged user messages without listening in between; without
    # this the policies see no "action_listen" before the next message, no rule
    # applies, and the fallback repeats until the circuit breaker stops it.
    events.append({"event": "action", "name": "action_listen"})
    try:
        await request.app[RASA_KEY].append_events(sender_id, events, deliver=True)
    except RasaApiError as error:
        return _rasa_failed(error)
    try:
        row = await asyncio.to_thread(store.end_handoff, sender_id, member, close=close)
    except HandoffError as error:
        return _conflict(error)
    await asyncio.to_thread(store.audit, member.username, "close" if close else "hand_back", sender_id)
    await _after_change(request, sender_id)
    return json_reply({"conversation": row, "allowed_actions": allowed_actions(row, member)})


async def hand_back(request: web.Request) -> web.Response:
    """Give the conversation back to the assistant (slots and history intact)."""
    return await _end(request, close=False)


async def close(request: web.Request) -> web.Response:
    """Close the conversation (the assistant answers if the user writes again)."""
    return await _end(request, close=True)


def _iso(at: Optional[float], zone: Any = timezone.utc) -> Optional[str]:
    return datetime.fromtimestamp(at, zone).isoformat(timespec="seconds") if at else None


async def export(request: web.Request) -> web.Response:
    """Download a conversation (``?format=json`` default, or ``txt``)."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    store = _store(request)
    conversation = await asyncio.to_thread(store.get_conversation, sender_id)
    if conversation is None:
        return error_reply("没有这个对话。", 404)
    messages = await asyncio.to_thread(store.transcript, sender_id)
    zone = staff_timezone(request)
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
            lines.append(f"[{_iso(m['at'], zone)}] {who}: {m['text']}")
        body, ctype, ext = "\n".join(lines) + "\n", "text/plain", "txt"
    elif fmt == "json":
        payload = {
            "conversation": {**conversation, "started_at": _iso(conversation["started_at"], zone)},
            "handoffs": await asyncio.to_thread(store.handoff_history, sender_id),
            "messages": [{**m, "at": _iso(m["at"], zone)} for m in messages],
            "exported_by": member.username,
            "exported_at": _iso(time.time(), zone),
        }
        body, ctype, ext = json.dumps(payload, ensure_ascii=False, indent=2), "application/json", "json"
    else:
        return error_reply("导出格式必须是 json 或 txt", 400)
    return web.Response(
        text=body,
        content_type=ctype,
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="conversation-{safe_name}.{ext}"'},
    )


async def search(request: web.Request) -> web.Response:
    """Messages and private notes containing ``?q=`` across all transcripts, one page
    (``?limit= &offset=``) with the total."""
    query = request.query.get("q", "").strip()
    limit, offset = _paging(request)
    if not query:
        return json_reply({"results": [], "total": 0, "limit": limit, "offset": offset})
    if len(query) > 100:
        return error_reply("搜索词不能超过 100 个字", 400)
    if has_lone_surrogates(query):
        return error_reply("搜索词含有无法识别的字符", 400)
    return json_reply(await asyncio.to_thread(_store(request).search, query, limit, offset))


async def tasks(request: web.Request) -> web.Response:
    """Expert-contact requests, published demands and registered products to handle."""
    board = request.app[TASKS_KEY]
    return json_reply(await asyncio.to_thread(board.list))


async def task_done(request: web.Request) -> web.Response:
    """Mark a task done."""
    member = current_staff(request)
    kind, item_id = request.match_info["kind"], request.match_info["item_id"]
    board = request.app[TASKS_KEY]
    try:
        await asyncio.to_thread(board.mark_done, kind, item_id, member.username)
    except KeyError as error:
        return error_reply(str(error.args[0]), 404)
    await asyncio.to_thread(_store(request).audit, member.username, "task_done", None, f"{kind}:{item_id}")
    return json_reply({"ok": True})


async def figures(request: web.Request) -> web.Response:
    """Supervisor figures over ``?days=`` (default 30)."""
    require_supervisor(request)
    try:
        days = max(1, min(365, int(request.query.get("days", "30"))))
    except ValueError:
        return error_reply("天数必须是整数", 400)
    config = request.app[CONFIG_KEY]
    return json_reply(
        await asyncio.to_thread(
            _store(request).figures, days, None, config.sla_first_reply_s, config.sla_waiting_s
        )
    )


async def unanswered(request: web.Request) -> web.Response:
    """Questions the assistant could not answer over ``?days=`` (default 30), grouped
    by similarity, with counts; personal data masked."""
    try:
        days = max(1, min(365, int(request.query.get("days", "30"))))
    except ValueError:
        return error_reply("天数必须是整数", 400)
    return json_reply(await asyncio.to_thread(_store(request).unanswered_questions, days))


async def audit_entries(request: web.Request) -> web.Response:
    """The audit log, newest first (supervisors)."""
    require_supervisor(request)
    return json_reply({"entries": await asyncio.to_thread(_store(request).audit_entries, 300)})


#: How often a live stream re-checks that its session is still valid.
SESSION_RECHECK_S = 15.0


#: Most queued updates sent in one write of the live stream.
MAX_UPDATES_PER_WRITE = 100
LOGOUT_EVENT = b"event: logout\ndata: {}\n\n"


def _server_sent_event(update: Dict[str, Any]) -> bytes:
    """One update as a server-sent event (conversation text masked, as in the list)."""
    if "conversation" in update:
        update = {**update, "conversation": masked_conversation(update["conversation"])}
    data = json.dumps(update, ensure_ascii=False)
    return f"event: {update['type']}\ndata: {data}\n\n".encode("utf-8")


async def live_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: conversation updates and handoff alerts, as they happen.

    The stream ends with an ``event: logout`` as soon as its session logs out here, and
    within :data:`SESSION_RECHECK_S` when the session ended elsewhere (expired, logged out
    on another gateway, account disabled), however busy the stream is."""
    hub = request.app[HUB_KEY]
    store = _store(request)
    config = request.app[CONFIG_KEY]
    streams = request.app[STREAMS_KEY]
    token = request["session_token"]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    queue = hub.subscribe()
    streams.register(token, queue)
    loop = asyncio.get_running_loop()
    checked_at = loop.time()
    try:
        await response.write(b"event: ready\ndata: {}\n\n")
        while hub.is_subscribed(queue):
            try:
                update = await asyncio.wait_for(queue.get(), timeout=SESSION_RECHECK_S)
            except asyncio.TimeoutError:
                update = None
            # Updates come in bursts (one per conversation of a feed batch): whatever is
            # already queued goes out in the same write, one send instead of one each.
            updates = [] if update is None else [update]
            while updates and len(updates) < MAX_UPDATES_PER_WRITE and not queue.empty():
                updates.append(queue.get_nowait())
            logout = next((i for i, u in enumerate(updates) if u.get("type") == "logout"), None)
            if logout is not None:
                await response.write(b"".join(map(_server_sent_event, updates[:logout])) + LOGOUT_EVENT)
                break
            if loop.time() - checked_at >= SESSION_RECHECK_S:
                checked_at = loop.time()
                session = await asyncio.to_thread(store.resolve_session, token, config.idle_s, config.max_age_s, False)
                if session is None:
                    await response.write(LOGOUT_EVENT)
                    break
            await response.write(b"".join(map(_server_sent_event, updates)) if updates else b": ping\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(queue)
        streams.unregister(token, queue)
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
    app.router.add_get(f"{PREFIX}/accounts", _page("accounts.html"))
    app.router.add_static(f"{PREFIX}/static", STATIC_DIR, append_version=False)
    app.router.add_get(f"{api}/me", me)
    app.router.add_get(f"{api}/conversations", list_conversations)
    app.router.add_get(conv, conversation_detail)
    app.router.add_post(f"{conv}/take-over", take_over)
    app.router.add_post(f"{conv}/reply", reply)
    app.router.add_post(f"{conv}/match-list", send_match_list)
    app.router.add_post(f"{conv}/typing", staff_typing)
    app.router.add_post(f"{conv}/transfer", transfer)
    app.router.add_get(f"{api}/colleagues", colleagues)
    app.router.add_post(f"{conv}/notes", add_note)
    app.router.add_post(f"{conv}/hand-back", hand_back)
    app.router.add_post(f"{conv}/close", close)
    app.router.add_get(f"{conv}/export", export)
    app.router.add_get(f"{api}/events", live_events)
    app.router.add_get(f"{api}/search", search)
    app.router.add_get(f"{api}/tasks", tasks)
    app.router.add_post(f"{api}/tasks/{{kind}}/{{item_id}}/done", task_done)
    app.router.add_get(f"{api}/figures", figures)
    app.router.add_get(f"{api}/unanswered", unanswered)
    add_admin_routes(app)
    add_desk_routes(app)
    app.router.add_get(f"{api}/audit", audit_entries)


__all__ = ["add_routes", "HUB_KEY", "RASA_KEY", "INGESTOR_KEY", "TASKS_KEY", "SHARED_STATE_KEY"]
