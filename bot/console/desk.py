"""Console API for working aids: canned responses, labels, who is viewing a
conversation (presence), and the CSV export of a filtered conversation list."""
from __future__ import annotations

import asyncio
import csv
import io
import logging
import math
import time
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from bot.console.replies import error_reply, json_object, json_reply
from bot.console.security import PREFIX, STORE_KEY, current_staff
from bot.handoff.desk import canned_for
from bot.handoff.lifecycle import HandoffError
from bot.handoff.transcripts import MAX_PAGE, ConversationFilter
from bot.settings import Settings

logger = logging.getLogger(__name__)

#: Seconds a viewer counts as present after their last heartbeat.
PRESENCE_TTL_S = 30.0
#: Rows of one CSV export (the list's filters narrow it further).
MAX_EXPORT_ROWS = 10000
#: Spreadsheet programs run a cell starting with these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
STATUS_LABELS = {"bot": "智能助手接待中", "waiting": "等待人工", "staff": "人工接待中", "closed": "已关闭"}
CHANNEL_LABELS = {"socketio": "网页", "rest": "网页接口", "telegram": "Telegram", "wechat": "微信", "wecom": "企业微信"}








# --- presence ------------------------------------------------------------------------------


class Presence(Protocol):
    """Who is viewing which conversation now, by heartbeat (:data:`PRESENCE_TTL_S`)."""

    async def here(self, username: str) -> None:
        """Record a heartbeat of ``username``'s console, whatever it shows."""

    async def saw(self, sender_id: str, username: str) -> List[str]:
        """Record a heartbeat of ``username`` on ``sender_id``; returns its viewers."""

    async def left(self, sender_id: str, username: str) -> List[str]:
        """``username`` moved away from ``sender_id``; returns the remaining viewers."""

    async def viewers(self, sender_id: str) -> List[str]:
        """Staff whose heartbeat on ``sender_id`` is recent, sorted."""

    async def online(self) -> List[str]:
        """Staff whose console sent a heartbeat recently, sorted."""


class MemoryPresence:
    """:class:`Presence` of this gateway's browsers only (embedded profile: one gateway)."""

    def __init__(self, ttl_s: float = PRESENCE_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: Dict[str, Dict[str, float]] = {}
        self._team: Dict[str, float] = {}
        self._ttl_s = ttl_s
        self._clock = clock

    async def here(self, username: str) -> None:
        self._team[username] = self._clock()

    async def saw(self, sender_id: str, username: str) -> List[str]:
        await self.here(username)
        self._seen.setdefault(sender_id, {})[username] = self._clock()
        return await self.viewers(sender_id)

    async def left(self, sender_id: str, username: str) -> List[str]:
        self._seen.get(sender_id, {}).pop(username, None)
        return await self.viewers(sender_id)

    async def viewers(self, sender_id: str) -> List[str]:
        oldest = self._clock() - self._ttl_s
        seen = self._seen.get(sender_id, {})
        for name in [n for n, at in seen.items() if at < oldest]:
            del seen[name]
        if not seen:
            self._seen.pop(sender_id, None)
        return sorted(seen)

    async def online(self) -> List[str]:
        oldest = self._clock() - self._ttl_s
        for name in [n for n, at in self._team.items() if at < oldest]:
            del self._team[name]
        for sender_id in list(self._seen):  # forget conversations nobody views any more
            await self.viewers(sender_id)
        return sorted(self._team)


class RedisPresence:
    """:class:`Presence` in Redis, the same on every gateway (production profile).

    One sorted set per conversation (viewer → time of the last heartbeat) and one for
    the whole team (staff member → last heartbeat of their console); entries older than the
    lifetime are dropped on each read, and a set nobody refreshes expires with them.
    Times are wall-clock seconds, so the gateways' clocks must agree (NTP)."""

    def __init__(self, url: str, prefix: str, ttl_s: float = PRESENCE_TTL_S) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._prefix = f"{prefix}:console-presence"
        self._ttl_s = ttl_s

    def _conversation_key(self, sender_id: str) -> str:
        return f"{self._prefix}:conversation:{sender_id}"

    @property
    def _team_key(self) -> str:
        return f"{self._prefix}:team"

    async def _fresh(self, key: str, seen: Optional[str] = None, gone: Optional[str] = None) -> List[str]:
        """Members of ``key`` seen within the lifetime, after recording ``seen`` now and
        removing ``gone``. Redis away: nobody is shown (the console works on without it)."""
        from redis.exceptions import RedisError

        now = time.time()
        pipe = self._redis.pipeline(transaction=True)
        if seen is not None:
            pipe.zadd(key, {seen: now})
            pipe.expire(key, max(1, math.ceil(self._ttl_s)))
        if gone is not None:
            pipe.zrem(key, gone)
        pipe.zremrangebyscore(key, "-inf", now - self._ttl_s)
        pipe.zrange(key, 0, -1)
        try:
            return sorted((await pipe.execute())[-1])
        except RedisError as error:
            logger.warning("staff presence unavailable: %s", error)
            return []

    async def here(self, username: str) -> None:
        await self._fresh(self._team_key, username)

    async def saw(self, sender_id: str, username: str) -> List[str]:
        await self.here(username)
        return await self._fresh(self._conversation_key(sender_id), username)

    async def left(self, sender_id: str, username: str) -> List[str]:
        return await self._fresh(self._conversation_key(sender_id), gone=username)

    async def viewers(self, sender_id: str) -> List[str]:
        return await self._fresh(self._conversation_key(sender_id))

    async def online(self) -> List[str]:
        return await self._fresh(self._team_key)

    async def close(self) -> None:
        await self._redis.close()


def presence_for(settings: Settings) -> Presence:
    """Presence in Redis on the production profile (several gateways), else in memory."""
    if settings.shares_state:
        return RedisPresence(settings.redis_url, settings.redis_key_prefix)
    return MemoryPresence()


PRESENCE_KEY = web.AppKey("console_presence", Presence)


async def presence(request: web.Request) -> web.Response:
    """Heartbeat of a browser showing the conversation; answers who else views it.
    ``?leaving=1`` when the browser moves away."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    registry = request.app[PRESENCE_KEY]
    if request.query.get("leaving") == "1":
        return json_reply({"viewers": await registry.left(sender_id, member.username)})
    return json_reply({"viewers": await registry.saw(sender_id, member.username)})


# --- canned responses ------------------------------------------------------------------------


async def list_canned(request: web.Request) -> web.Response:
    """Canned responses; with ``?sender_id=`` their text filled for that conversation."""
    store = request.app[STORE_KEY]
    items = await asyncio.to_thread(store.canned)
    sender_id = request.query.get("sender_id")
    conversation = await asyncio.to_thread(store.get_conversation, sender_id) if sender_id else None
    return json_reply({"canned": canned_for(items, conversation, current_staff(request))})


async def save_canned(request: web.Request) -> web.Response:
    """Create or replace a canned response ``{shortcut, text}`` (any staff member)."""
    member = current_staff(request)
    body = await json_object(request)
    shortcut, text = body.get("shortcut"), body.get("text")
    if not isinstance(shortcut, str) or not isinstance(text, str):
        return error_reply("需要快捷词和内容。", 400)
    store = request.app[STORE_KEY]
    try:
        item = await asyncio.to_thread(store.save_canned, shortcut, text, member.username)
    except ValueError as error:
        return error_reply(str(error), 400)
    await asyncio.to_thread(store.audit, member.username, "canned_save", None, item["shortcut"])
    return json_reply({"canned": item})


async def delete_canned(request: web.Request) -> web.Response:
    """Remove a canned response."""
    member = current_staff(request)
    store = request.app[STORE_KEY]
    shortcut = request.match_info["shortcut"]
    if not await asyncio.to_thread(store.delete_canned, shortcut):
        return error_reply("没有这个快捷回复。", 404)
    await asyncio.to_thread(store.audit, member.username, "canned_delete", None, shortcut)
    return json_reply({"ok": True})


# --- labels --------------------------------------------------------------------------------


async def _label_of(request: web.Request) -> Optional[str]:
    """The ``label`` of the request's JSON body, or None when it has none."""
    label = (await json_object(request)).get("label")
    return label if isinstance(label, str) else None


async def add_label(request: web.Request) -> web.Response:
    """Tag the conversation ``{label}``."""
    member = current_staff(request)
    label = await _label_of(request)
    if label is None:
        return error_reply("需要标签。", 400)
    store = request.app[STORE_KEY]
    sender_id = request.match_info["sender_id"]
    try:
        tags = await asyncio.to_thread(store.add_label, sender_id, label, member.username)
    except HandoffError as error:
        return error_reply(str(error), 404)
    except ValueError as error:
        return error_reply(str(error), 400)
    await asyncio.to_thread(store.audit, member.username, "label", sender_id, label)
    return json_reply({"labels": tags})


async def remove_label(request: web.Request) -> web.Response:
    """Untag the conversation ``{label}``."""
    member = current_staff(request)
    label = await _label_of(request)
    if label is None:
        return error_reply("需要标签。", 400)
    store = request.app[STORE_KEY]
    sender_id = request.match_info["sender_id"]
    tags = await asyncio.to_thread(store.remove_label, sender_id, label)
    await asyncio.to_thread(store.audit, member.username, "unlabel", sender_id, label)
    return json_reply({"labels": tags})


async def all_labels(request: web.Request) -> web.Response:
    """Labels in use (for the list's filter)."""
    return json_reply({"labels": await asyncio.to_thread(request.app[STORE_KEY].all_labels)})


# --- CSV export --------------------------------------------------------------------------------


def staff_timezone(request: web.Request) -> ZoneInfo:
    """The staff member's time zone (``?tz=`` from their browser), else the office's."""
    name = request.query.get("tz")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise web.HTTPBadRequest(text='{"error": "未知的时区"}', content_type="application/json") from None
    return request.app[STORE_KEY].timezone


def spreadsheet_safe(value: Any) -> str:
    """A cell that Excel/WPS show as text: formula starts neutralised with a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def conversation_filter(request: web.Request) -> ConversationFilter:
    """The list's filters from the query string."""
    return ConversationFilter(
        status=request.query.get("status") or None,
        channel=request.query.get("channel") or None,
        assignee=request.query.get("assignee") or None,
        has_unanswered=request.query.get("unanswered") == "1",
        team=request.query.get("team") or None,
        label=request.query.get("label") or None,
    )


async def export_list(request: web.Request) -> web.Response:
    """The filtered conversation list as CSV (UTF-8 with BOM, times in the staff's time
    zone, formula cells neutralised, personal data masked as in the list)."""
    member = current_staff(request)
    store = request.app[STORE_KEY]
    zone = staff_timezone(request)
    where = conversation_filter(request)
    rows: List[Dict[str, Any]] = []
    offset = 0
    while len(rows) < MAX_EXPORT_ROWS:
        page = await asyncio.to_thread(store.page_conversations, where, MAX_PAGE, offset)
        rows.extend(page["conversations"])
        offset += MAX_PAGE
        if offset >= page["total"]:
            break

    def when(at: Optional[float]) -> str:
        return datetime.fromtimestamp(at, zone).strftime("%Y-%m-%d %H:%M:%S") if at else ""

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["对话", "状态", "渠道", "企业", "接待人", "小组", "标签", "最后消息", "最后消息时间", "开始时间", "未读"]
    )
    for c in rows:
        writer.writerow(
            [
                spreadsheet_safe(v)
                for v in (
                    c["sender_id"],
                    STATUS_LABELS.get(c["status"], c["status"]),
                    CHANNEL_LABELS.get(c["channel"] or "", c["channel"] or ""),
                    c["company"] or "",
                    c["assigned_to"] or "",
                    c.get("team") or "",
                    "、".join(c.get("labels") or []),
                    c["last_text"] or "",
                    when(c["last_at"]),
                    when(c["started_at"]),
                    c.get("unread") or 0,
                )
            ]
        )
    await asyncio.to_thread(store.audit, member.username, "export_list", None, f"{len(rows)} rows")
    stamp = datetime.now(zone).strftime("%Y%m%d-%H%M")
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="conversations-{stamp}.csv"'},
    )


def add_desk_routes(app: web.Application, knowledge_base_path: Any = None) -> None:
    """Register canned responses, labels, presence, the list export and policy entries
    (presence in memory unless :func:`bot.console.setup_console` was given a shared one)."""
    api = f"{PREFIX}/api"
    conv = f"{api}/conversations/{{sender_id}}"
    if PRESENCE_KEY not in app:
        app[PRESENCE_KEY] = MemoryPresence()
    if knowledge_base_path is None:
        from bot.settings import get_settings

        knowledge_base_path = get_settings().knowledge_base_path
    app[POLICY_KEY] = PolicyEntries(knowledge_base_path)
    app.router.add_get(f"{api}/conversations.csv", export_list)
    app.router.add_get(f"{api}/canned", list_canned)
    app.router.add_post(f"{api}/canned", save_canned)
    app.router.add_post(f"{api}/canned/{{shortcut}}/delete", delete_canned)
    app.router.add_get(f"{api}/labels", all_labels)
    app.router.add_post(f"{conv}/labels", add_label)
    app.router.add_post(f"{conv}/labels/remove", remove_label)
    app.router.add_get(f"{conv}/presence", presence)
    app.router.add_get(f"{api}/knowledge", policy_entries)




# --- knowledge base: send a policy entry in one click ------------------------------------------


class PolicyEntries:
    """The policy knowledge base as staff search it (loaded on first use: the gateway
    does not need the tokenizer until then)."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self._file: Any = None

    def search(self, query: str, limit: int = 5) -> List[Dict[str, Any]]:
        """Entries matching ``query`` (all when empty), each with the text users get."""
        from bot.knowledge.base import KnowledgeBaseFile, format_answer

        if self._file is None:
            self._file = KnowledgeBaseFile(self.path)
        base = self._file.get()
        entries = [m.entry for m in base.search(query, limit=limit)] if query else list(base.entries)[:50]
        return [{"id": e.id, "title": e.title, "text": format_answer(e)} for e in entries]


POLICY_KEY = web.AppKey("console_policy_entries", PolicyEntries)


async def policy_entries(request: web.Request) -> web.Response:
    """Policy entries for ``?q=`` with the exact text the assistant would send."""
    query = request.query.get("q", "").strip()[:100]
    return json_reply({"entries": await asyncio.to_thread(request.app[POLICY_KEY].search, query)})


__all__ = [
    "add_desk_routes", "PRESENCE_KEY", "POLICY_KEY", "Presence", "MemoryPresence", "RedisPresence", "presence_for",
    "PolicyEntries", "spreadsheet_safe",
]
