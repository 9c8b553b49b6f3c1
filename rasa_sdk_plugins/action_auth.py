"""Only Rasa may call the action server: every action call must carry the shared secret.

The action server listens on loopback, but any local process (or a web page, through
rasa_sdk's permissive CORS) could otherwise run actions: publish a demand, open a
handoff. Rasa sends ``X-Action-Secret`` with every call (the ``headers`` of
``action_endpoint``, filled from ``ACTION_SERVER_SECRET``, which ``python -m bot run``
generates for each start); this middleware refuses ``/webhook`` and ``/actions`` calls
without it (401). The health check stays open for the launcher.
"""
from __future__ import annotations

import hmac
import logging
from typing import Optional

import pluggy
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.launcher import ACTION_SECRET_HEADER
from bot.settings import get_settings

logger = logging.getLogger(__name__)

hookimpl = pluggy.HookimplMarker("rasa_sdk")

#: Routes that run or list actions.
PROTECTED_PATHS = ("/webhook", "/actions")


def refusal(request: Request, secret: str) -> Optional[HTTPResponse]:
    """The 401 answer for an action call without the right secret, else None."""
    if request.path.rstrip("/") not in PROTECTED_PATHS:
        return None
    presented = request.headers.get(ACTION_SECRET_HEADER, "")
    if secret and presented and hmac.compare_digest(presented.encode("utf-8", "replace"), secret.encode("utf-8")):
        return None
    logger.warning("Refused an action call from %s without the shared secret", request.ip)
    reason = "missing or wrong action server secret" if secret else "ACTION_SERVER_SECRET is not set"
    return response.json({"error": reason}, status=401)


def protect_action_calls(app: Sanic) -> None:
    """Refuse action calls without the shared secret (see the module doc)."""
    secret = get_settings().action_server_secret
    if not secret:
        logger.error("ACTION_SERVER_SECRET is not set: every action call is refused (start with python -m bot run)")

    async def check_secret(request: Request) -> Optional[HTTPResponse]:
        return refusal(request, secret)

    app.register_middleware(check_secret, "request")


@hookimpl
def attach_sanic_app_extensions(app: Sanic) -> None:
    """rasa_sdk's hook: check the secret before any action runs."""
    protect_action_calls(app)
