"""The admins' accounts page API: create, disable, reset passwords, roles, display
names, teams, and unlock an account slowed by failed logins. Every change is audited."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Dict

from aiohttp import web

from bot.console.replies import json_object, json_reply
from bot.console.security import PREFIX, STORE_KEY, require_admin
from bot.handoff.accounts import ROLES, TEAMS


def _text(body: Dict[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{name} 必须是文字"}), content_type="application/json")
    return value


def _teams(body: Dict[str, Any]) -> Any:
    teams = body.get("teams")
    if teams is not None and not (isinstance(teams, list) and all(isinstance(t, str) for t in teams)):
        raise web.HTTPBadRequest(text='{"error": "teams 必须是小组名称的列表"}', content_type="application/json")
    return teams


async def list_accounts(request: web.Request) -> web.Response:
    """Every account (disabled ones too), with the roles and teams to choose from."""
    require_admin(request)
    accounts = await asyncio.to_thread(request.app[STORE_KEY].staff_accounts)
    return json_reply({"accounts": accounts, "roles": list(ROLES), "teams": list(TEAMS)})


async def create_account(request: web.Request) -> web.Response:
    """Create an account: ``{username, password, role, display_name?, teams?}``."""
    admin = require_admin(request)
    body = await json_object(request)
    store = request.app[STORE_KEY]
    try:
        member = await asyncio.to_thread(
            store.add_staff,
            _text(body, "username") or "",
            _text(body, "password") or "",
            _text(body, "role") or "agent",
            _text(body, "display_name"),
            _teams(body),
        )
    except ValueError as error:
        return json_reply({"error": str(error)}, 400)
    await asyncio.to_thread(store.audit, admin.username, "account_create", None, member.username)
    return json_reply({"username": member.username}, 201)


async def update_account(request: web.Request) -> web.Response:
    """Change ``{role?, active?, display_name?, teams?}`` of an account."""
    admin = require_admin(request)
    username = request.match_info["username"]
    body = await json_object(request)
    active = body.get("active")
    if active is not None and not isinstance(active, bool):
        return json_reply({"error": "active 必须是 true 或 false"}, 400)
    if active is False and username == admin.username:
        return json_reply({"error": "不能停用自己的账号。"}, 400)
    store = request.app[STORE_KEY]
    try:
        await asyncio.to_thread(
            lambda: store.update_staff(
                username,
                role=_text(body, "role"),
                active=active,
                display_name=_text(body, "display_name"),
                teams=_teams(body),
            )
        )
    except ValueError as error:
        return json_reply({"error": str(error)}, 400)
    await asyncio.to_thread(store.audit, admin.username, "account_update", None, f"{username} {json.dumps(body)}")
    return json_reply({"ok": True})


async def reset_password(request: web.Request) -> web.Response:
    """Set a new password ``{password}`` (ends the account's sessions)."""
    admin = require_admin(request)
    username = request.match_info["username"]
    body = await json_object(request)
    store = request.app[STORE_KEY]
    try:
        await asyncio.to_thread(store.set_staff_password, username, _text(body, "password") or "")
    except ValueError as error:
        return json_reply({"error": str(error)}, 400)
    await asyncio.to_thread(store.audit, admin.username, "account_password", None, username)
    return json_reply({"ok": True})


async def unlock_account(request: web.Request) -> web.Response:
    """Forget an account's failed logins, so its owner logs in without waiting."""
    admin = require_admin(request)
    username = request.match_info["username"]
    store = request.app[STORE_KEY]
    cleared = await asyncio.to_thread(store.unlock_account, username)
    await asyncio.to_thread(store.audit, admin.username, "account_unlock", None, username)
    return json_reply({"ok": True, "cleared_failures": cleared})


def add_admin_routes(app: web.Application) -> None:
    """Register the accounts API under ``/console/api/staff``."""
    base = f"{PREFIX}/api/staff"
    app.router.add_get(base, list_accounts)
    app.router.add_post(base, create_account)
    app.router.add_post(f"{base}/{{username}}", update_account)
    app.router.add_post(f"{base}/{{username}}/password", reset_password)
    app.router.add_post(f"{base}/{{username}}/unlock", unlock_account)


__all__ = ["add_admin_routes"]
