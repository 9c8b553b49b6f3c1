"""Console API for working aids: canned responses, labels, who is viewing a
conversation (presence), and the CSV export of a filtered conversation list."""
from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import datetime
from typing import Any, Dict, List, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from bot.console.replies import error_reply, json_object, json_reply
from bot.console.security import PREFIX, STORE_KEY, current_staff
from bot.handoff.desk import canned_for
from bot.handoff.lifecycle import HandoffError
from bot.handoff.transcripts import MAX_PAGE, ConversationFilter

#: Seconds a viewer counts as present after their last heartbeat.
PRESENCE_TTL_S = 30.0
#: Rows of one CSV export (the list's filters narrow it further).
MAX_EXPORT_ROWS = 10000
#: Spreadsheet programs run a cell starting with these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
STATUS_LABELS = {"bot": "智能助手接待中", "waiting": "等待人工", "staff": "人工接待中", "closed": "已关闭"}
CHANNEL_LABELS = {"socketio": "网页", "rest": "网页接口", "telegram": "Telegram", "wechat": "微信", "wecom": "企业微信"}








# --- presence ------------------------------------------------------------------------------


class Presence:
    """Who is viewing which conversation now (this gateway's browsers)."""

    def __init__(self) -> None:
        self._seen: Dict[str, Dict[str, float]] = {}

    def saw(self, sender_id: str, username: str, now: Optional[float] = None) -> List[str]:
        """Record a heartbeat; returns the current viewers."""
        self._seen.setdefault(sender_id, {})[username] = now or time.monotonic()
        return self.viewers(sender_id, now)

    def left(self, sender_id: str, username: str) -> None:
        self._seen.get(sender_id, {}).pop(username, None)

    def viewers(self, sender_id: str, now: Optional[float] = None) -> List[str]:
        now = now or time.monotonic()
        seen = self._seen.get(sender_id, {})
        for name in [n for n, at in seen.items() if now - at > PRESENCE_TTL_S]:
            del seen[name]
        return sorted(seen)


PRESENCE_KEY = web.AppKey("console_presence", Presence)


async def presence(request: web.Request) -> web.Response:
    """Heartbeat of a browser showing the conversation; answers who else views it.
    ``?leaving=1`` when the browser moves away."""
    member = current_staff(request)
    sender_id = request.match_info["sender_id"]
    registry = request.app[PRESENCE_KEY]
    if request.query.get("leaving") == "1":
        registry.left(sender_id, member.username)
        return json_reply({"viewers": registry.viewers(sender_id)})
    return json_reply({"viewers": registry.saw(sender_id, member.username)})


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
    """Register canned responses, labels, presence, the list export and policy entries."""
    api = f"{PREFIX}/api"
    conv = f"{api}/conversations/{{sender_id}}"
    app[PRESENCE_KEY] = Presence()
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


__all__ = ["add_desk_routes", "PRESENCE_KEY", "POLICY_KEY", "Presence", "PolicyEntries", "spreadsheet_safe"]
