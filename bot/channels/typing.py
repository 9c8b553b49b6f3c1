"""Staff typing signals: the console tells the user's channel that a person is writing.

The console (web gateway) cannot reach the user's channel itself: the widget's sockets
live in the Rasa server, and a typing signal is no tracker event that Rasa's HTTP API
could deliver (it would be stored as a message). So the Rasa server gets one more
route next to its HTTP API, on loopback and behind the same token:
``POST /staff-typing?token=… {"sender_id", "channel", "typing"}``. It hands the signal
to the input channel named ``channel`` when that channel can show one
(:class:`ShowsStaffTyping`): the widget shows "Staff is typing…", Telegram a ``typing``
chat action. Other channels answer ``{"shown": false}``.

The route is added by the channels' blueprints when Rasa registers them (once per
server), so it exists exactly when a channel that shows typing is configured.
"""
from __future__ import annotations

import hmac
import logging
from typing import Any, Dict, Optional, Protocol, runtime_checkable

from sanic import Blueprint, Sanic, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.common import STAFF_TYPING_PATH
from bot.settings import get_settings

logger = logging.getLogger(__name__)

@runtime_checkable
class ShowsStaffTyping(Protocol):
    """An input channel that can show its user that staff are typing."""

    async def show_staff_typing(self, sender_id: str, typing: bool) -> bool:
        """Show (``typing``) or clear the signal for ``sender_id``; False if not shown."""


def _token_matches(presented: Optional[str]) -> bool:
    expected = get_settings().rasa_api_token()
    return bool(presented) and hmac.compare_digest(str(presented).encode(), expected.encode())


async def staff_typing(request: Request) -> HTTPResponse:
    """``POST /staff-typing``: pass a typing signal to the named input channel."""
    if not _token_matches(request.args.get("token")):
        return response.json({"error": "a valid token is required"}, status=401)
    try:
        body: Any = request.json
    except InvalidUsage:  # a body that is not JSON
        body = None
    if not (
        isinstance(body, dict)
        and isinstance(body.get("sender_id"), str)
        and isinstance(body.get("channel"), str)
        and isinstance(body.get("typing"), bool)
    ):
        return response.json({"error": "sender_id and channel (text) and typing (true/false) are required"},
                             status=400)
    channels: Dict[str, Any] = {c.name(): c for c in getattr(request.app.ctx, "input_channels", None) or []}
    channel = channels.get(body["channel"])
    if not isinstance(channel, ShowsStaffTyping):
        return response.json({"shown": False})
    try:
        shown = await channel.show_staff_typing(body["sender_id"], body["typing"])
    except Exception:  # a typing signal is a courtesy: never an error for the staff member
        logger.warning("could not show staff typing to %s", body["sender_id"], exc_info=True)
        shown = False
    return response.json({"shown": shown})


def add_staff_typing_route(app: Sanic) -> None:
    """Add :func:`staff_typing` to the Rasa server's application (once)."""
    if getattr(app.ctx, "staff_typing_route", False):
        return
    app.ctx.staff_typing_route = True
    app.add_route(staff_typing, STAFF_TYPING_PATH, methods=["POST"], name="staff_typing")


class StaffTypingBlueprint(Blueprint):
    """A channel's blueprint that also adds the staff typing route to the server."""

    def register(self, app: Sanic, options: Dict[str, Any]) -> None:
        add_staff_typing_route(app)
        super().register(app, options)


__all__ = ["ShowsStaffTyping", "StaffTypingBlueprint", "add_staff_typing_route", "STAFF_TYPING_PATH"]
